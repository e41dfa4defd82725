"""Segmentation metrics against direct numpy computations on random and edge-case masks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.metrics.segmentation import (
    SEGMENTATION_CONVENTION,
    empty_reference_false_positive_rate,
    lesion_dice_iou,
    mask_counts,
    paper_dice_iou,
    per_image_dice_iou,
    pixel_accuracy,
    pooled_dice_iou,
    segmentation_report,
)
from benchmark.metrics.undefined import MetricUndefinedError


def random_masks(seed: int, n: int = 12) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images of differing sizes; about a third with an empty reference, some with an empty prediction."""
    rng = np.random.default_rng(seed)
    refs, preds = [], []
    for i in range(n):
        shape = (int(rng.integers(5, 20)), int(rng.integers(5, 20)))
        ref = rng.random(shape) < 0.3 if i % 3 else np.zeros(shape, bool)
        pred = rng.random(shape) < 0.3 if i % 4 else np.zeros(shape, bool)
        refs.append(ref)
        preds.append(pred)
    return refs, preds


def dice_iou_by_hand(ref: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    inter = np.logical_and(ref, pred).sum()
    return 2 * inter / (ref.sum() + pred.sum()), inter / np.logical_or(ref, pred).sum()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_against_numpy(seed: int) -> None:
    refs, preds = random_masks(seed)
    dice, iou = per_image_dice_iou(refs, preds)
    lesion = [i for i, r in enumerate(refs) if r.any()]
    empty = [i for i, r in enumerate(refs) if not r.any()]
    for i in range(len(refs)):
        if i in lesion:
            assert (dice[i], iou[i]) == pytest.approx(dice_iou_by_hand(refs[i], preds[i]))
        else:
            assert np.isnan(dice[i]) and np.isnan(iou[i])
    report = segmentation_report(refs, preds)
    by_hand = [dice_iou_by_hand(refs[i], preds[i]) for i in lesion]
    assert report["dice"] == pytest.approx(np.mean([d for d, _ in by_hand]))
    assert report["iou"] == pytest.approx(np.mean([j for _, j in by_hand]))
    all_r = np.concatenate([r.ravel() for r in refs])
    all_p = np.concatenate([p.ravel() for p in preds])
    assert (report["pooled_dice"], report["pooled_iou"]) == pytest.approx(dice_iou_by_hand(all_r, all_p))
    assert report["empty_reference_false_positive_rate"] == pytest.approx(np.mean([preds[i].any() for i in empty]))
    paper = [dice_iou_by_hand(r, p) if (r.any() or p.any()) else (1.0, 1.0) for r, p in zip(refs, preds, strict=True)]
    assert report["paper_compatible"]["dice"] == pytest.approx(np.mean([d for d, _ in paper]))
    assert report["paper_compatible"]["iou"] == pytest.approx(np.mean([j for _, j in paper]))
    assert report["paper_compatible"]["pixel_accuracy"] == pytest.approx(np.mean(all_r == all_p))
    assert (report["n_images"], report["n_lesion_images"], report["n_empty_reference"]) == (
        len(refs), len(lesion), len(empty))
    assert report["n_empty_predictions"] == sum(not p.any() for p in preds)
    assert report["convention"] == SEGMENTATION_CONVENTION
    assert report["undefined"] == {}
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_empty_reference_with_prediction_scores_zero_in_paper_convention() -> None:
    refs = [np.zeros((4, 4), bool), np.zeros((4, 4), bool)]
    preds = [np.zeros((4, 4), bool), np.eye(4, dtype=bool)]
    assert paper_dice_iou(mask_counts(refs, preds)) == (0.5, 0.5)
    assert empty_reference_false_positive_rate(mask_counts(refs, preds)) == 0.5


def test_all_empty_masks() -> None:
    refs = [np.zeros((3, 5), bool), np.zeros((6, 2), bool)]
    report = segmentation_report(refs, [r.copy() for r in refs])
    for key in ("dice", "iou", "pooled_dice", "pooled_iou"):
        assert report[key] is None and key in report["undefined"]
    assert report["empty_reference_false_positive_rate"] == 0.0
    assert report["n_empty_predictions"] == 2
    assert report["paper_compatible"]["dice"] == 1.0
    assert report["paper_compatible"]["pixel_accuracy"] == 1.0
    with pytest.raises(MetricUndefinedError):
        lesion_dice_iou(mask_counts(refs, refs))
    with pytest.raises(MetricUndefinedError):
        pooled_dice_iou(mask_counts(refs, refs))


def test_all_full_masks() -> None:
    refs = [np.ones((3, 5), bool), np.ones((7, 2), bool)]
    report = segmentation_report(refs, refs)
    assert report["dice"] == report["iou"] == report["pooled_dice"] == 1.0
    assert report["empty_reference_false_positive_rate"] is None
    assert "empty_reference_false_positive_rate" in report["undefined"]
    assert report["n_empty_reference"] == 0


def test_single_image_and_disjoint_prediction() -> None:
    ref = np.zeros((4, 4), bool)
    ref[:2] = True
    pred = ~ref
    report = segmentation_report([ref], [pred])
    assert report["dice"] == 0.0 and report["iou"] == 0.0
    assert report["paper_compatible"]["pixel_accuracy"] == 0.0


def test_counts_take_matches_recomputing_on_the_subset() -> None:
    refs, preds = random_masks(9)
    counts = mask_counts(refs, preds)
    idx = np.array([1, 1, 2, 5, 7, 7, 7])
    sub = mask_counts([refs[i] for i in idx], [preds[i] for i in idx])
    taken = counts.take(idx)
    assert lesion_dice_iou(taken) == pytest.approx(lesion_dice_iou(sub))
    assert pixel_accuracy(taken) == pytest.approx(pixel_accuracy(sub))
    assert len(taken) == len(idx)


def test_integer_zero_one_masks_are_accepted() -> None:
    ref = np.array([[0, 1], [1, 1]], dtype=np.uint8)
    pred = np.array([[0, 1], [0, 1]], dtype=np.uint8)
    assert per_image_dice_iou([ref], [pred])[0][0] == pytest.approx(2 * 2 / 5)


def test_shape_mismatch_names_the_image() -> None:
    refs = [np.zeros((4, 4), bool), np.zeros((4, 4), bool), np.zeros((5, 6), bool)]
    preds = [np.zeros((4, 4), bool), np.zeros((4, 4), bool), np.zeros((6, 5), bool)]
    with pytest.raises(ValueError, match=r"image 2: .*\(6, 5\).*\(5, 6\)"):
        segmentation_report(refs, preds)


@pytest.mark.parametrize(
    ("refs", "preds", "match"),
    [
        ([np.zeros((2, 2), bool)], [], "1 reference masks but 0"),
        ([], [], "no images"),
        ([np.full((2, 2), 255, np.uint8)], [np.zeros((2, 2), bool)], "image 0: reference mask must be boolean"),
        ([np.zeros((2, 2, 3), bool)], [np.zeros((2, 2, 3), bool)], "two-dimensional"),
    ],
)
def test_bad_input(refs: list, preds: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        segmentation_report(refs, preds)
