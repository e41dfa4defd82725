"""Uncertainty of a figure: cluster bootstrap intervals, fold summaries, and the out-of-fold pooling check.

Cases are not independent when the data holds near-duplicate images or several images of one patient, so the
bootstrap resamples *clusters* (a duplicate cluster, or a patient) with replacement and brings every member of a
drawn cluster along; with one cluster per case it is the ordinary case bootstrap. The interval is the percentile
interval of the resampled statistic. The same seed gives the same resamples, so two metrics (or two submissions,
see :mod:`benchmark.metrics.paired`) bootstrapped with one seed see identical resamples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmark.errors import list_some
from benchmark.metrics.undefined import MetricUndefinedError

N_BOOT = 2000
ALPHA = 0.05
MAX_UNDEFINED_SHARE = 0.05  # more undefined resamples than this and the interval is not reported

Statistic = Callable[[np.ndarray], float | None]


@dataclass(frozen=True)
class ConfidenceInterval:
    """A bootstrap interval around a figure.

    Attributes:
        estimate: The statistic on the full data (``None`` when undefined there).
        low: Lower end of the interval, or ``None`` when it is not reported (see ``reason``).
        high: Upper end, or ``None``.
        n_boot: Number of resamples drawn.
        n_undefined: Resamples on which the statistic was undefined (dropped from the interval).
        level: Nominal coverage, ``1 - alpha``.
        method: How the interval was made, in words (kind, resampling unit, seed).
        reason: Why ``low``/``high`` (or the estimate) are ``None``; ``None`` when they are reported.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n_boot: int
    n_undefined: int
    level: float
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The interval as a JSON-ready dict (same keys as the attributes)."""
        return asdict(self)


def _check_options(n_boot: int, alpha: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _cluster_layout(n_items: int, clusters: Sequence[Any] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Items ordered by cluster, and each cluster's size, for fast resampling."""
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if clusters is None:
        return np.arange(n_items), np.ones(n_items, dtype=np.int64)
    labels = np.asarray(clusters)
    if labels.shape != (n_items,):
        raise ValueError(f"clusters must have shape ({n_items},), one label per item, got {labels.shape}")
    _, inverse = np.unique(labels, return_inverse=True)
    return np.argsort(inverse, kind="stable"), np.bincount(inverse)


def resample_indices(n_items: int, clusters: Sequence[Any] | np.ndarray | None, n_boot: int = N_BOOT,
                     seed: int = 0) -> Iterator[np.ndarray]:
    """Draw cluster bootstrap resamples as arrays of item indices.

    Each resample draws as many clusters as there are, uniformly with replacement, and lists every member of each
    drawn cluster (a cluster drawn twice appears twice), so its length varies with the cluster sizes drawn.

    Args:
        n_items: Number of items (cases or images), indexed ``0..n_items-1``.
        clusters: One label per item (duplicate cluster or patient id); ``None`` makes every item its own cluster.
        n_boot: Number of resamples.
        seed: Seed of the ``numpy.random.default_rng`` generator.

    Yields:
        Item indices of one resample, int64.
    """
    order, sizes = _cluster_layout(n_items, clusters)
    starts = np.cumsum(sizes) - sizes
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        drawn = rng.integers(0, sizes.size, size=sizes.size)
        lengths = sizes[drawn]
        # Position k of the output is member (k - start of its block) of its drawn cluster.
        block_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
        yield order[np.repeat(starts[drawn], lengths) + np.arange(block_start.size) - block_start]


def evaluate(statistic: Statistic, indices: np.ndarray) -> float | None:
    """Run a statistic on some item indices; ``None`` when it is undefined there.

    Undefined means: it returned ``None`` or a non-finite number, or raised
    :class:`~benchmark.metrics.undefined.MetricUndefinedError` (so metric functions can be used as they are).
    """
    try:
        value = statistic(indices)
    except MetricUndefinedError:
        return None
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _method(kind: str, n_items: int, clusters: Sequence[Any] | np.ndarray | None, n_boot: int, seed: int) -> str:
    unit = f"{n_items} items" if clusters is None else f"{np.unique(np.asarray(clusters)).size} clusters"
    return f"{kind}, {n_boot} resamples of {unit} with replacement (seed {seed})"


def bootstrap_ci(statistic: Statistic, n_items: int, clusters: Sequence[Any] | np.ndarray | None, *,
                 n_boot: int = N_BOOT, alpha: float = ALPHA, seed: int = 0) -> ConfidenceInterval:
    """Cluster percentile bootstrap interval of ``statistic``.

    The estimate is ``statistic(arange(n_items))``. Each of ``n_boot`` resamples (:func:`resample_indices`) gives
    one value; the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles (linear interpolation) of the defined
    values. Resamples where the statistic is undefined (see :func:`evaluate`, for example a class missing from
    the resample) are dropped and counted; if more than 5% are undefined the interval is not reported (``low`` and
    ``high`` are ``None`` and ``reason`` says why), because dropping them would bias it.

    Args:
        statistic: Function of an index array returning the figure on those items (``None`` if undefined).
        n_items: Number of items.
        clusters: Cluster label per item, or ``None`` for the plain case bootstrap.
        n_boot: Number of resamples.
        alpha: One minus the nominal coverage.
        seed: Random seed; the same seed gives the same resamples.

    Returns:
        The interval.
    """
    _check_options(n_boot, alpha)
    method = _method("cluster percentile bootstrap", n_items, clusters, n_boot, seed)
    estimate = evaluate(statistic, np.arange(n_items))
    if estimate is None:
        return ConfidenceInterval(None, None, None, n_boot, 0, 1 - alpha, method, "undefined on the full data")
    values = [evaluate(statistic, idx) for idx in resample_indices(n_items, clusters, n_boot, seed)]
    defined = np.array([v for v in values if v is not None], dtype=np.float64)
    n_undefined = n_boot - defined.size
    if n_undefined > MAX_UNDEFINED_SHARE * n_boot:
        reason = (f"undefined on {n_undefined} of {n_boot} resamples (more than {MAX_UNDEFINED_SHARE:.0%}); "
                  "an interval from the rest would be biased")
        return ConfidenceInterval(estimate, None, None, n_boot, n_undefined, 1 - alpha, method, reason)
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    return ConfidenceInterval(estimate, float(low), float(high), n_boot, n_undefined, 1 - alpha, method)


