"""Boundary metrics on per-image boolean masks: HD95 and normalised surface distance (NSD). Pure functions, no I/O.

Inputs are as for :mod:`benchmark.metrics.segmentation`: one reference and one predicted mask per image, each
prediction at its reference's original size, so every distance is in pixels of the original image (BUSI records no
physical pixel spacing).

Definitions (those of MONAI's ``compute_hausdorff_distance(percentile=95)`` and ``compute_surface_dice`` without
sub-pixel surfaces, against which ``tests/metrics/test_metrics_boundary.py`` checks them):

* The surface ``S(M)`` of a mask ``M`` is its inner boundary: the pixels of ``M`` with at least one 4-neighbour
  outside ``M`` (``M XOR erode(M)`` with the 3x3 cross; pixels beyond the image edge count as outside).
* ``d(x, S)`` is the Euclidean distance between pixel centres from ``x`` to the nearest pixel of ``S``.
* ``HD95 = max(P95{d(p, S(R)) : p in S(P)}, P95{d(r, S(P)) : r in S(R)})``: the larger of the two directed 95th
  percentiles (linear interpolation, numpy's default). medpy's ``hd95`` instead takes the 95th percentile of both
  directions' distances pooled, which is never larger; the two differ slightly and are not interchangeable.
* ``NSD_tau = (|{p in S(P) : d(p, S(R)) <= tau}| + |{r in S(R) : d(r, S(P)) <= tau}|) / (|S(P)| + |S(R)|)``: the share
  of both boundaries lying within the tolerance ``tau`` of the other (Nikolov et al. 2021, "Clinically applicable
  segmentation of head and neck anatomy for radiotherapy", with each boundary pixel counted once instead of
  weighted by its surface-element length). ``tau`` is :data:`NSD_TOLERANCE_PX` = 5 pixels, about 1% of a BUSI
  image's width. The benchmark's models segment at 128 to 256 pixels, where one model pixel spans 2 to 5 pixels of
  the original image, so a tighter tolerance would mostly measure the input resolution: a boundary exact on the
  model's grid is already up to about 2 px off once resized back (the best published U-Net, at 192 px, scores NSD
  0.23 at 2 px and 0.45 at 5 px, with a lesion Dice of 0.72).

Empty-mask conventions (:data:`BOUNDARY_CONVENTION`, carried by every report), following the Dice headline:

* HD95 is undefined (NaN) where the reference or the prediction is empty: there is no surface to measure from.
  The reported ``hd95`` is the mean over the lesion images (non-empty reference) with a non-empty prediction, and
  ``n_hd95_undefined`` counts the lesion images left out because nothing was predicted on them: a model that misses
  lesions is not penalised by ``hd95`` itself, so read it with ``nsd`` and Dice.
* NSD is 1 where both masks are empty and 0 where exactly one is. The reported ``nsd`` is the mean over the lesion
  images (a missed lesion scores 0); images with an empty reference are left to the empty-reference false-positive
  rate, as for Dice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.metrics.segmentation import mask_pair
from benchmark.metrics.undefined import MetricUndefinedError, defined_or_none

if TYPE_CHECKING:
    from benchmark.metrics.uncertainty import Resamples

#: NSD tolerance in pixels of the original image.
NSD_TOLERANCE_PX = 5.0
#: The Hausdorff percentile.
HD_PERCENTILE = 95.0
BOUNDARY_CONVENTION = (
    f"HD95: larger of the two directed {HD_PERCENTILE:g}th percentiles of Euclidean distances between the masks' "
    "inner 4-connected boundary pixels, in pixels of the original image; undefined where either mask is empty, "
    "averaged over lesion images with a non-empty prediction (n_hd95_undefined: lesion images left out). "
    f"NSD: share of both boundaries within {NSD_TOLERANCE_PX:g} px of the other; 1 where both masks are empty, 0 "
    "where exactly one is; averaged over lesion images (non-empty reference)"
)


@dataclass(frozen=True)
class BoundaryScores:
    """Per-image boundary figures, from which the boundary report and its bootstrap are computed.

    Attributes:
        hd95: HD95 per image in pixels, float64 shape ``(N,)``, NaN where the reference or prediction is empty.
        nsd: NSD per image at :attr:`tolerance`, 1 where both masks are empty and 0 where exactly one is.
        lesion: Whether each image's reference mask is non-empty.
        tolerance: The NSD tolerance in pixels.
    """

    hd95: np.ndarray
    nsd: np.ndarray
    lesion: np.ndarray
    tolerance: float = NSD_TOLERANCE_PX

    def __len__(self) -> int:
        return int(self.lesion.size)

    def take(self, indices: np.ndarray) -> BoundaryScores:
        """The figures of the images at ``indices`` (repeats allowed, as in a bootstrap resample)."""
        return BoundaryScores(self.hd95[indices], self.nsd[indices], self.lesion[indices], self.tolerance)


def surface(mask: np.ndarray) -> np.ndarray:
    """The inner boundary of a boolean mask: its pixels with a 4-neighbour outside it (or beyond the image edge).

    Args:
        mask: 2-D boolean array.

    Returns:
        Boolean array of the mask's shape; empty where the mask is empty.
    """
    inside = np.pad(mask.astype(bool, copy=False), 1)  # beyond the edge counts as outside
    interior = inside[1:-1, 1:-1] & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    return inside[1:-1, 1:-1] & ~interior


def surface_distances(reference: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each boundary pixel of one mask to the other mask's boundary, both directions.

    Both masks must be non-empty. The boundaries are found on the bounding box of both masks (one pixel wider), and
    each boundary pixel's nearest pixel of the other boundary by a k-d tree; the distances are exact and the cost
    follows the lesions' size, not the image's.

    Args:
        reference: Reference mask ``R``, 2-D boolean, non-empty.
        predicted: Predicted mask ``P``, same shape, non-empty.

    Returns:
        ``(d(S(P) -> S(R)), d(S(R) -> S(P)))``: float64 distances in pixels, one per boundary pixel of ``P`` and of
        ``R`` respectively, in row-major order.

    Raises:
        ValueError: If either mask is empty.
    """
    if not reference.any() or not predicted.any():
        raise ValueError("surface distances need two non-empty masks")
    either = reference | predicted
    rows, cols = np.flatnonzero(either.any(axis=1)), np.flatnonzero(either.any(axis=0))
    box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    # The margin keeps a background ring around both masks (or the image edge, outside either way), so the
    # surfaces found on the crop are those of the full masks.
    p_ref, p_pred = np.argwhere(surface(reference[box])), np.argwhere(surface(predicted[box]))
    from scipy.spatial import cKDTree

    # Nearest boundary pixel by k-d tree: the same sqrt(dy^2 + dx^2) of integer offsets a Euclidean distance
    # transform gives, at a cost that follows the boundaries' length instead of the box's area.
    to_ref, _ = cKDTree(p_ref).query(p_pred)
    to_pred, _ = cKDTree(p_pred).query(p_ref)
    return np.asarray(to_ref, dtype=np.float64), np.asarray(to_pred, dtype=np.float64)


