"""Classification metrics for BUSI's three classes, or benign vs malignant: pure functions of arrays, no I/O.

Inputs, for every function:

* ``probs``: float array of shape ``(N, C)``, non-negative, each row summing to 1 (within
  :data:`PROB_SUM_TOLERANCE`; rows are *not* renormalised, so logits or unnormalised scores are refused). The
  number of columns names the task (:data:`CLASS_SETS`): ``C = 3`` is normal, benign, malignant (:data:`CLASSES`);
  ``C = 2`` is benign, malignant (:data:`BINARY_CLASSES`), for data without normal images. Malignant is always
  the last column.
* ``y_true``: integer array of shape ``(N,)`` with values in ``0..C-1``, in that class order.

The predicted class is ``argmax(probs, axis=1)``; a tie between classes goes to the *lower* class index
(``numpy.argmax`` keeps the first maximum), so an exact benign/malignant tie is predicted benign.

Undefined values. A metric that needs a class absent from ``y_true`` (its recall, the macro averages, the one-vs-rest
AUC, the malignant AUC and sensitivity without a malignant case, the specificity without a non-malignant case) has
no value: the function raises :class:`~benchmark.metrics.undefined.MetricUndefinedError` and
:func:`classification_report` records ``None`` with the reason under ``"undefined"``. The precision of a class that
is never predicted is defined as 0 (scikit-learn's ``zero_division=0``) and the report lists such classes under
``"notes"``; precision stays defined so that a model that never predicts a class is penalised, not excused.

busbench's headline figures are computed on the pooled out-of-fold predictions (every case once, every class
present); per-fold figures follow the ``None`` rule above.

Bootstrap forms. The ``*_resampled`` functions compute a metric on every resample of a cluster bootstrap at once
(:class:`~benchmark.metrics.uncertainty.Resamples`): the same formula on each resample's confusion matrix, or its
weighted Mann-Whitney count for an AUC, and the same value as the scalar function on that resample's rows, bit for
bit; NaN where the scalar function raises :class:`~benchmark.metrics.undefined.MetricUndefinedError`.

Bad input (wrong shape, labels outside 0..C-1, rows not summing to 1) raises ``ValueError``: these functions do no
I/O and know no file name, so the caller that read the submission turns it into a ``BusbenchError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.classes import BINARY_CLASSES, CLASS_SETS, CLASSES  # noqa: F401  (re-exported: metrics' names)
from benchmark.metrics.undefined import MetricUndefinedError, defined_or_none

if TYPE_CHECKING:
    from benchmark.metrics.uncertainty import Resamples

#: Column indices of the three-class matrix (:data:`CLASSES`).
NORMAL, BENIGN, MALIGNANT = 0, 1, 2
PROB_SUM_TOLERANCE = 1e-3  # loose enough for probabilities written with 4+ decimals, tight enough to refuse logits
LOG_LOSS_EPS = 1e-15
ECE_BINS = 15


@dataclass(frozen=True)
class PrecisionRecallF1:
    """Per-class precision, recall, F1 and support (in class order) and their unweighted macro means."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    macro_precision: float
    macro_recall: float
    macro_f1: float


