"""The segmentation gallery: per-case Dice of a run against the dataset's reference masks, and contour overlays.

The reference masks come from the dataset (never from the run), so the gallery needs the data on this machine.
Dice is ``benchmark.metrics.segmentation.per_image_dice_iou`` (NaN where the reference is empty); cases with an
empty reference are listed apart with whether the run predicted any lesion pixel there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from benchmark.data.dataset import Dataset
from benchmark.metrics.segmentation import mask_counts
from leaderboard import sources

REFERENCE = (0, 200, 0)  # green
PREDICTED = (230, 40, 40)  # red


def case_scores(dataset: Dataset, run_dir: Path, folds: Iterable[int]) -> pd.DataFrame:
    """One row per predicted case: ``case_id``, ``fold``, ``label``, ``dice``, ``iou`` and ``predicted_pixels``."""
    ids, fold_of, refs, preds = [], [], [], []
    for k in folds:
        for case_id, pred in sources.fold_masks(run_dir, k).items():
            ref = dataset.decode(dataset.case(case_id))[1]
            if ref is None or ref.shape != pred.shape:
                continue
            ids.append(case_id)
            fold_of.append(k)
            refs.append(ref)
            preds.append(pred)
    if not ids:
        return pd.DataFrame(columns=["case_id", "fold", "label", "dice", "iou", "predicted_pixels"])
    counts = mask_counts(refs, preds)
    dice, iou = counts.per_image_dice_iou()
    return pd.DataFrame({"case_id": ids, "fold": fold_of, "label": [dataset.case(c).label for c in ids],
                         "dice": dice, "iou": iou, "predicted_pixels": counts.predicted})


def best_and_worst(scores: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` lesion cases with the highest and with the lowest Dice (ties broken by case id)."""
    lesion = scores[scores["dice"].notna()].sort_values(["dice", "case_id"], ascending=[False, True])
    return lesion.head(n), lesion.tail(n).iloc[::-1]


def overlay(rgb: np.ndarray, reference: np.ndarray | None, predicted: np.ndarray | None,
            width: int = 320) -> np.ndarray:
    """The image scaled to ``width`` pixels wide, reference contour in green and predicted contour in red."""
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    out = np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    # The prediction first and wider, the reference on top and thinner: where they coincide both stay visible.
    for mask, colour, thickness in ((predicted, PREDICTED, 3), (reference, REFERENCE, 1)):
        if mask is None:
            continue
        small = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colour, thickness)
    return out
