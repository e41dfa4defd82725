"""Segmentation metrics on per-image boolean masks: pure functions, no I/O.

Inputs are two sequences of the same length: reference masks and predicted masks, one pair per image. Images
differ in size; each prediction must already be at its reference mask's original size (the harness resizes
predictions back, never references down), and a shape mismatch raises ``ValueError`` naming the image index.

Headline convention (:data:`SEGMENTATION_CONVENTION`, carried by every report): Dice and IoU are computed per image
on the images whose reference mask is non-empty (the lesion images) and averaged over those images. Normal images
(empty reference) have no lesion to overlap, so they are scored separately by the empty-reference false-positive
rate: the share of them on which any lesion pixel is predicted.

Also reported: dataset-level Dice and IoU over the pixels of all images pooled, and, labelled
``paper_compatible``, the convention common in BUSI papers: mean Dice and IoU over *all* images, where an empty
reference with an empty prediction scores 1 and an empty reference with any predicted pixel scores 0, plus pixel
accuracy over all pixels. Those numbers are inflated by the normal images and are not comparable with the headline.

Everything follows from four counts per image (:class:`MaskCounts`): ``|R & P|``, ``|R|``, ``|P|`` and the number of
pixels, so the bootstrap resamples images by taking rows of the counts instead of touching the masks again. The
``*_resampled`` functions compute a figure on every resample of a cluster bootstrap at once
(:class:`~benchmark.metrics.uncertainty.Resamples`), with the same per-image formulas: the scalar function's value on
each resample bit for bit (counts summed as integers, means summed in the resample's order), NaN where it is
undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.metrics.undefined import MetricUndefinedError, defined_or_none

if TYPE_CHECKING:
    from benchmark.metrics.uncertainty import Resamples

SEGMENTATION_CONVENTION = (
    "headline Dice and IoU: per image on images with a non-empty reference mask, averaged over those images; "
    "images with an empty reference are scored by the false-positive rate (share with any predicted lesion pixel)"
)
PAPER_CONVENTION = (
    "mean Dice and IoU over all images, an empty reference scoring 1 if the prediction is empty and 0 otherwise; "
    "pixel accuracy over all pixels of all images"
)


@dataclass(frozen=True)
class MaskCounts:
    """Per-image pixel counts from which every segmentation figure is computed.

    Attributes:
        intersection: ``|R & P|`` per image, int64, shape ``(N,)``.
        reference: ``|R|`` (reference lesion pixels) per image.
        predicted: ``|P|`` (predicted lesion pixels) per image.
        pixels: Number of pixels per image.
    """

    intersection: np.ndarray
    reference: np.ndarray
    predicted: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return int(self.pixels.size)

    def take(self, indices: np.ndarray) -> MaskCounts:
        """The counts of the images at ``indices`` (repeats allowed, as in a bootstrap resample)."""
        return MaskCounts(self.intersection[indices], self.reference[indices], self.predicted[indices],
                          self.pixels[indices])

    @property
    def lesion(self) -> np.ndarray:
        """Which images have a non-empty reference mask."""
        return self.reference > 0

    def per_image_dice_iou(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-image Dice and IoU, NaN where the reference is empty (see :func:`per_image_dice_iou`)."""
        dice, iou = _dice_iou(self)
        dice[~self.lesion] = np.nan
        iou[~self.lesion] = np.nan
        return dice, iou


def _as_mask(mask: np.ndarray, what: str, index: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"image {index}: {what} mask must be two-dimensional, got shape {m.shape}")
    if m.dtype != np.bool_:
        if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)) or not np.isin(
            m, (0, 1)
        ).all():
            raise ValueError(f"image {index}: {what} mask must be boolean (or 0/1), got dtype {m.dtype}")
        m = m.astype(bool)
    return m