def _hd(d_pred: np.ndarray, d_ref: np.ndarray, percentile: float) -> float:
    return float(max(np.percentile(d_pred, percentile), np.percentile(d_ref, percentile)))


def _nsd(d_pred: np.ndarray, d_ref: np.ndarray, tolerance: float) -> float:
    within = np.count_nonzero(d_pred <= tolerance) + np.count_nonzero(d_ref <= tolerance)
    return within / (d_pred.size + d_ref.size)


def hausdorff_percentile(reference: np.ndarray, predicted: np.ndarray, percentile: float = HD_PERCENTILE) -> float:
    """Symmetric percentile Hausdorff distance of one image, in pixels (see the module docstring).

    ``max(P_q{d(p, S(R)) : p in S(P)}, P_q{d(r, S(P)) : r in S(R)})`` with ``q = percentile``.

    Args:
        reference: Reference mask, 2-D boolean (or 0/1).
        predicted: Predicted mask at the reference's size.
        percentile: ``q`` in [0, 100]; 95 gives HD95, 100 the Hausdorff distance.

    Returns:
        The distance; NaN where either mask is empty (undefined), 0 where the boundaries coincide.

    Raises:
        ValueError: If the masks are not 2-D boolean arrays of one shape, or the percentile is outside [0, 100].
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
    r, p = mask_pair(reference, predicted, 0)
    if not r.any() or not p.any():
        return float("nan")
    return _hd(*surface_distances(r, p), percentile)


def normalised_surface_distance(reference: np.ndarray, predicted: np.ndarray,
                                tolerance: float = NSD_TOLERANCE_PX) -> float:
    """Normalised surface distance (surface Dice) of one image at ``tolerance`` pixels (see the module docstring).

    ``(|{p in S(P) : d(p, S(R)) <= tau}| + |{r in S(R) : d(r, S(P)) <= tau}|) / (|S(P)| + |S(R)|)``.

    Args:
        reference: Reference mask, 2-D boolean (or 0/1).
        predicted: Predicted mask at the reference's size.
        tolerance: ``tau`` in pixels, >= 0.

    Returns:
        NSD in [0, 1]: 1 where both masks are empty, 0 where exactly one is.

    Raises:
        ValueError: If the masks are not 2-D boolean arrays of one shape, or the tolerance is negative or not
            finite.
    """
    _check_tolerance(tolerance)
    r, p = mask_pair(reference, predicted, 0)
    if not r.any() or not p.any():
        return 1.0 if not r.any() and not p.any() else 0.0
    return _nsd(*surface_distances(r, p), tolerance)


def _check_tolerance(tolerance: float) -> None:
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"the NSD tolerance must be a finite number of pixels >= 0, got {tolerance}")


def boundary_scores(refs: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                    tolerance: float = NSD_TOLERANCE_PX) -> BoundaryScores:
    """HD95 and NSD of every image, each image's surfaces and distances computed once.

    Args:
        refs: Reference masks, one 2-D boolean (or 0/1) array per image.
        preds: Predicted masks, same length, each at its reference's size.
        tolerance: The NSD tolerance in pixels.

    Returns:
        The per-image figures, with the empty-mask conventions of the module docstring.

    Raises:
        ValueError: If the sequences are empty or differ in length, or an image's masks are not 2-D boolean arrays
            of one shape (the message names the image index), or the tolerance is invalid.
    """
    if len(refs) != len(preds):
        raise ValueError(f"{len(refs)} reference masks but {len(preds)} predicted masks")
    if len(refs) == 0:
        raise ValueError("no images: the mask sequences are empty")
    _check_tolerance(tolerance)
    hd95 = np.full(len(refs), np.nan)
    nsd = np.zeros(len(refs))
    lesion = np.zeros(len(refs), dtype=bool)
    for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
        r, p = mask_pair(ref, pred, i)
        lesion[i], predicted = bool(r.any()), bool(p.any())
        if lesion[i] and predicted:
            d_pred, d_ref = surface_distances(r, p)
            hd95[i] = _hd(d_pred, d_ref, HD_PERCENTILE)
            nsd[i] = _nsd(d_pred, d_ref, tolerance)
        else:
            nsd[i] = 1.0 if not lesion[i] and not predicted else 0.0
    return BoundaryScores(hd95, nsd, lesion, float(tolerance))


def _hd95_defined(scores: BoundaryScores) -> np.ndarray:
    """The images :func:`lesion_hd95` averages over: lesion images with a defined HD95."""
    return scores.lesion & ~np.isnan(scores.hd95)


def lesion_hd95(scores: BoundaryScores) -> float:
    """Mean HD95 over the lesion images with a defined HD95 (a non-empty prediction).

    Raises:
        MetricUndefinedError: If no lesion image has a non-empty prediction.
    """
    defined = scores.hd95[_hd95_defined(scores)]
    if defined.size == 0:
        raise MetricUndefinedError("hd95", "no image with both a non-empty reference and a non-empty prediction")
    return float(defined.mean())


def lesion_hd95_median(scores: BoundaryScores) -> float:
    """Median HD95 over the lesion images with a defined HD95 (less swayed by a few far-off predictions).

    Raises:
        MetricUndefinedError: If no lesion image has a non-empty prediction.
    """
    defined = scores.hd95[_hd95_defined(scores)]
    if defined.size == 0:
        raise MetricUndefinedError("hd95_median",
                                   "no image with both a non-empty reference and a non-empty prediction")
    return float(np.median(defined))


def lesion_nsd(scores: BoundaryScores) -> float:
    """Mean NSD over the lesion images (non-empty reference); a lesion image with an empty prediction scores 0.

    Raises:
        MetricUndefinedError: If no image has a non-empty reference.
    """
    if not scores.lesion.any():
        raise MetricUndefinedError("nsd", "no image with a non-empty reference mask")
    return float(scores.nsd[scores.lesion].mean())


def lesion_hd95_resampled(scores: BoundaryScores, resamples: Resamples) -> np.ndarray:
    """:func:`lesion_hd95` on every bootstrap resample (mean HD95 over its lesion images with a prediction).

    Args:
        scores: Per-image figures of all images.
        resamples: Resamples of those images (:class:`~benchmark.metrics.uncertainty.Resamples`); each mean is
            summed in the resample's order, so it equals the scalar function's bit for bit.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a lesion image with a non-empty prediction.
    """
    return resamples.mean(scores.hd95, _hd95_defined(scores))


def lesion_nsd_resampled(scores: BoundaryScores, resamples: Resamples) -> np.ndarray:
    """:func:`lesion_nsd` on every bootstrap resample (mean NSD over its lesion images).

    Args:
        scores: Per-image figures of all images.
        resamples: Resamples of those images (:class:`~benchmark.metrics.uncertainty.Resamples`).

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without a lesion image.
    """
    return resamples.mean(scores.nsd, scores.lesion)


def boundary_report(scores: BoundaryScores) -> dict[str, Any]:
    """The boundary figures, JSON-ready, to merge into a segmentation report.

    Keys: ``boundary_convention`` (:data:`BOUNDARY_CONVENTION`), ``nsd_tolerance_px``, ``hd95`` (mean over lesion
    images with a prediction), ``hd95_median``, ``n_hd95_undefined`` (lesion images without a predicted pixel, left
    out of both), ``nsd`` (mean over lesion images) and ``undefined`` (metric -> reason).

    Args:
        scores: Per-image figures (from :func:`boundary_scores`).

    Returns:
        The report; every figure is a Python ``float``/``int`` or ``None``.
    """
    undefined: dict[str, str] = {}
    return {
        "boundary_convention": BOUNDARY_CONVENTION,
        "nsd_tolerance_px": scores.tolerance,
        "hd95": defined_or_none(lambda: lesion_hd95(scores), undefined),
        "hd95_median": defined_or_none(lambda: lesion_hd95_median(scores), undefined),
        "n_hd95_undefined": int((scores.lesion & np.isnan(scores.hd95)).sum()),
        "nsd": defined_or_none(lambda: lesion_nsd(scores), undefined),
        "undefined": undefined,
    }