def check_inputs(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalise the two inputs every classification metric takes.

    Args:
        y_true: True class indices, shape ``(N,)``, integers in ``0..C-1``.
        probs: Class probabilities, shape ``(N, C)`` with ``C`` in :data:`CLASS_SETS`, non-negative, rows summing
            to 1.

    Returns:
        ``(y_true as int64, probs as float64)``.

    Raises:
        ValueError: Naming the first problem found (empty input, shapes, labels, non-finite or negative
            probabilities, rows not summing to 1 with the first offending row).
    """
    y = np.asarray(y_true)
    p = np.asarray(probs)
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("no cases: y_true is empty")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    if p.ndim != 2 or p.shape[0] != y.size or p.shape[1] not in CLASS_SETS:
        raise ValueError(f"probs must have shape ({y.size}, 3) (normal, benign, malignant) or ({y.size}, 2) "
                         f"(benign, malignant) to match y_true, got {p.shape}")
    n_classes = p.shape[1]
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if bad.size:
        raise ValueError(f"y_true has {bad.size} value(s) outside 0..{n_classes - 1}, first at index {bad[0]}: "
                         f"{y[bad[0]]}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"probs has non-finite values, first in row {np.flatnonzero(~np.isfinite(p).all(1))[0]}")
    if np.any(p < 0):
        raise ValueError(f"probs has negative values, first in row {np.flatnonzero((p < 0).any(1))[0]}")
    off = np.flatnonzero(np.abs(p.sum(1) - 1.0) > PROB_SUM_TOLERANCE)
    if off.size:
        raise ValueError(f"{off.size} row(s) of probs do not sum to 1 (tolerance {PROB_SUM_TOLERANCE}), first row "
                         f"{off[0]} sums to {p[off[0]].sum():.6g}")
    return y.astype(np.int64), p


def class_names(probs: np.ndarray) -> tuple[str, ...]:
    """The classes of the columns of ``probs`` (:data:`CLASS_SETS`)."""
    return CLASS_SETS[np.asarray(probs).shape[1]]


def malignant_column(probs: np.ndarray) -> int:
    """The index of the malignant class (the last column)."""
    return np.asarray(probs).shape[1] - 1


def predict(probs: np.ndarray) -> np.ndarray:
    """The decision rule: ``argmax`` over classes, ties to the lower class index.

    Args:
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        Predicted class indices, shape ``(N,)``, int64.
    """
    return np.argmax(np.asarray(probs), axis=1).astype(np.int64)


def confusion_matrix(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Counts of (true class, predicted class) pairs at the argmax decision.

    ``C[i, j]`` is the number of cases of true class ``i`` predicted as class ``j`` (rows true, columns predicted,
    class order), always ``C x C`` whatever classes occur.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        The confusion matrix, shape ``(C, C)``, int64.
    """
    y, p = check_inputs(y_true, probs)
    return _confusion(y, p)


def _confusion(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = p.shape[1]
    return np.bincount(y * n + predict(p), minlength=n * n).reshape(n, n)


def accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Share of cases whose argmax prediction equals the true class: ``mean(argmax(probs) == y_true)``.

    Always defined for ``N >= 1``.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    y, p = check_inputs(y_true, probs)
    return float(np.mean(predict(p) == y))


def _absent(support: np.ndarray) -> list[str]:
    names = CLASS_SETS[len(support)]
    return [names[c] for c in range(len(support)) if support[c] == 0]


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (support, predicted, precision with 0 for never-predicted, recall/F1 with NaN if absent).

    ``cm`` is one ``(C, C)`` confusion matrix, or a stack ``(..., C, C)`` of them (one per bootstrap resample); the
    figures then have shape ``(..., C)``.
    """
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
    support = cm.sum(-1)
    predicted = cm.sum(-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / support, np.nan)
        # 2TP / (support + predicted) is the harmonic mean of precision and recall, and 0 when TP = 0.
        f1 = np.where(support > 0, 2 * tp / (support + predicted), np.nan)
    return support, predicted, precision, recall, f1


def precision_recall_f1(y_true: np.ndarray, probs: np.ndarray) -> PrecisionRecallF1:
    """Per-class precision, recall and F1 at the argmax decision, with their unweighted (macro) means.

    For class ``c`` with ``TP`` true positives: precision ``= TP / #predicted c`` (0 when ``c`` is never predicted),
    recall ``= TP / #true c``, F1 ``= 2 TP / (#true c + #predicted c)`` (the harmonic mean of the two, 0 when
    ``TP = 0``). Macro values are plain means over the classes; macro F1 is the mean of per-class F1 (not the
    F1 of macro precision and recall), as scikit-learn's ``average="macro"``.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        The per-class figures and macro means.

    Raises:
        MetricUndefinedError: If a class is absent from ``y_true`` (its recall and F1, hence the macro means, do
            not exist). Use :func:`classification_report` for the figures that are still defined.
    """
    y, p = check_inputs(y_true, probs)
    support, _, precision, recall, f1 = _per_class(_confusion(y, p))
    absent = _absent(support)
    if absent:
        raise MetricUndefinedError("macro_f1", f"no case of class {', '.join(absent)} in y_true")
    return PrecisionRecallF1(
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1),
        support=tuple(int(v) for v in support),
        macro_precision=float(precision.mean()),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
    )


def balanced_accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean per-class recall over the classes (= macro recall).

    For benign vs malignant it is the mean of malignant sensitivity and specificity.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        Balanced accuracy in ``[0, 1]``.

    Raises:
        MetricUndefinedError: If a class is absent from ``y_true`` (scikit-learn would silently average over the
            classes present).
    """
    y, p = check_inputs(y_true, probs)
    support, _, _, recall, _ = _per_class(_confusion(y, p))
    absent = _absent(support)
    if absent:
        raise MetricUndefinedError("balanced_accuracy", f"no case of class {', '.join(absent)} in y_true")
    return float(recall.mean())


def balanced_accuracy_present(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``: :func:`balanced_accuracy` for a small part.

    The engine selects epochs on it: a validation part can lack a class, which leaves that class's recall
    undefined, and the mean then runs over the classes that have cases (the predictions still choose among all
    ``C`` classes). Equal to :func:`balanced_accuracy` whenever every class is present.

    Args:
        y_true: True class indices, shape ``(N,)``, ``N >= 1``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        Balanced accuracy over the present classes, in ``[0, 1]``.
    """
    y, p = check_inputs(y_true, probs)
    _, _, _, recall, _ = _per_class(_confusion(y, p))
    return float(np.nanmean(recall))


def _binary_auc(positive: np.ndarray, score: np.ndarray, metric: str, what: str) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative) + 0.5 P(tie), with mid-ranks for ties."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        side = "positive" if n_pos == 0 else "negative"
        raise MetricUndefinedError(metric, f"no {side} case ({what})")
    from scipy.stats import rankdata  # half a second of imports: only where an AUC is computed

    ranks = rankdata(score)  # average ranks: a tie counts one half, as the trapezoidal ROC area
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_one_vs_rest(y_true: np.ndarray, probs: np.ndarray, cls: int) -> float:
    """ROC AUC of class ``cls`` against the others, scored by ``probs[:, cls]``.

    Computed as the Mann-Whitney statistic (the probability that a random case of ``cls`` scores higher than a
    random other case, ties counting one half), which equals the area under the ROC curve.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.
        cls: The positive class index (0..C-1).

    Returns:
        AUC in ``[0, 1]``.

    Raises:
        MetricUndefinedError: If ``cls`` has no case, or every case is ``cls``.
    """
    y, p = check_inputs(y_true, probs)
    name = class_names(p)[cls]
    return _binary_auc(y == cls, p[:, cls], f"per_class.{name}.auc_ovr", f"{name} vs rest")


def auc_ovr_macro(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC: the unweighted mean over the classes of :func:`auc_one_vs_rest`.

    Equals scikit-learn's ``roc_auc_score(y_true, probs, multi_class="ovr", average="macro")``; with two classes,
    both one-vs-rest AUCs equal the malignant AUC.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        AUC in ``[0, 1]``.

    Raises:
        MetricUndefinedError: If a class is absent from ``y_true``.
    """
    y, p = check_inputs(y_true, probs)
    absent = _absent(np.bincount(y, minlength=p.shape[1]))
    if absent:
        raise MetricUndefinedError("auc_ovr_macro", f"no case of class {', '.join(absent)} in y_true")
    return float(np.mean([auc_one_vs_rest(y, p, c) for c in range(p.shape[1])]))


def auc_malignant(y_true: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC of malignant against every other case (normal and benign), scored by the malignant probability.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        AUC in ``[0, 1]``.

    Raises:
        MetricUndefinedError: If there is no malignant case or no non-malignant case.
    """
    y, p = check_inputs(y_true, probs)
    m = malignant_column(p)
    return _binary_auc(y == m, p[:, m], "auc_malignant", "malignant vs rest")


def sensitivity_malignant(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Share of malignant cases predicted malignant at the argmax decision (malignant recall).

    Raises:
        MetricUndefinedError: If there is no malignant case.
    """
    y, p = check_inputs(y_true, probs)
    m = malignant_column(p)
    malignant = y == m
    if not malignant.any():
        raise MetricUndefinedError("sensitivity_malignant", "no malignant case in y_true")
    return float(np.mean(predict(p)[malignant] == m))


def specificity_malignant(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Share of non-malignant (normal or benign) cases not predicted malignant at the argmax decision.

    A benign case predicted normal counts as correct here: the question is only "called malignant or not".

    Raises:
        MetricUndefinedError: If there is no non-malignant case.
    """
    y, p = check_inputs(y_true, probs)
    m = malignant_column(p)
    other = y != m
    if not other.any():
        raise MetricUndefinedError("specificity_malignant", "no non-malignant case in y_true")
    return float(np.mean(predict(p)[other] != m))


def sensitivity_specificity_malignant(y_true: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Malignant sensitivity and specificity at the argmax decision (see the two single functions).

    Returns:
        ``(sensitivity, specificity)``.

    Raises:
        MetricUndefinedError: If either is undefined (no malignant, or no non-malignant case).
    """
    return sensitivity_malignant(y_true, probs), specificity_malignant(y_true, probs)


def confusion_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """The confusion matrix (:func:`confusion_matrix`) of every bootstrap resample.

    ``C[r, i, j]`` is the number of cases of true class ``i`` predicted as class ``j`` in resample ``r``, a case
    drawn twice counting twice.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        int64 array of shape ``(n_boot, C, C)``.
    """
    y, p = check_inputs(y_true, probs)
    n = p.shape[1]
    return resamples.count(y * n + predict(p), n * n).reshape(-1, n, n)


def accuracy_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`accuracy` on every bootstrap resample (always defined).

    Correct cases over cases: the trace of each resample's confusion matrix over its sum.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``.
    """
    cm = confusion_resampled(y_true, probs, resamples)
    return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))


def balanced_accuracy_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`balanced_accuracy` (mean per-class recall) on every bootstrap resample.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a case of some class.
    """
    _, _, _, recall, _ = _per_class(confusion_resampled(y_true, probs, resamples))
    return recall.mean(axis=-1)


def macro_f1_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """Macro F1 (:func:`precision_recall_f1`'s ``macro_f1``) on every bootstrap resample.

    The mean over the classes of ``2 TP / (#true + #predicted)``, from each resample's confusion matrix.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a case of some class.
    """
    _, _, _, _, f1 = _per_class(confusion_resampled(y_true, probs, resamples))
    return f1.mean(axis=-1)


def sensitivity_malignant_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`sensitivity_malignant` (malignant recall) on every bootstrap resample.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a malignant case.
    """
    _, _, _, recall, _ = _per_class(confusion_resampled(y_true, probs, resamples))
    return recall[:, malignant_column(probs)]


def specificity_malignant_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`specificity_malignant` on every bootstrap resample.

    Non-malignant cases not predicted malignant over non-malignant cases, from each resample's confusion matrix.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a non-malignant case.
    """
    cm = confusion_resampled(y_true, probs, resamples)
    m = malignant_column(probs)
    other = cm[:, :m, :].sum(axis=(-2, -1))
    called_malignant = cm[:, :m, m].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(other > 0, (other - called_malignant) / other, np.nan)


def _binary_auc_resampled(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`_binary_auc` on every resample, from each case's multiplicity in it (``weights``, ``(N, n_boot)``).

    The Mann-Whitney count ``U = sum over (positive, negative) pairs of [s_pos > s_neg] + 1/2 [s_pos = s_neg]``,
    each pair weighted by the two multiplicities, equals the scalar ``sum of the positives' mid-ranks - n_pos (n_pos
    + 1) / 2`` on the resample's rows; ``2 U`` is summed as an integer, so ``U / (n_pos n_neg)`` is the scalar value
    bit for bit. NaN where a resample has no positive or no negative case.
    """
    order = np.argsort(score, kind="stable")
    sorted_score, is_positive = score[order], positive[order]
    first = np.r_[True, sorted_score[1:] != sorted_score[:-1]]  # starts a run of tied scores
    tie_group = np.cumsum(first) - 1
    bounds = np.r_[np.flatnonzero(first), score.size]  # tie group g spans sorted positions bounds[g]:bounds[g + 1]
    negatives_before = np.r_[0, np.cumsum(~is_positive)]  # negative cases at the sorted positions before each one
    w = weights[order]
    # Row j: how many negatives each resample holds among the first j negative cases (in score order).
    cumulative = np.zeros((negatives_before[-1] + 1, weights.shape[1]), dtype=np.int64)
    np.cumsum(w[~is_positive], axis=0, out=cumulative[1:])
    group = tie_group[is_positive]
    below = cumulative[negatives_before[bounds[group]]]  # negatives scoring lower than each positive
    not_above = cumulative[negatives_before[bounds[group + 1]]]  # ... lower or tied
    w_pos = w[is_positive]
    twice_u = np.einsum("ir,ir->r", w_pos, below + not_above)  # 2 * (lower + tied / 2), an exact integer
    n_pos, n_neg = w_pos.sum(axis=0), cumulative[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (twice_u / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def auc_one_vs_rest_resampled(y_true: np.ndarray, probs: np.ndarray, cls: int, resamples: Resamples) -> np.ndarray:
    """:func:`auc_one_vs_rest` of class ``cls`` on every bootstrap resample.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        cls: The positive class index (0..C-1).
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a case of ``cls`` or without another case.
    """
    y, p = check_inputs(y_true, probs)
    return _binary_auc_resampled(y == cls, p[:, cls], resamples.weights)


def auc_ovr_macro_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`auc_ovr_macro` (mean of the one-vs-rest AUCs) on every bootstrap resample.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a case of some class.
    """
    y, p = check_inputs(y_true, probs)
    per_class = [auc_one_vs_rest_resampled(y, p, c, resamples) for c in range(p.shape[1])]
    return np.stack(per_class, axis=1).mean(axis=1)


def auc_malignant_resampled(y_true: np.ndarray, probs: np.ndarray, resamples: Resamples) -> np.ndarray:
    """:func:`auc_malignant` on every bootstrap resample.

    Args:
        y_true: True class indices of all cases, shape ``(N,)``.
        probs: Class probabilities of all cases, shape ``(N, C)``.
        resamples: Resamples of the ``N`` cases.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a malignant or a non-malignant case.
    """
    y, p = check_inputs(y_true, probs)
    m = malignant_column(p)
    return _binary_auc_resampled(y == m, p[:, m], resamples.weights)


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error with equal-width confidence bins.

    Confidence is the largest probability of each row, correctness whether its argmax is the true class. The
    interval ``[0, 1]`` is cut into ``n_bins`` equal-width bins, right-closed ``(lo, hi]`` (the first one also
    takes 0), and

        ``ECE = sum over bins B of |B| / N * |accuracy(B) - mean confidence(B)|``

    (Guo et al., 2017; empty bins contribute nothing). With C classes the confidence is at least 1/C, so the
    lowest bins stay empty. ECE depends on the binning; busbench always uses 15 bins, the common default.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.
        n_bins: Number of equal-width bins (at least 1).

    Returns:
        ECE in ``[0, 1]``.
    """
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, p = check_inputs(y_true, probs)
    confidence = p.max(1)
    correct = (predict(p) == y).astype(np.float64)
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    # side="left": a confidence equal to an edge falls in the bin that edge closes, i.e. bins are (lo, hi].
    bins = np.searchsorted(inner_edges, confidence, side="left")
    count = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence,
                                                                             minlength=n_bins)
    # Per bin |B| * |acc - conf| = |sum(correct) - sum(confidence)|, so dividing by N gives the weighted sum.
    return float(np.abs(gap[count > 0]).sum() / y.size)


def log_loss(y_true: np.ndarray, probs: np.ndarray, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative natural log of the probability given to the true class.

    ``log_loss = -mean(ln(clip(probs[i, y_true[i]], eps, 1)))``. Clipping at ``eps = 1e-15`` keeps a zero
    probability on the true class finite (it costs ``-ln(1e-15) ~ 34.5``) instead of infinite. Rows are not
    renormalised.

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.
        eps: Lower clip of the true-class probability.

    Returns:
        Log loss in nats, ``>= 0``.
    """
    y, p = check_inputs(y_true, probs)
    return float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], eps, 1.0))))


