"""Paired bootstrap and the Nadeau-Bengio corrected resampled t-test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmark.metrics.classification import accuracy
from benchmark.metrics.paired import corrected_resampled_ttest, paired_bootstrap
from benchmark.metrics.uncertainty import bootstrap_ci
from benchmark.metrics.undefined import MetricUndefinedError


def submissions(seed: int, n: int = 300, skill_a: float = 0.5, skill_b: float = 0.9):
    """True labels and two submissions that are right with probabilities ``skill_a`` and ``skill_b``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)

    def make(skill: float) -> np.ndarray:
        wrong = (y + rng.integers(1, 3, n)) % 3
        pred = np.where(rng.random(n) < skill, y, wrong)
        return np.eye(3)[pred] * 0.8 + 0.2 / 3

    return y, make(skill_a), make(skill_b)


def test_identical_submissions() -> None:
    y, p, _ = submissions(0)
    stat = lambda i: accuracy(y[i], p[i])  # noqa: E731
    result = paired_bootstrap(stat, stat, y.size, np.arange(y.size) // 3, n_boot=500)
    assert (result.difference, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clearly_better_b_gives_positive_interval(seed: int) -> None:
    y, pa, pb = submissions(seed)
    result = paired_bootstrap(lambda i: accuracy(y[i], pa[i]), lambda i: accuracy(y[i], pb[i]), y.size, None,
                              n_boot=500, seed=seed)
    assert result.difference == pytest.approx(accuracy(y, pb) - accuracy(y, pa))
    assert 0 < result.low < result.difference < result.high
    assert result.p_value == pytest.approx(2 / 501)  # no resample reaches 0: the smallest p possible
    swapped = paired_bootstrap(lambda i: accuracy(y[i], pb[i]), lambda i: accuracy(y[i], pa[i]), y.size, None,
                               n_boot=500, seed=seed)
    assert swapped.difference == -result.difference and swapped.high < 0


def test_both_submissions_see_the_same_resamples() -> None:
    y, pa, pb = submissions(4, skill_a=0.7, skill_b=0.72)
    clusters = np.arange(y.size) // 4

    def a(i: np.ndarray) -> float:
        return accuracy(y[i], pa[i])

    def b(i: np.ndarray) -> float:
        return accuracy(y[i], pb[i])

    paired = paired_bootstrap(a, b, y.size, clusters, n_boot=400, seed=9)
    direct = bootstrap_ci(lambda i: b(i) - a(i), y.size, clusters, n_boot=400, seed=9)
    assert (paired.low, paired.high) == pytest.approx((direct.low, direct.high))
    assert 0 < paired.p_value <= 1


def test_undefined_difference() -> None:
    result = paired_bootstrap(lambda i: None, lambda i: 1.0, 10, None, n_boot=10)
    assert result.difference is None and result.p_value is None and result.reason


def test_corrected_ttest_by_hand() -> None:
    a = [0.80, 0.82, 0.78, 0.81, 0.79]
    b = [0.83, 0.84, 0.80, 0.85, 0.80]
    n_train, n_test = 624, 156
    d = [y - x for x, y in zip(a, b, strict=True)]
    k = len(d)
    mean = sum(d) / k
    var = sum((v - mean) ** 2 for v in d) / (k - 1)
    t = mean / ((1 / k + n_test / n_train) * var) ** 0.5
    result = corrected_resampled_ttest(a, b, n_train, n_test)
    assert result["mean_diff"] == pytest.approx(mean)
    assert result["t"] == pytest.approx(t)
    assert result["df"] == 4 and result["k"] == 5
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    # Without the n_test/n_train term it is the ordinary paired t-test; the correction shrinks t by this factor.
    naive = stats.ttest_rel(b, a)
    assert result["t"] == pytest.approx(naive.statistic * (1 / k / (1 / k + n_test / n_train)) ** 0.5)
    assert result["p_value"] > naive.pvalue


def test_corrected_ttest_edge_cases() -> None:
    assert corrected_resampled_ttest([0.5, 0.6], [0.5, 0.6], 4, 1) == {
        "mean_diff": 0.0, "t": 0.0, "p_value": 1.0, "df": 1, "k": 2}
    with pytest.raises(MetricUndefinedError, match="same in every fold"):
        corrected_resampled_ttest([0.5, 0.5], [0.75, 0.75], 4, 1)
    with pytest.raises(ValueError, match="at least 2 folds"):
        corrected_resampled_ttest([0.5], [0.6], 4, 1)
    with pytest.raises(ValueError, match="equal-length"):
        corrected_resampled_ttest([0.5, 0.6], [0.6], 4, 1)
    with pytest.raises(ValueError, match="finite"):
        corrected_resampled_ttest([0.5, float("nan")], [0.6, 0.7], 4, 1)