def difference_ci(statistic_a: Statistic, n_a: int, clusters_a: Sequence[Any] | np.ndarray | None,
                  statistic_b: Statistic, n_b: int, clusters_b: Sequence[Any] | np.ndarray | None, *,
                  n_boot: int = N_BOOT, alpha: float = ALPHA, seed: int = 0) -> ConfidenceInterval:
    """Cluster percentile bootstrap interval of ``statistic_a - statistic_b`` on two *independent* samples.

    For figures on different data (a model's cross-validated score on its own dataset and its score on another
    dataset) nothing pairs the cases, so each resample draws the clusters of each sample independently: resample
    ``r`` gives ``a(I_r) - b(J_r)`` with ``I_r`` drawn from sample a's clusters (seed ``seed``) and ``J_r`` from
    sample b's (seed ``seed + 1``). A resample on which either statistic is undefined is dropped and counted; with
    more than 5% undefined the interval is not reported (as :func:`bootstrap_ci`). For paired data (two models on the
    same cases) use :func:`benchmark.metrics.paired.paired_bootstrap` instead.

    Args:
        statistic_a: Function of sample a's item indices.
        n_a: Number of items of sample a.
        clusters_a: Cluster label per item of sample a, or ``None``.
        statistic_b: Function of sample b's item indices.
        n_b: Number of items of sample b.
        clusters_b: Cluster label per item of sample b, or ``None``.
        n_boot: Number of resamples.
        alpha: One minus the nominal coverage.
        seed: Random seed.

    Returns:
        The interval of the difference; ``estimate`` is ``a(all) - b(all)``.
    """
    _check_options(n_boot, alpha)
    method = (f"independent two-sample cluster percentile bootstrap, {n_boot} resamples of "
              f"{n_a if clusters_a is None else np.unique(np.asarray(clusters_a)).size} and "
              f"{n_b if clusters_b is None else np.unique(np.asarray(clusters_b)).size} clusters with replacement "
              f"(seeds {seed} and {seed + 1})")
    a, b = evaluate(statistic_a, np.arange(n_a)), evaluate(statistic_b, np.arange(n_b))
    if a is None or b is None:
        return ConfidenceInterval(None, None, None, n_boot, 0, 1 - alpha, method, "undefined on the full data")
    values = []
    for i, j in zip(resample_indices(n_a, clusters_a, n_boot, seed), resample_indices(n_b, clusters_b, n_boot,
                                                                                       seed + 1), strict=True):
        va, vb = evaluate(statistic_a, i), evaluate(statistic_b, j)
        values.append(None if va is None or vb is None else va - vb)
    defined = np.array([v for v in values if v is not None], dtype=np.float64)
    n_undefined = n_boot - defined.size
    if n_undefined > MAX_UNDEFINED_SHARE * n_boot:
        reason = (f"undefined on {n_undefined} of {n_boot} resamples (more than {MAX_UNDEFINED_SHARE:.0%}); "
                  "an interval from the rest would be biased")
        return ConfidenceInterval(a - b, None, None, n_boot, n_undefined, 1 - alpha, method, reason)
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    return ConfidenceInterval(a - b, float(low), float(high), n_boot, n_undefined, 1 - alpha, method)


def fold_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and spread of a per-fold figure over the folds where it is defined.

    ``None`` (and NaN) values are undefined folds: they are left out, and ``n_defined`` says how many folds the
    mean stands on. The standard deviation uses ``ddof=1`` (the spread between folds, not an error of the mean).

    Args:
        values: The figure on each fold, ``None`` where undefined.

    Returns:
        ``{"mean", "std", "n_defined", "n_folds"}``: ``mean`` is ``None`` without a defined fold, ``std`` is
        ``None`` with fewer than two.
    """
    defined = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    return {
        "mean": float(defined.mean()) if defined.size else None,
        "std": float(defined.std(ddof=1)) if defined.size >= 2 else None,
        "n_defined": int(defined.size),
        "n_folds": len(values),
    }


def check_out_of_fold(case_ids_per_fold: Sequence[Sequence[str]], expected: Iterable[str] | None = None) -> list[str]:
    """Check that the test cases of the folds can be pooled: every case predicted exactly once.

    Args:
        case_ids_per_fold: The case ids predicted (tested) in each fold.
        expected: If given, every case that must be predicted; missing or unknown cases are then errors too.

    Returns:
        The pooled case ids, fold by fold, in the order given.

    Raises:
        ValueError: Naming the cases predicted more than once (and with ``expected``, those never predicted or
            not expected).
    """
    pooled = [case for fold in case_ids_per_fold for case in fold]
    repeated = {case for case, n in Counter(pooled).items() if n > 1}
    if repeated:
        raise ValueError(f"{len(repeated)} case(s) are predicted more than once across the folds: "
                         f"{list_some(repeated)}")
    if expected is not None:
        wanted = set(expected)
        missing = wanted - set(pooled)
        if missing:
            raise ValueError(f"{len(missing)} case(s) are never predicted: {list_some(missing)}")
        unknown = set(pooled) - wanted
        if unknown:
            raise ValueError(f"{len(unknown)} predicted case(s) are not expected: {list_some(unknown)}")
    return pooled
