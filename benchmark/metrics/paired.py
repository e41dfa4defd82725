"""Paired comparison of two submissions scored on the same split and the same cases.

Convention: every difference is **b - a** (the second submission minus the first), so a positive difference means
``b`` scores higher; for a lower-is-better figure (log loss, ECE) a positive difference means ``b`` is worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmark.metrics.uncertainty import (
    ALPHA,
    MAX_UNDEFINED_SHARE,
    N_BOOT,
    Statistic,
    _check_options,
    _method,
    evaluate,
    resampled_values,
)
from benchmark.metrics.undefined import MetricUndefinedError


@dataclass(frozen=True)
class PairedComparison:
    """A bootstrap comparison of two submissions on one figure.

    Attributes:
        difference: ``b - a`` on the full data (``None`` when either is undefined there).
        low: Lower end of the percentile interval of the difference, or ``None`` (see ``reason``).
        high: Upper end, or ``None``.
        p_value: Two-sided bootstrap p-value for "no difference", or ``None``.
        n_boot: Number of resamples drawn.
        n_undefined: Resamples where either statistic was undefined (dropped).
        level: Nominal coverage of the interval.
        method: How it was computed, in words.
        reason: Why figures are ``None``; ``None`` when everything is reported.
    """

    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n_boot: int
    n_undefined: int
    level: float
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The comparison as a JSON-ready dict (same keys as the attributes)."""
        return asdict(self)


def _difference(statistic_a: Statistic, statistic_b: Statistic, indices: np.ndarray) -> float | None:
    a = evaluate(statistic_a, indices)
    b = evaluate(statistic_b, indices)
    return None if a is None or b is None else b - a


def paired_bootstrap(statistic_a: Statistic, statistic_b: Statistic, n_items: int,
                     clusters: Sequence[Any] | np.ndarray | None, *, n_boot: int = N_BOOT, alpha: float = ALPHA,
                     seed: int = 0) -> PairedComparison:
    """Cluster bootstrap of the difference ``statistic_b - statistic_a`` on the same resamples.

    Both statistics are evaluated on the *same* resample of clusters each time (as in
    :func:`~benchmark.metrics.uncertainty.bootstrap_ci`), so the case-to-case variation they share cancels. The
    interval is the percentile interval of the resampled differences. The two-sided p-value is

        ``p = min(1, 2 * min((1 + #{d* <= 0}) / (B + 1), (1 + #{d* >= 0}) / (B + 1)))``

    over the ``B`` defined resampled differences ``d*``: twice the smaller tail share at zero, with the usual
    add-one correction so that it is never exactly 0 (the smallest possible value is ``2 / (B + 1)``). Identical
    submissions give difference 0, interval ``[0, 0]`` and ``p = 1``. Resamples where either statistic is undefined
    are dropped and counted; above 5% the interval and p-value are not reported. A
    :class:`~benchmark.metrics.uncertainty.VectorisedStatistic` is computed on all resamples at once (same values).

    Args:
        statistic_a: Figure of submission ``a`` on the items at the given indices (``None`` if undefined).
        statistic_b: The same figure for submission ``b``.
        n_items: Number of items both are scored on.
        clusters: Cluster label per item, or ``None`` for the plain case bootstrap.
        n_boot: Number of resamples.
        alpha: One minus the nominal coverage.
        seed: Random seed.

    Returns:
        The comparison.
    """
    _check_options(n_boot, alpha)
    method = _method("paired cluster percentile bootstrap of b - a", n_items, clusters, n_boot, seed)
    estimate = _difference(statistic_a, statistic_b, np.arange(n_items))
    if estimate is None:
        return PairedComparison(None, None, None, None, n_boot, 0, 1 - alpha, method,
                                "a or b is undefined on the full data")
    values = (resampled_values(statistic_b, n_items, clusters, n_boot=n_boot, seed=seed)
              - resampled_values(statistic_a, n_items, clusters, n_boot=n_boot, seed=seed))
    diffs = values[~np.isnan(values)]
    n_undefined = n_boot - diffs.size
    if n_undefined > MAX_UNDEFINED_SHARE * n_boot:
        reason = (f"a or b undefined on {n_undefined} of {n_boot} resamples (more than {MAX_UNDEFINED_SHARE:.0%})")
        return PairedComparison(estimate, None, None, None, n_boot, n_undefined, 1 - alpha, method, reason)
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    below = (1 + np.count_nonzero(diffs <= 0)) / (diffs.size + 1)
    above = (1 + np.count_nonzero(diffs >= 0)) / (diffs.size + 1)
    p_value = min(1.0, 2 * min(below, above))
    return PairedComparison(estimate, float(low), float(high), float(p_value), n_boot, n_undefined, 1 - alpha,
                            method)


def corrected_resampled_ttest(scores_a: Sequence[float], scores_b: Sequence[float], n_train: float,
                              n_test: float) -> dict[str, float | int]:
    """Nadeau and Bengio's corrected resampled t-test of per-fold scores.

    With per-fold differences ``d_j = b_j - a_j`` over ``k`` folds, mean ``d`` and sample variance ``s^2``
    (``ddof=1``), the naive paired t-test underestimates the variance because the training sets overlap; Nadeau &
    Bengio (2003, "Inference for the Generalization Error", Machine Learning 52:239-281) correct it:

        ``t = d / sqrt((1/k + n_test/n_train) * s^2)``,  ``df = k - 1``,

    and the two-sided p-value is ``2 * P(T_{k-1} >= |t|)`` from Student's t (``scipy.stats.t``). For k-fold cross
    validation ``n_test / n_train = 1 / (k - 1)``; pass the (mean) fold sizes.

    If every fold differs by exactly 0 (identical scores) the result is ``t = 0``, ``p = 1``. If every fold differs
    by the same non-zero amount, ``s^2 = 0`` and ``t`` would be infinite: that raises
    :class:`~benchmark.metrics.undefined.MetricUndefinedError` rather than report ``p = 0``.

    Args:
        scores_a: Figure of submission ``a`` on each fold.
        scores_b: Figure of submission ``b`` on the same folds, same order.
        n_train: Number of training cases per fold.
        n_test: Number of test cases per fold.

    Returns:
        ``{"mean_diff", "t", "p_value", "df", "k"}``.

    Raises:
        ValueError: If the score lists differ in length, have fewer than two folds or non-finite values, or the
            sizes are not positive.
        MetricUndefinedError: If the differences are constant and non-zero.
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"scores_a and scores_b must be equal-length lists, got shapes {a.shape} and {b.shape}")
    k = a.size
    if k < 2:
        raise ValueError(f"the t-test needs at least 2 folds, got {k}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("fold scores must be finite numbers (a fold where the figure is undefined cannot be used)")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    d = b - a
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return {"mean_diff": 0.0, "t": 0.0, "p_value": 1.0, "df": k - 1, "k": k}
        raise MetricUndefinedError("corrected_resampled_ttest",
                                   "the difference is the same in every fold (zero variance): t is infinite")
    t = mean / np.sqrt((1 / k + n_test / n_train) * var)
    from scipy import stats  # imported where used: importing the metrics stays cheap

    return {"mean_diff": mean, "t": float(t), "p_value": float(2 * stats.t.sf(abs(t), k - 1)), "df": k - 1, "k": k}
