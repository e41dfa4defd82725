"""Cluster bootstrap, fold summaries and the out-of-fold check."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from benchmark.metrics.classification import accuracy, balanced_accuracy
from benchmark.metrics.uncertainty import bootstrap_ci, check_out_of_fold, fold_summary, resample_indices
from benchmark.metrics.undefined import MetricUndefinedError


def accuracy_data(seed: int, n: int = 780) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    p = rng.dirichlet([1, 1, 1], n)
    p[np.arange(n), y] += rng.random(n) * 0.8
    return y, p / p.sum(1, keepdims=True)


def test_clusters_are_resampled_whole() -> None:
    rng = np.random.default_rng(0)
    clusters = rng.choice(np.array(["a", "b", "c", "d", "e", "f", "g"]), size=40)
    members = {c: set(np.flatnonzero(clusters == c)) for c in set(clusters)}
    seen: list[np.ndarray] = []

    def record(indices: np.ndarray) -> float:
        seen.append(indices.copy())
        return float(len(indices))

    bootstrap_ci(record, 40, clusters, n_boot=200, seed=3)
    assert len(seen) == 201  # the full-data estimate, then every resample
    np.testing.assert_array_equal(seen[0], np.arange(40))
    for indices in seen[1:]:
        count = Counter(indices.tolist())
        drawn = 0
        for items in members.values():
            multiplicity = {count.get(i, 0) for i in items}
            assert len(multiplicity) == 1, "a cluster was split"
            drawn += multiplicity.pop()
        assert drawn == len(members)  # as many clusters drawn as there are


def test_no_clusters_is_the_case_bootstrap() -> None:
    for indices in resample_indices(30, None, n_boot=50, seed=1):
        assert indices.size == 30 and indices.min() >= 0 and indices.max() < 30


def test_interval_contains_estimate_and_is_reproducible() -> None:
    y, p = accuracy_data(0)
    clusters = np.random.default_rng(1).integers(0, 500, y.size)

    def stat(i: np.ndarray) -> float:
        return accuracy(y[i], p[i])

    ci = bootstrap_ci(stat, y.size, clusters, seed=11)
    assert ci.low < ci.estimate < ci.high
    assert ci.estimate == accuracy(y, p)
    assert (ci.n_boot, ci.n_undefined, ci.level, ci.reason) == (2000, 0, 0.95, None)
    assert f"{np.unique(clusters).size} clusters" in ci.method
    assert bootstrap_ci(stat, y.size, clusters, seed=11) == ci
    assert bootstrap_ci(stat, y.size, clusters, seed=12) != ci
    assert set(ci.to_dict()) == {"estimate", "low", "high", "n_boot", "n_undefined", "level", "method", "reason"}


def test_coverage_of_a_mean() -> None:
    # 100 data sets of 80 Bernoulli(0.3) draws: the 90% interval should cover 0.3 roughly 90% of the time.
    rng = np.random.default_rng(5)
    covered = 0
    for k in range(100):
        x = (rng.random(80) < 0.3).astype(float)
        ci = bootstrap_ci(lambda i, x=x: x[i].mean(), x.size, None, n_boot=300, alpha=0.10, seed=k)
        covered += ci.low <= 0.3 <= ci.high
    assert 80 <= covered <= 98


def test_a_few_undefined_resamples_are_dropped_and_counted() -> None:
    x = np.arange(100, dtype=float)

    def needs_one_of_first_five(i: np.ndarray) -> float | None:
        return float(x[i].mean()) if (i < 5).any() else None  # undefined on ~0.6% of resamples

    ci = bootstrap_ci(needs_one_of_first_five, 100, None, n_boot=2000)
    assert 0 < ci.n_undefined <= 100
    assert ci.low is not None and ci.reason is None


def test_many_undefined_resamples_give_no_interval() -> None:
    y = np.array([0, 1, 2] + [1] * 30)
    p = np.eye(3)[y]

    def stat(i: np.ndarray) -> float:
        return balanced_accuracy(y[i], p[i])  # raises MetricUndefinedError when normal or malignant is missing

    ci = bootstrap_ci(stat, y.size, None, n_boot=500)
    assert ci.estimate == 1.0
    assert ci.low is None and ci.high is None
    assert ci.n_undefined > 25 and "undefined on" in ci.reason


def test_undefined_on_full_data() -> None:
    def stat(_: np.ndarray) -> float:
        raise MetricUndefinedError("x", "never")

    ci = bootstrap_ci(stat, 10, None, n_boot=10)
    assert ci.estimate is None and ci.low is None and ci.reason == "undefined on the full data"


@pytest.mark.parametrize(("kwargs", "match"), [({"n_boot": 0}, "n_boot"), ({"alpha": 1.0}, "alpha")])
def test_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(lambda i: 0.0, 5, None, **kwargs)
    with pytest.raises(ValueError, match="clusters"):
        bootstrap_ci(lambda i: 0.0, 5, [0, 1, 2])


def test_fold_summary() -> None:
    values = [0.8, None, 0.7, 0.9, float("nan"), 0.75]
    summary = fold_summary(values)
    defined = [0.8, 0.7, 0.9, 0.75]
    assert summary["mean"] == pytest.approx(np.mean(defined))
    assert summary["std"] == pytest.approx(np.std(defined, ddof=1))
    assert (summary["n_defined"], summary["n_folds"]) == (4, 6)
    assert fold_summary([None, None]) == {"mean": None, "std": None, "n_defined": 0, "n_folds": 2}
    assert fold_summary([0.5, None]) == {"mean": 0.5, "std": None, "n_defined": 1, "n_folds": 2}


def test_check_out_of_fold() -> None:
    folds = [["a", "b"], ["c"], ["d", "e"]]
    assert check_out_of_fold(folds) == ["a", "b", "c", "d", "e"]
    assert check_out_of_fold(folds, expected="abcde") == ["a", "b", "c", "d", "e"]
    with pytest.raises(ValueError, match="more than once.*b, d"):
        check_out_of_fold([["a", "b", "d"], ["b", "c"], ["d"]])
    with pytest.raises(ValueError, match="never predicted: f"):
        check_out_of_fold(folds, expected="abcdef")
    with pytest.raises(ValueError, match="not expected: e"):
        check_out_of_fold(folds, expected="abcd")


# --- the difference of figures on two independent samples (external validation's gap) ------------------------------


def test_difference_interval_matches_scipys_independent_two_sample_bootstrap():
    from scipy import stats

    from benchmark.metrics.uncertainty import difference_ci

    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.2, size=300), rng.normal(0.6, 0.3, size=200)
    ours = difference_ci(lambda i: float(a[i].mean()), a.size, None, lambda j: float(b[j].mean()), b.size, None,
                         n_boot=20000, seed=1)
    theirs = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                             n_resamples=20000, method="percentile", confidence_level=0.95,
                             rng=np.random.default_rng(7)).confidence_interval
    assert ours.estimate == pytest.approx(a.mean() - b.mean())
    assert ours.low == pytest.approx(theirs.low, abs=0.006) and ours.high == pytest.approx(theirs.high, abs=0.006)


def test_difference_interval_resamples_clusters_of_each_sample():
    from benchmark.metrics.uncertainty import difference_ci

    # Sample a: 20 clusters of 10 identical values; its interval must be as wide as 20 independent values give,
    # far wider than 200 independent values would.
    rng = np.random.default_rng(0)
    a = np.repeat(rng.normal(0, 1, size=20), 10)
    b = np.zeros(50)
    clustered = difference_ci(lambda i: float(a[i].mean()), a.size, np.repeat(np.arange(20), 10),
                              lambda j: float(b[j].mean()), b.size, None, n_boot=4000)
    naive = difference_ci(lambda i: float(a[i].mean()), a.size, None, lambda j: float(b[j].mean()), b.size, None,
                          n_boot=4000)
    assert clustered.high - clustered.low > 2.5 * (naive.high - naive.low)
    assert "20 and 50 clusters" in clustered.method


def test_difference_interval_is_withheld_when_a_side_is_often_undefined():
    from benchmark.metrics.uncertainty import difference_ci

    def flaky(j):  # defined on the full sample only when case 0 is drawn once (never, on most resamples)
        return 1.0 if int((j == 0).sum()) == 1 else None

    ci = difference_ci(lambda i: 1.0, 10, None, flaky, 10, None, n_boot=200)
    assert ci.estimate == 0.0 and ci.low is None and "undefined on" in ci.reason
