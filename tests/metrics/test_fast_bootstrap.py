"""The vectorised bootstrap: every resample drawn at once, every evaluator metric on all of them, same numbers.

The fast path (``Resamples``, the ``*_resampled`` metric functions, ``VectorisedStatistic``) must give exactly the
values of the generic path (one call of the scalar metric per resample of ``resample_indices``) for the same seed:
compared with ``==``, never approximately, on clusters of unequal sizes, with tied scores, and on data small enough
that some resamples lack a class (undefined resamples).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from benchmark.evaluation.score import (
    BOUNDARY_RESAMPLED,
    BOUNDARY_STATISTICS,
    CLASSIFICATION_RESAMPLED,
    CLASSIFICATION_STATISTICS,
    PAPER_STATISTICS,
    SEGMENTATION_RESAMPLED,
    SEGMENTATION_STATISTICS,
    ScoringInputs,
)
from benchmark.metrics import boundary as bnd
from benchmark.metrics import classification as cls
from benchmark.metrics import segmentation as seg
from benchmark.metrics.paired import paired_bootstrap
from benchmark.metrics.uncertainty import (
    Resamples,
    VectorisedStatistic,
    bootstrap_ci,
    clear_resample_cache,
    difference_ci,
    draw_resamples,
    evaluate,
    resample_indices,
    resampled_values,
)


def unequal_clusters(n: int, seed: int) -> np.ndarray:
    """String cluster labels of sizes 1 to 6, shuffled over the items (clusters are not contiguous)."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3, 6], size=n)
    labels = np.repeat([f"c{i:03d}" for i in range(n)], sizes)[:n]
    return rng.permutation(labels)