def classification_report(y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Every classification figure, JSON-ready, with ``None`` and a reason where a figure is undefined.

    Keys: ``n_cases``, ``classes``, ``support`` (class -> count), ``accuracy``, ``balanced_accuracy``,
    ``macro_precision``, ``macro_recall``, ``macro_f1``, ``auc_ovr_macro``, ``auc_malignant``,
    ``sensitivity_malignant``, ``specificity_malignant``, ``ece``, ``ece_bins``, ``log_loss``, ``per_class``
    (class -> ``{"support", "predicted", "precision", "recall", "f1", "auc_ovr"}``), ``confusion_matrix`` (list of
    rows, true class by predicted class), ``undefined`` (metric -> reason, with per-class metrics keyed like
    ``"per_class.normal.recall"``) and ``notes`` (list of strings: conventions that affected a figure, such as a
    never-predicted class whose precision was set to 0).

    Args:
        y_true: True class indices, shape ``(N,)``.
        probs: Class probabilities, shape ``(N, C)``.

    Returns:
        The report; every figure is a Python ``float``/``int`` or ``None``.
    """
    y, p = check_inputs(y_true, probs)
    classes = class_names(p)
    cm = _confusion(y, p)
    support, predicted, precision, recall, f1 = _per_class(cm)
    undefined: dict[str, str] = {}
    notes: list[str] = []
    per_class: dict[str, dict[str, Any]] = {}
    for c, name in enumerate(classes):
        if support[c] == 0:
            for metric in ("recall", "f1"):
                undefined[f"per_class.{name}.{metric}"] = f"no case of class {name} in y_true"
        if predicted[c] == 0:
            notes.append(f"class {name} is never predicted: its precision is 0 by convention (zero_division=0)")
        per_class[name] = {
            "support": int(support[c]),
            "predicted": int(predicted[c]),
            "precision": float(precision[c]),
            "recall": None if support[c] == 0 else float(recall[c]),
            "f1": None if support[c] == 0 else float(f1[c]),
            "auc_ovr": defined_or_none(partial(auc_one_vs_rest, y, p, c), undefined),
        }
    absent = _absent(support)
    macro: dict[str, float | None] = {}
    for key, values in (("macro_precision", precision), ("macro_recall", recall), ("macro_f1", f1)):
        if absent:
            macro[key] = None
            undefined[key] = f"no case of class {', '.join(absent)} in y_true (a macro mean needs every class)"
        else:
            macro[key] = float(values.mean())
    return {
        "n_cases": int(y.size),
        "classes": list(classes),
        "support": {name: int(support[c]) for c, name in enumerate(classes)},
        "accuracy": float(np.trace(cm) / y.size),
        "balanced_accuracy": defined_or_none(lambda: balanced_accuracy(y, p), undefined),
        **macro,
        "auc_ovr_macro": defined_or_none(lambda: auc_ovr_macro(y, p), undefined),
        "auc_malignant": defined_or_none(lambda: auc_malignant(y, p), undefined),
        "sensitivity_malignant": defined_or_none(lambda: sensitivity_malignant(y, p), undefined),
        "specificity_malignant": defined_or_none(lambda: specificity_malignant(y, p), undefined),
        "ece": expected_calibration_error(y, p),
        "ece_bins": ECE_BINS,
        "log_loss": log_loss(y, p),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "undefined": undefined,
        "notes": notes,
    }
