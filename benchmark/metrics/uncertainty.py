"""Uncertainty of a figure: cluster bootstrap intervals, fold summaries, and the out-of-fold pooling check.

Cases are not independent when the data holds near-duplicate images or several images of one patient, so the
bootstrap resamples *clusters* (a duplicate cluster, or a patient) with replacement and brings every member of a
drawn cluster along; with one cluster per case it is the ordinary case bootstrap. The interval is the percentile
interval of the resampled statistic. The same seed gives the same resamples, so two metrics (or two submissions,
see :mod:`benchmark.metrics.paired`) bootstrapped with one seed see identical resamples.

Two ways to the same numbers. The generic path calls a statistic (any function of item indices) once per resample
(:func:`resample_indices`, :func:`evaluate`). The fast path takes a :class:`VectorisedStatistic`, whose
``resampled`` form computes the figure on every resample at once from a :class:`Resamples` (all resamples drawn as
one array, :func:`draw_resamples`); the evaluator's own metrics have one (their ``*_resampled`` functions beside the
scalar ones in :mod:`benchmark.metrics`). Both paths see the same resamples of the same seed and give bit-identical
values: counts are summed exactly as integers, and a mean over a resample's items is summed in the resample's item
order with numpy's own (pairwise) summation, as the scalar function's ``mean`` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from benchmark.errors import list_some
from benchmark.metrics.undefined import MetricUndefinedError

N_BOOT = 2000
ALPHA = 0.05
MAX_UNDEFINED_SHARE = 0.05  # more undefined resamples than this and the interval is not reported

Statistic = Callable[[np.ndarray], float | None]
#: How many draws :func:`draw_resamples` keeps (one scoring bootstraps all its metrics on one draw; a two-sample
#: interval uses two). A draw of 2,000 resamples of 780 items holds about 40 MB.
RESAMPLE_CACHE_SIZE = 2


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


class Resamples:
    """Every cluster bootstrap resample of one draw at once, for statistics computed on all of them together.

    Resample ``r`` is ``indices[offsets[r]:offsets[r + 1]]``: the same item indices, in the same order, as the
    ``r``-th array :func:`resample_indices` yields for the same arguments (:func:`draw_resamples` makes them). The
    helpers below give per-resample figures as arrays of shape ``(n_boot,)``, which is what a vectorised metric
    (``*_resampled`` in :mod:`benchmark.metrics`) is built from.

    Args:
        n_items: Number of items the indices point into.
        indices: Item indices of all resamples concatenated, resample after resample, int64.
        offsets: Start of each resample in ``indices``, and its end: shape ``(n_boot + 1,)``, starting at 0 and
            strictly increasing (no resample is empty).
    """

    def __init__(self, n_items: int, indices: np.ndarray, offsets: np.ndarray):
        self.n_items = int(n_items)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or self.offsets.size < 2 or self.offsets[0] != 0 \
                or self.offsets[-1] != self.indices.size or np.any(np.diff(self.offsets) <= 0):
            raise ValueError("offsets must start at 0, increase strictly and end at the number of indices")

    @property
    def n_boot(self) -> int:
        """Number of resamples."""
        return int(self.offsets.size - 1)

    def __len__(self) -> int:
        return self.n_boot

    def __getitem__(self, r: int) -> np.ndarray:
        """Item indices of resample ``r``."""
        return self.indices[self.offsets[r]:self.offsets[r + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[r] for r in range(self.n_boot))

    @cached_property
    def lengths(self) -> np.ndarray:
        """Number of items of each resample, shape ``(n_boot,)``."""
        return np.diff(self.offsets)

    @cached_property
    def resample_of(self) -> np.ndarray:
        """The resample each position of :attr:`indices` belongs to."""
        return np.repeat(np.arange(self.n_boot), self.lengths)

    @cached_property
    def weights(self) -> np.ndarray:
        """How often each item occurs in each resample: ``weights[i, r]``, int64, shape ``(n_items, n_boot)``.

        Items are rows, so taking the rows of some items (in any order) copies contiguous memory.
        """
        flat = np.bincount(self.indices * self.n_boot + self.resample_of, minlength=self.n_items * self.n_boot)
        weights = flat.reshape(self.n_items, self.n_boot)
        weights.setflags(write=False)
        return weights

    def count(self, codes: np.ndarray, n_codes: int) -> np.ndarray:
        """How many items of each code every resample holds (an item drawn twice counts twice).

        Args:
            codes: A code in ``0..n_codes-1`` per item, shape ``(n_items,)``.
            n_codes: Number of codes.

        Returns:
            int64 counts, shape ``(n_boot, n_codes)``.
        """
        codes = np.asarray(codes, dtype=np.int64)
        out = np.zeros((n_codes, self.n_boot), dtype=np.int64)
        for code in np.unique(codes):
            out[code] = self.weights[codes == code].sum(axis=0)
        return out.T

    def total(self, values: np.ndarray) -> np.ndarray:
        """The sum of an integer (or boolean) per-item value over each resample, exactly.

        Args:
            values: One integer or boolean per item, shape ``(n_items,)``.

        Returns:
            int64 sums, shape ``(n_boot,)``.
        """
        values = np.asarray(values)
        if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
            raise ValueError(f"total sums integers exactly; got dtype {values.dtype} (use mean for floats)")
        return np.add.reduceat(values.astype(np.int64)[self.indices], self.offsets[:-1])

    def mean(self, values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """The mean of a per-item value over each resample's items (those ``where`` holds), as numpy computes it.

        Resample ``r``'s value is ``values[idx][where[idx]].mean()`` with ``idx = self[r]``, bit for bit: the
        selected values are summed in the resample's order by numpy's own reduction (resamples of one length are
        averaged together as the rows of one matrix, which numpy sums row by row exactly as a single row).

        Args:
            values: One float per item, shape ``(n_items,)`` (converted to float64).
            where: Which items count, boolean shape ``(n_items,)``; ``None`` for all.

        Returns:
            float64 means, shape ``(n_boot,)``; NaN for a resample with no selected item (and where a selected
            value is NaN).
        """
        data = np.asarray(values, dtype=np.float64)[self.indices]
        rows = self.resample_of
        if where is not None:
            keep = np.asarray(where, dtype=bool)[self.indices]
            data, rows = data[keep], rows[keep]
        lengths = np.bincount(rows, minlength=self.n_boot)
        starts = np.cumsum(lengths) - lengths
        out = np.full(self.n_boot, np.nan)
        for size in np.unique(lengths[lengths > 0]):
            same = np.flatnonzero(lengths == size)
            out[same] = data[starts[same, None] + np.arange(size)].mean(axis=1)
        return out


def draw_resamples(n_items: int, clusters: Sequence[Any] | np.ndarray | None, n_boot: int = N_BOOT,
                   seed: int = 0) -> Resamples:
    """Draw all cluster bootstrap resamples at once: the very resamples of :func:`resample_indices`.

    The ``n_boot`` draws of clusters are one ``(n_boot, n_clusters)`` array from ``numpy.random.default_rng(seed)``,
    which holds the same numbers as ``n_boot`` successive draws of ``n_clusters``
    (``tests/metrics/test_fast_bootstrap.py`` checks it). The last few draws are kept (:data:`RESAMPLE_CACHE_SIZE`;
    their arrays are read-only), so the metrics of one scoring share one draw.

    Args:
        n_items: Number of items, indexed ``0..n_items-1``.
        clusters: One label per item, or ``None`` (every item its own cluster).
        n_boot: Number of resamples.
        seed: Seed of the generator.

    Returns:
        The resamples.
    """
    _check_options(n_boot, ALPHA)
    order, sizes = _cluster_layout(n_items, clusters)
    return _draw(n_items, order.astype(np.int64).tobytes(), sizes.astype(np.int64).tobytes(), int(n_boot), int(seed))


@lru_cache(maxsize=RESAMPLE_CACHE_SIZE)
def _draw(n_items: int, order_bytes: bytes, sizes_bytes: bytes, n_boot: int, seed: int) -> Resamples:
    order, sizes = np.frombuffer(order_bytes, dtype=np.int64), np.frombuffer(sizes_bytes, dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    drawn = np.random.default_rng(seed).integers(0, sizes.size, size=(n_boot, sizes.size)).ravel()
    lengths = sizes[drawn]
    # As in resample_indices, over all resamples at once: the block of drawn cluster j lists the positions
    # starts[j], starts[j] + 1, ... of its members in `order`. Built as a cumulative sum of steps: +1 inside a
    # block, and at a block's first position the jump from the previous block's last position.
    first = np.cumsum(lengths) - lengths
    step = np.ones(int(first[-1] + lengths[-1]), dtype=np.int64)
    step[first] = starts[drawn]
    step[first[1:]] -= starts[drawn[:-1]] + lengths[:-1] - 1
    indices = order[np.cumsum(step)]
    offsets = np.zeros(n_boot + 1, dtype=np.int64)
    np.cumsum(lengths.reshape(n_boot, sizes.size).sum(1), out=offsets[1:])
    indices.setflags(write=False)
    offsets.setflags(write=False)
    return Resamples(n_items, indices, offsets)


def clear_resample_cache() -> None:
    """Forget the draws :func:`draw_resamples` keeps (for timing, or to free their memory)."""
    _draw.cache_clear()


@dataclass(frozen=True)
class VectorisedStatistic:
    """A statistic with a vectorised form: the bootstraps compute it on every resample at once.

    Calling it is calling ``scalar`` (so it works wherever a :data:`Statistic` does: the full-data estimate, a
    fold's figure, the generic path); :func:`bootstrap_ci`, :func:`difference_ci` and
    :func:`~benchmark.metrics.paired.paired_bootstrap` use ``resampled`` instead of one call per resample.

    Attributes:
        scalar: The statistic of some item indices (``None``, non-finite, or raising
            :class:`~benchmark.metrics.undefined.MetricUndefinedError` where undefined).
        resampled: The same statistic on every resample of a :class:`Resamples`: shape ``(n_boot,)``, with NaN
            (or any non-finite value) exactly where ``scalar`` is undefined, and otherwise ``scalar``'s value bit for
            bit.
    """

    scalar: Statistic
    resampled: Callable[[Resamples], np.ndarray]

    def __call__(self, indices: np.ndarray) -> float | None:
        """The statistic on the items at ``indices``."""
        return self.scalar(indices)


def resampled_values(statistic: Statistic, n_items: int, clusters: Sequence[Any] | np.ndarray | None, *,
                     n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """A statistic on each bootstrap resample, NaN where it is undefined (see :func:`evaluate`).

    A :class:`VectorisedStatistic` is computed on all resamples at once (:func:`draw_resamples`); any other
    statistic is called once per resample of :func:`resample_indices`. Both give the same values.

    Args:
        statistic: Function of an index array (or a :class:`VectorisedStatistic`).
        n_items: Number of items.
        clusters: Cluster label per item, or ``None``.
        n_boot: Number of resamples.
        seed: Random seed.

    Returns:
        float64 values, shape ``(n_boot,)``, in resample order.
    """
    if isinstance(statistic, VectorisedStatistic):
        values = np.asarray(statistic.resampled(draw_resamples(n_items, clusters, n_boot, seed)), dtype=np.float64)
        if values.shape != (n_boot,):
            raise ValueError(f"a resampled statistic must give shape ({n_boot},), got {values.shape}")
        return np.where(np.isfinite(values), values, np.nan)
    evaluated = (evaluate(statistic, idx) for idx in resample_indices(n_items, clusters, n_boot, seed))
    return np.array([np.nan if v is None else v for v in evaluated], dtype=np.float64)


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
    values = resampled_values(statistic, n_items, clusters, n_boot=n_boot, seed=seed)
    defined = values[~np.isnan(values)]
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
    values = (resampled_values(statistic_a, n_a, clusters_a, n_boot=n_boot, seed=seed)
              - resampled_values(statistic_b, n_b, clusters_b, n_boot=n_boot, seed=seed + 1))
    defined = values[~np.isnan(values)]
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