def class_data(n: int, n_classes: int, seed: int, *, ties: bool = True,
               rare: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities; rounded to one decimal (many tied scores, some argmax ties) with ``ties``; with
    ``rare``, class 0 has a single case (missing from about a third of the resamples: undefined resamples)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    if rare:
        y = np.where(y == 0, 1, y)
        y[0] = 0
    p = rng.dirichlet(np.ones(n_classes), n)
    p[np.arange(n), y] += rng.random(n)
    p /= p.sum(1, keepdims=True)
    if ties:
        p = np.round(p, 1)
        p[:, -1] = 1 - p[:, :-1].sum(1)
        p = np.clip(p, 0, 1)
        p /= p.sum(1, keepdims=True)
    return y, p


def segmentation_data(n: int, seed: int, *, rare: bool = False) -> tuple[seg.MaskCounts, bnd.BoundaryScores]:
    """Mask counts and boundary scores with every empty-mask case: normal images (predicted empty or not), missed
    lesions (HD95 NaN), and lesion images with a prediction. With ``rare``, one normal image (image 0) and one
    lesion image with a prediction (image 1), each missing from about a third of the resamples."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(200, 400, n) * rng.integers(200, 400, n)
    reference = np.where(rng.random(n) < 0.15, 0, rng.integers(50, 20_000, n))
    predicted = np.where(rng.random(n) < 0.2, 0, rng.integers(50, 20_000, n))
    if rare:
        reference = np.where(np.arange(n) == 0, 0, rng.integers(50, 20_000, n))
        predicted = np.where(np.arange(n) <= 1, rng.integers(50, 20_000, n), 0)
    intersection = np.minimum(reference, predicted) * (rng.random(n) < 0.8) // rng.integers(1, 4, n)
    counts = seg.MaskCounts(intersection.astype(np.int64), reference.astype(np.int64), predicted.astype(np.int64),
                            pixels.astype(np.int64))
    lesion = counts.lesion
    both = lesion & (predicted > 0)
    hd95 = np.where(both, rng.gamma(2.0, 10.0, n), np.nan)
    nsd = np.where(both, rng.random(n), np.where(~lesion & (predicted == 0), 1.0, 0.0))
    return counts, bnd.BoundaryScores(hd95, nsd, lesion)


def generic(statistic: Callable[[np.ndarray], float | None], n: int, clusters, n_boot: int, seed: int) -> np.ndarray:
    """The statistic on each resample of resample_indices, one call each, NaN where undefined."""
    values = [evaluate(statistic, idx) for idx in resample_indices(n, clusters, n_boot, seed)]
    return np.array([np.nan if v is None else v for v in values])


def assert_identical(fast: np.ndarray, slow: np.ndarray) -> None:
    assert fast.shape == slow.shape
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    assert np.array_equal(fast, slow, equal_nan=True), np.nanmax(np.abs(fast - slow))


# --- drawing all resamples at once ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5, 7, 599, 780, 1001])
def test_one_draw_of_all_resamples_is_the_sequence_of_draws(k: int) -> None:
    # resample_indices draws one row of cluster numbers per resample from one generator; the fast path draws the
    # (n_boot, k) array at once. numpy gives the same numbers either way (this is what makes the fast path exact).
    rng = np.random.default_rng(0)
    rows = np.stack([rng.integers(0, k, size=k) for _ in range(40)])
    np.testing.assert_array_equal(rows, np.random.default_rng(0).integers(0, k, size=(40, k)))


@pytest.mark.parametrize("clusters", [None, "unequal", "one"], ids=["no clusters", "unequal clusters", "one cluster"])
def test_draw_resamples_gives_the_resamples_of_resample_indices(clusters) -> None:
    n = 157
    labels = {"unequal": unequal_clusters(n, 1), "one": ["x"] * n, None: None}[clusters]
    clear_resample_cache()
    resamples = draw_resamples(n, labels, n_boot=300, seed=7)
    assert len(resamples) == resamples.n_boot == 300 and resamples.n_items == n
    slow = list(resample_indices(n, labels, n_boot=300, seed=7))
    assert len(slow) == 300
    for r, (fast, expected) in enumerate(zip(resamples, slow, strict=True)):
        np.testing.assert_array_equal(fast, expected)
        assert fast.dtype == expected.dtype
        np.testing.assert_array_equal(resamples[r], expected)
    np.testing.assert_array_equal(resamples.lengths, [s.size for s in slow])


def test_draws_are_kept_read_only_and_shared() -> None:
    labels = unequal_clusters(60, 2)
    a = draw_resamples(60, labels, n_boot=50, seed=1)
    assert draw_resamples(60, list(labels), n_boot=50, seed=1) is a  # same layout, same draw
    assert draw_resamples(60, labels, n_boot=50, seed=2) is not a
    with pytest.raises(ValueError):
        a.indices[0] = 1
    with pytest.raises(ValueError):
        a.weights[0, 0] = 1
    clear_resample_cache()
    assert draw_resamples(60, labels, n_boot=50, seed=1) is not a


def test_resamples_helpers_count_sum_and_average_each_resample() -> None:
    n = 90
    resamples = draw_resamples(n, unequal_clusters(n, 3), n_boot=120, seed=4)
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 4, n)
    codes[codes == 2] = 3  # a code no item has
    ints = rng.integers(0, 10_000, n)
    floats = rng.random(n) * rng.integers(1, 1000, n)
    where = np.arange(n) == 0  # one item: a third of the resamples do not hold it
    counts, totals = resamples.count(codes, 4), resamples.total(ints)
    means, sparse = resamples.mean(floats), resamples.mean(floats, where)
    assert counts.shape == (120, 4) and totals.dtype == np.int64
    for r, idx in enumerate(resamples):
        multiplicity = Counter(idx.tolist())
        assert all(resamples.weights[i, r] == multiplicity.get(i, 0) for i in range(n))
        np.testing.assert_array_equal(counts[r], np.bincount(codes[idx], minlength=4))
        assert totals[r] == ints[idx].sum()
        assert means[r] == floats[idx].mean()
        picked = floats[idx][where[idx]]
        assert (np.isnan(sparse[r]) and picked.size == 0) or sparse[r] == picked.mean()
    assert np.isnan(sparse).any() and not np.isnan(sparse).all()
    with pytest.raises(ValueError, match="integers"):
        resamples.total(floats)


def test_resamples_refuse_empty_resamples() -> None:
    with pytest.raises(ValueError, match="offsets"):
        Resamples(3, np.array([0, 1]), np.array([0, 1, 1, 2]))


# --- the classification metrics ---------------------------------------------------------------------------------------

CLASSIFICATION_PAIRS = [
    (cls.accuracy, cls.accuracy_resampled),
    (cls.balanced_accuracy, cls.balanced_accuracy_resampled),
    (lambda y, p: cls.precision_recall_f1(y, p).macro_f1, cls.macro_f1_resampled),
    (cls.auc_ovr_macro, cls.auc_ovr_macro_resampled),
    (cls.auc_malignant, cls.auc_malignant_resampled),
    (cls.sensitivity_malignant, cls.sensitivity_malignant_resampled),
    (cls.specificity_malignant, cls.specificity_malignant_resampled),
    *[(lambda y, p, c=c: cls.auc_one_vs_rest(y, p, c),
       lambda y, p, rs, c=c: cls.auc_one_vs_rest_resampled(y, p, c, rs)) for c in range(3)],
]
CLASSIFICATION_IDS = ["accuracy", "balanced_accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant",
                      "sensitivity_malignant", "specificity_malignant", "auc_ovr_0", "auc_ovr_1", "auc_ovr_2"]


CLASSIFICATION_CASES = [(140, 3, True), (140, 3, False), (24, 3, True), (30, 2, True)]
CLASSIFICATION_CASE_IDS = ["3 classes ties", "3 classes", "small: undefined resamples", "2 classes"]


@pytest.mark.parametrize(("scalar", "resampled", "n", "n_classes", "ties"), [
    (*pair, *case) for pair, name in zip(CLASSIFICATION_PAIRS, CLASSIFICATION_IDS, strict=True)
    for case in CLASSIFICATION_CASES if not (case[1] == 2 and name == "auc_ovr_2")  # two classes: no class 2
], ids=[f"{name}-{case_id}" for name in CLASSIFICATION_IDS for case, case_id in
        zip(CLASSIFICATION_CASES, CLASSIFICATION_CASE_IDS, strict=True) if not (case[1] == 2 and name == "auc_ovr_2")])
def test_resampled_classification_metric_equals_the_metric_on_each_resample(scalar, resampled, n, n_classes,
                                                                               ties) -> None:
    y, p = class_data(n, n_classes, seed=n + n_classes, ties=ties, rare=n < 50)
    clusters = unequal_clusters(n, n)
    fast = resampled(y, p, draw_resamples(n, clusters, n_boot=200, seed=3))
    slow = generic(lambda i: scalar(y[i], p[i]), n, clusters, 200, 3)
    assert_identical(fast, slow)


def test_small_classification_data_has_undefined_resamples() -> None:
    # The "small" case above really exercises undefined resamples: a class missing from some resamples.
    y, p = class_data(24, 3, seed=27, rare=True)
    values = cls.balanced_accuracy_resampled(y, p, draw_resamples(24, unequal_clusters(24, 24), n_boot=200, seed=3))
    assert 0 < np.isnan(values).sum() < values.size


# --- the segmentation and boundary metrics ----------------------------------------------------------------------------

SEGMENTATION_PAIRS = [
    (lambda c, s: seg.lesion_dice_iou(c)[0], lambda c, s, rs: seg.lesion_dice_iou_resampled(c, rs)[0]),
    (lambda c, s: seg.lesion_dice_iou(c)[1], lambda c, s, rs: seg.lesion_dice_iou_resampled(c, rs)[1]),
    (lambda c, s: seg.pooled_dice_iou(c)[0], lambda c, s, rs: seg.pooled_dice_iou_resampled(c, rs)[0]),
    (lambda c, s: seg.pooled_dice_iou(c)[1], lambda c, s, rs: seg.pooled_dice_iou_resampled(c, rs)[1]),
    (lambda c, s: seg.empty_reference_false_positive_rate(c),
     lambda c, s, rs: seg.empty_reference_false_positive_rate_resampled(c, rs)),
    (lambda c, s: seg.paper_dice_iou(c)[0], lambda c, s, rs: seg.paper_dice_iou_resampled(c, rs)[0]),
    (lambda c, s: seg.paper_dice_iou(c)[1], lambda c, s, rs: seg.paper_dice_iou_resampled(c, rs)[1]),
    (lambda c, s: bnd.lesion_hd95(s), lambda c, s, rs: bnd.lesion_hd95_resampled(s, rs)),
    (lambda c, s: bnd.lesion_nsd(s), lambda c, s, rs: bnd.lesion_nsd_resampled(s, rs)),
]
SEGMENTATION_IDS = ["dice", "iou", "pooled_dice", "pooled_iou", "false_positive_rate", "paper_dice", "paper_iou",
                    "hd95", "nsd"]


@pytest.mark.parametrize(("scalar", "resampled"), SEGMENTATION_PAIRS, ids=SEGMENTATION_IDS)
@pytest.mark.parametrize("n", [300, 12], ids=["300 images", "small: undefined resamples"])
def test_resampled_segmentation_metric_equals_the_metric_on_each_resample(scalar, resampled, n) -> None:
    counts, scores = segmentation_data(n, seed=n, rare=n < 50)
    clusters = unequal_clusters(n, n + 1)
    fast = resampled(counts, scores, draw_resamples(n, clusters, n_boot=250, seed=5))
    slow = generic(lambda i: scalar(counts.take(i), scores.take(i)), n, clusters, 250, 5)
    assert_identical(fast, slow)


def test_small_segmentation_data_has_undefined_resamples() -> None:
    counts, scores = segmentation_data(12, seed=12, rare=True)
    resamples = draw_resamples(12, unequal_clusters(12, 13), n_boot=250, seed=5)
    for values in (seg.empty_reference_false_positive_rate_resampled(counts, resamples),
                   bnd.lesion_hd95_resampled(scores, resamples)):
        assert 0 < np.isnan(values).sum() < values.size


# --- the evaluator's statistics through the public bootstraps ---------------------------------------------------------


def test_every_evaluator_statistic_has_its_resampled_form() -> None:
    assert set(CLASSIFICATION_RESAMPLED) == set(CLASSIFICATION_STATISTICS)
    assert set(SEGMENTATION_RESAMPLED) == set(SEGMENTATION_STATISTICS) | set(PAPER_STATISTICS)
    assert set(BOUNDARY_RESAMPLED) == set(BOUNDARY_STATISTICS)


def classification_inputs(n: int, n_classes: int, seed: int) -> ScoringInputs:
    y, p = class_data(n, n_classes, seed, rare=n < 50)
    groups = list(unequal_clusters(n, seed))
    return ScoringInputs("classification", [f"case{i}" for i in range(n)], groups, "duplicate cluster",
                         np.arange(n) % 5, y=y, probs=p)


def segmentation_inputs(n: int, seed: int) -> ScoringInputs:
    counts, scores = segmentation_data(n, seed, rare=n < 50)
    groups = list(unequal_clusters(n, seed))
    return ScoringInputs("segmentation", [f"img{i}" for i in range(n)], groups, "duplicate cluster",
                         np.arange(n) % 5, counts=counts, boundary=scores)


@pytest.mark.parametrize(("n", "n_classes"), [(160, 3), (26, 3), (40, 2)],
                         ids=["3 classes", "small: undefined resamples", "2 classes"])
def test_classification_intervals_are_those_of_the_generic_path(n: int, n_classes: int) -> None:
    inputs = classification_inputs(n, n_classes, seed=n)
    undefined = 0
    for name in CLASSIFICATION_STATISTICS:
        statistic = inputs.statistic(name)
        assert isinstance(statistic, VectorisedStatistic)
        fast = bootstrap_ci(statistic, n, inputs.groups, n_boot=300, seed=0)
        slow = bootstrap_ci(statistic.scalar, n, inputs.groups, n_boot=300, seed=0)
        assert fast == slow, name
        assert_identical(resampled_values(statistic, n, inputs.groups, n_boot=300, seed=0),
                         generic(statistic.scalar, n, inputs.groups, 300, 0))
        undefined += fast.n_undefined
    assert (undefined > 0) == (n < 50)


def test_the_five_percent_rule_holds_on_the_fast_path() -> None:
    inputs = classification_inputs(26, 3, seed=26)
    ci = bootstrap_ci(inputs.statistic("balanced_accuracy"), 26, inputs.groups, n_boot=300, seed=0)
    assert ci.n_undefined > 15 and ci.low is None and "undefined on" in ci.reason
    assert ci == bootstrap_ci(inputs.statistic("balanced_accuracy").scalar, 26, inputs.groups, n_boot=300, seed=0)


@pytest.mark.parametrize("n", [200, 14], ids=["200 images", "small: undefined resamples"])
def test_segmentation_intervals_are_those_of_the_generic_path(n: int) -> None:
    inputs = segmentation_inputs(n, seed=n)
    undefined = 0
    for name in [*SEGMENTATION_STATISTICS, *BOUNDARY_STATISTICS, *PAPER_STATISTICS]:
        statistic = inputs.statistic(name)
        fast = bootstrap_ci(statistic, n, inputs.groups, n_boot=300, seed=0)
        assert fast == bootstrap_ci(statistic.scalar, n, inputs.groups, n_boot=300, seed=0), name
        undefined += fast.n_undefined
    assert (undefined > 0) == (n < 50)


def test_paired_and_two_sample_bootstraps_are_those_of_the_generic_path() -> None:
    a = classification_inputs(120, 3, seed=1)
    b = ScoringInputs("classification", a.ids, a.groups, a.unit, a.fold_of, y=a.y,
                      probs=class_data(120, 3, seed=2)[1])
    other = classification_inputs(90, 3, seed=3)
    for name in ("balanced_accuracy", "auc_ovr_macro"):
        sa, sb, so = a.statistic(name), b.statistic(name), other.statistic(name)
        fast = paired_bootstrap(sa, sb, 120, a.groups, n_boot=250, seed=4)
        assert fast == paired_bootstrap(sa.scalar, sb.scalar, 120, a.groups, n_boot=250, seed=4)
        assert fast.p_value is not None
        mixed = paired_bootstrap(sa, sb.scalar, 120, a.groups, n_boot=250, seed=4)  # one side generic
        assert mixed == fast
        gap = difference_ci(sa, 120, a.groups, so, 90, other.groups, n_boot=250, seed=4)
        assert gap == difference_ci(sa.scalar, 120, a.groups, so.scalar, 90, other.groups, n_boot=250, seed=4)


def test_a_vectorised_statistic_is_still_a_function_of_indices() -> None:
    inputs = classification_inputs(60, 3, seed=6)
    statistic = inputs.statistic("accuracy")
    idx = np.flatnonzero(inputs.fold_of == 1)
    assert statistic(idx) == cls.accuracy(inputs.y[idx], inputs.probs[idx])


def test_a_resampled_form_of_the_wrong_shape_is_refused() -> None:
    bad = VectorisedStatistic(lambda i: 1.0, lambda rs: np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ci(bad, 10, None, n_boot=20)


def test_non_finite_resampled_values_count_as_undefined() -> None:
    x = np.arange(30, dtype=float)
    statistic = VectorisedStatistic(lambda i: float(x[i].mean()),
                                    lambda rs: np.where(np.arange(rs.n_boot) % 10 == 0, np.inf, rs.mean(x)))
    ci = bootstrap_ci(statistic, 30, None, n_boot=200)
    assert ci.n_undefined == 20 and ci.reason is not None