def mask_counts(refs: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> MaskCounts:
    """Count, per image, the intersection, reference, prediction and total pixels.

    Args:
        refs: Reference masks, one 2-D boolean (or 0/1) array per image.
        preds: Predicted masks, same length, each the shape of its reference.

    Returns:
        The per-image counts.

    Raises:
        ValueError: If the sequences are empty or differ in length, or an image's masks are not 2-D boolean
            arrays of the same shape (the message names the image index).
    """
    if len(refs) != len(preds):
        raise ValueError(f"{len(refs)} reference masks but {len(preds)} predicted masks")
    if len(refs) == 0:
        raise ValueError("no images: the mask sequences are empty")
    counts = np.zeros((4, len(refs)), dtype=np.int64)
    for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
        r, p = mask_pair(ref, pred, i)
        counts[:, i] = (np.count_nonzero(r & p), np.count_nonzero(r), np.count_nonzero(p), r.size)
    return MaskCounts(*counts)


def mask_pair(ref: np.ndarray, pred: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One image's reference and predicted masks as boolean arrays, checked.

    Args:
        ref: Reference mask, 2-D boolean (or 0/1).
        pred: Predicted mask, the reference's shape.
        index: The image's index, for error messages.

    Returns:
        ``(reference, prediction)`` as boolean arrays.

    Raises:
        ValueError: If a mask is not a 2-D boolean (or 0/1) array, or the shapes differ (the message names the
            image index).
    """
    r = _as_mask(ref, "reference", index)
    p = _as_mask(pred, "predicted", index)
    if r.shape != p.shape:
        raise ValueError(f"image {index}: predicted mask shape {p.shape} differs from reference mask shape "
                         f"{r.shape} (predictions are compared at the reference's original size)")
    return r, p


def _dice_iou(counts: MaskCounts) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Dice and IoU, NaN where both masks are empty (0/0)."""
    inter = counts.intersection.astype(np.float64)
    total = (counts.reference + counts.predicted).astype(np.float64)
    union = total - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * inter / total, inter / union


def per_image_dice_iou(refs: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Dice ``2|R&P| / (|R|+|P|)`` and IoU ``|R&P| / |R or P|`` of every image, NaN where the reference is empty.

    Args:
        refs: Reference masks, one 2-D boolean array per image.
        preds: Predicted masks at the references' sizes.

    Returns:
        ``(dice, iou)``, float64 arrays of shape ``(N,)``.
    """
    return mask_counts(refs, preds).per_image_dice_iou()


def lesion_dice_iou(counts: MaskCounts) -> tuple[float, float]:
    """Headline: mean per-image Dice and IoU over the images with a non-empty reference.

    Args:
        counts: Per-image counts (from :func:`mask_counts`).

    Returns:
        ``(mean Dice, mean IoU)``.

    Raises:
        MetricUndefinedError: If no image has a non-empty reference.
    """
    lesion = counts.lesion
    if not lesion.any():
        raise MetricUndefinedError("dice", "no image with a non-empty reference mask")
    dice, iou = _dice_iou(counts.take(lesion))
    return float(dice.mean()), float(iou.mean())


def pooled_dice_iou(counts: MaskCounts) -> tuple[float, float]:
    """Dataset-level Dice and IoU over the pixels of all images pooled.

    ``Dice = 2 sum|R&P| / (sum|R| + sum|P|)``, ``IoU = sum|R&P| / sum|R|P|``; large lesions weigh more than in the
    per-image mean.

    Raises:
        MetricUndefinedError: If no reference or predicted lesion pixel exists in any image.
    """
    inter = int(counts.intersection.sum())
    total = int(counts.reference.sum() + counts.predicted.sum())
    if total == 0:
        raise MetricUndefinedError("pooled_dice", "no reference or predicted lesion pixel in any image")
    return 2 * inter / total, inter / (total - inter)


def empty_reference_false_positive_rate(counts: MaskCounts) -> float:
    """Share of the images with an empty reference on which any lesion pixel is predicted.

    Raises:
        MetricUndefinedError: If no image has an empty reference.
    """
    empty = ~counts.lesion
    if not empty.any():
        raise MetricUndefinedError("empty_reference_false_positive_rate", "no image with an empty reference mask")
    return float(np.mean(counts.predicted[empty] > 0))


def paper_dice_iou(counts: MaskCounts) -> tuple[float, float]:
    """Paper-compatible mean Dice and IoU over all images.

    An image with empty reference and empty prediction scores 1, empty reference with a predicted pixel scores 0
    (the formula's value, since the intersection is empty); other images score their usual Dice and IoU.

    Returns:
        ``(mean Dice, mean IoU)`` over all images (always defined).
    """
    dice, iou = _dice_iou(counts)
    both_empty = counts.reference + counts.predicted == 0
    dice[both_empty] = 1.0
    iou[both_empty] = 1.0
    return float(dice.mean()), float(iou.mean())


def lesion_dice_iou_resampled(counts: MaskCounts, resamples: Resamples) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lesion_dice_iou` on every bootstrap resample: mean per-image Dice and IoU over its lesion images.

    Args:
        counts: Per-image counts of all images.
        resamples: Resamples of those images.

    Returns:
        ``(Dice, IoU)``, float64 arrays of shape ``(n_boot,)``; NaN on a resample without a lesion image.
    """
    dice, iou = _dice_iou(counts)
    return resamples.mean(dice, counts.lesion), resamples.mean(iou, counts.lesion)


def pooled_dice_iou_resampled(counts: MaskCounts, resamples: Resamples) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pooled_dice_iou` on every bootstrap resample: ``2 sum|R&P| / (sum|R| + sum|P|)`` and the IoU.

    Args:
        counts: Per-image counts of all images.
        resamples: Resamples of those images.

    Returns:
        ``(Dice, IoU)``, float64 arrays of shape ``(n_boot,)``; NaN on a resample without any reference or predicted
        lesion pixel.
    """
    inter = resamples.total(counts.intersection)
    total = resamples.total(counts.reference + counts.predicted)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(total > 0, 2 * inter / total, np.nan)
        iou = np.where(total > 0, inter / (total - inter), np.nan)
    return dice, iou


def empty_reference_false_positive_rate_resampled(counts: MaskCounts, resamples: Resamples) -> np.ndarray:
    """:func:`empty_reference_false_positive_rate` on every bootstrap resample.

    Args:
        counts: Per-image counts of all images.
        resamples: Resamples of those images.

    Returns:
        float64 array of shape ``(n_boot,)``; NaN on a resample without an image with an empty reference.
    """
    empty = ~counts.lesion
    n_empty = resamples.total(empty)
    false_positive = resamples.total(empty & (counts.predicted > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_empty > 0, false_positive / n_empty, np.nan)


def paper_dice_iou_resampled(counts: MaskCounts, resamples: Resamples) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paper_dice_iou` on every bootstrap resample (always defined).

    Args:
        counts: Per-image counts of all images.
        resamples: Resamples of those images.

    Returns:
        ``(mean Dice, mean IoU)`` over all images of each resample, float64 arrays of shape ``(n_boot,)``.
    """
    dice, iou = _dice_iou(counts)
    both_empty = counts.reference + counts.predicted == 0
    dice[both_empty] = 1.0
    iou[both_empty] = 1.0
    return resamples.mean(dice), resamples.mean(iou)


def pixel_accuracy(counts: MaskCounts) -> float:
    """Share of all pixels (all images pooled) whose predicted label equals the reference label.

    Correct pixels of an image are ``TP + TN = |R&P| + (pixels - |R| - |P| + |R&P|)``. Dominated by background.
    """
    correct = counts.pixels - counts.reference - counts.predicted + 2 * counts.intersection
    return float(correct.sum() / counts.pixels.sum())


def report_from_counts(counts: MaskCounts) -> dict[str, Any]:
    """The segmentation report (see :func:`segmentation_report`) from per-image counts."""
    undefined: dict[str, str] = {}
    headline = defined_or_none(lambda: lesion_dice_iou(counts), undefined)
    if headline is None:
        undefined["iou"] = undefined["dice"]
    pooled = defined_or_none(lambda: pooled_dice_iou(counts), undefined)
    if pooled is None:
        undefined["pooled_iou"] = undefined["pooled_dice"]
    paper_dice, paper_iou = paper_dice_iou(counts)
    n_lesion = int(counts.lesion.sum())
    return {
        "convention": SEGMENTATION_CONVENTION,
        "n_images": len(counts),
        "n_lesion_images": n_lesion,
        "n_empty_reference": len(counts) - n_lesion,
        "dice": None if headline is None else headline[0],
        "iou": None if headline is None else headline[1],
        "pooled_dice": None if pooled is None else pooled[0],
        "pooled_iou": None if pooled is None else pooled[1],
        "empty_reference_false_positive_rate": defined_or_none(
            lambda: empty_reference_false_positive_rate(counts), undefined
        ),
        # A model that never left the all-background start predicts nothing anywhere; reports flag that.
        "n_empty_predictions": int((counts.predicted == 0).sum()),
        "paper_compatible": {
            "convention": PAPER_CONVENTION,
            "dice": paper_dice,
            "iou": paper_iou,
            "pixel_accuracy": pixel_accuracy(counts),
        },
        "undefined": undefined,
    }


def segmentation_report(refs: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> dict[str, Any]:
    """Every segmentation figure, JSON-ready, with ``None`` and a reason where a figure is undefined.

    Keys: ``convention`` (:data:`SEGMENTATION_CONVENTION`), ``n_images``, ``n_lesion_images``,
    ``n_empty_reference``, ``dice`` and ``iou`` (headline, lesion images), ``pooled_dice``, ``pooled_iou``,
    ``empty_reference_false_positive_rate``, ``n_empty_predictions`` (images with no predicted lesion pixel),
    ``paper_compatible`` (``{"convention", "dice", "iou",
    "pixel_accuracy"}``) and ``undefined`` (metric -> reason: the headline without a lesion image, the
    false-positive rate without an empty-reference image, pooled figures without any lesion pixel).

    Args:
        refs: Reference masks, one 2-D boolean array per image.
        preds: Predicted masks at the references' sizes.

    Returns:
        The report; every figure is a Python ``float``/``int`` or ``None``.
    """
    return report_from_counts(mask_counts(refs, preds))
