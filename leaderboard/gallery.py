"""The segmentation gallery: every case's scores of a run, sorted and paged, and contour overlays.

The scores are those the evaluator stored at scoring time (``metrics.json`` key ``"cases"``:
:data:`benchmark.evaluation.score.CASE_COLUMNS`), read by :func:`stored_case_scores`; the gallery never scores a case
itself (a run scored before busbench kept them gets them from ``busbench results verify --update``). Dice and IoU
are NaN where the reference is empty, HD95 where either mask is empty, NSD follows ``benchmark.metrics.boundary``. The
overlays draw the reference masks from the dataset (never from the run), so pictures need the data on this machine.

Contours use the Okabe-Ito palette, told apart with every common colour-vision deficiency: the reference thin and
blue, the prediction thick and orange (:func:`legend`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from benchmark.errors import BusbenchError
from benchmark.evaluation.score import stored_cases
from benchmark.fileio import read_json
from benchmark.results.rundir import RunDir

REFERENCE = (0, 114, 178)  # Okabe-Ito blue
PREDICTED = (230, 159, 0)  # Okabe-Ito orange
#: The gallery's columns, as :func:`stored_case_scores` gives them.
COLUMNS = ["case_id", "fold", "label", "dice", "iou", "hd95", "nsd", "predicted_pixels"]
#: Sort keys: label -> (column, whether higher is better).
SORT_KEYS = {"Dice": ("dice", True), "IoU": ("iou", True), "HD95": ("hd95", False), "NSD": ("nsd", True)}
#: Which cases to list.
SUBSETS = ("images with a lesion", "images without a lesion", "all images")


def stored_case_scores(metrics: dict[str, Any]) -> pd.DataFrame | None:
    """The per-case scores a run stored at scoring time, one row per case in split order; ``None`` if it has none.

    Args:
        metrics: The run's ``metrics.json`` document.

    Returns:
        The :data:`COLUMNS` frame (undefined figures as NaN), or ``None`` for a run scored before busbench kept them.
    """
    table = stored_cases(metrics)
    if table is None:
        return None
    frame = pd.DataFrame({c: table[c] for c in COLUMNS})
    for column in ("dice", "iou", "hd95", "nsd"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame.astype({"fold": int, "predicted_pixels": int})


def run_case_scores(run_dir: str | Path | None) -> pd.DataFrame | None:
    """:func:`stored_case_scores` of the ``metrics.json`` in a run folder (the results store leaves the table out).

    ``None`` when the folder, its file or its table is missing, or the file cannot be read.
    """
    if not run_dir:
        return None
    try:
        doc = read_json(RunDir(run_dir).metrics_json)
    except BusbenchError:
        return None
    return stored_case_scores(doc) if isinstance(doc, dict) else None


def subset(scores: pd.DataFrame, which: str) -> pd.DataFrame:
    """The cases of one of :data:`SUBSETS` (a lesion image is one with a defined Dice, its reference non-empty)."""
    if which == SUBSETS[0]:
        return scores[scores["dice"].notna()]
    if which == SUBSETS[1]:
        return scores[scores["dice"].isna()]
    if which == SUBSETS[2]:
        return scores
    raise ValueError(f"unknown subset {which!r} (expected one of {', '.join(SUBSETS)})")


def sort_cases(scores: pd.DataFrame, by: str, *, best_first: bool = False) -> pd.DataFrame:
    """The cases sorted by one of :data:`SORT_KEYS`, worst (or best) first; ties broken by case id.

    An undefined HD95 on a lesion image (nothing predicted there) ranks as the worst HD95; other undefined figures
    (Dice, IoU, HD95 of an image without a lesion) come last either way.
    """
    column, higher_is_better = SORT_KEYS[by]
    key = scores[column].astype(float)
    if column == "hd95":
        key = key.where(key.notna() | scores["dice"].isna(), np.inf)
    descending = best_first == higher_is_better
    ordered = scores.assign(_key=key).sort_values("case_id", kind="stable")
    ordered = ordered.sort_values("_key", ascending=not descending, na_position="last", kind="stable")
    return ordered.drop(columns="_key").reset_index(drop=True)


def n_pages(n_cases: int, size: int) -> int:
    """How many pages of ``size`` cases ``n_cases`` cases fill (at least one)."""
    return max(1, -(-n_cases // size))


def page(scores: pd.DataFrame, number: int, size: int) -> pd.DataFrame:
    """Page ``number`` (from 1) of ``size`` cases; a number past the last page gives the last page."""
    number = min(max(1, number), n_pages(len(scores), size))
    return scores.iloc[(number - 1) * size:number * size]


def legend(width: int = 360) -> np.ndarray:
    """A strip naming the contours: a thin blue line for the reference, a thick orange one for the prediction."""
    out = np.full((28, width, 3), 255, dtype=np.uint8)
    half = width // 2
    for x, colour, thickness, text in ((8, REFERENCE, 1, "reference"), (half + 8, PREDICTED, 3, "prediction")):
        cv2.line(out, (x, 14), (x + 40, 14), colour, thickness)
        cv2.putText(out, text, (x + 50, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    return out


def overlay(rgb: np.ndarray, reference: np.ndarray | None, predicted: np.ndarray | None,
            width: int = 320) -> np.ndarray:
    """The image scaled to ``width`` pixels wide, the reference contour thin and blue, the predicted thick, orange."""
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
