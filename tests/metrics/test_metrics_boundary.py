"""Boundary metrics (HD95, NSD) against MONAI's independent implementation, hand-made cases and the conventions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from benchmark.metrics.boundary import (
    BOUNDARY_CONVENTION,
    NSD_TOLERANCE_PX,
    boundary_report,
    boundary_scores,
    hausdorff_percentile,
    lesion_hd95,
    lesion_nsd,
    normalised_surface_distance,
    surface,
    surface_distances,
)
from benchmark.metrics.undefined import MetricUndefinedError


def monai_hd95_nsd(ref: np.ndarray, pred: np.ndarray, tolerance: float) -> tuple[float, float]:
    """HD95 (max of the directed 95th percentiles) and surface Dice by MONAI, on one non-empty pair."""
    import torch
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice

    y = torch.from_numpy(ref[None, None].astype(np.float32))
    y_pred = torch.from_numpy(pred[None, None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95)
        nsd = compute_surface_dice(y_pred, y, class_thresholds=[tolerance], include_background=True)
    return float(hd[0, 0]), float(nsd[0, 0])


def blob(shape: tuple[int, int], rng: np.random.Generator, n: int = 3) -> np.ndarray:
    """A few random ellipses, so that masks have holes, several parts and edges touching the border."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    mask = np.zeros(shape, bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        ry, rx = rng.uniform(2, shape[0] / 3), rng.uniform(2, shape[1] / 3)
        mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return mask


@pytest.mark.parametrize("seed", range(8))
def test_matches_monai_on_random_shapes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
    ref, pred = blob(shape, rng), blob(shape, rng)
    if seed % 2:  # a near miss: the reference, shifted and grown, so most distances are small
        pred = np.roll(ndimage.binary_dilation(ref, iterations=int(rng.integers(1, 4))), int(rng.integers(-3, 4)), 1)
    for tolerance in (0.0, 1.0, NSD_TOLERANCE_PX, 5.0):
        hd, nsd = monai_hd95_nsd(ref, pred, tolerance)
        assert hausdorff_percentile(ref, pred) == pytest.approx(hd, rel=1e-5, abs=1e-5)
        assert normalised_surface_distance(ref, pred, tolerance) == pytest.approx(nsd, rel=1e-6)


def test_matches_monai_on_busi_masks(busi) -> None:
    # Real lesion outlines: the reference against itself eroded, dilated and shifted, at the original image size.
    lesions = [c for c in busi.cases if c.label != "normal"][::40]
    refs = [busi.decode(c)[1] for c in lesions]
    preds = [np.roll(ndimage.binary_dilation(r, iterations=1 + i % 4), (i % 5) - 2, axis=i % 2)
             for i, r in enumerate(refs)]
    scores = boundary_scores(refs, preds)
    for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
        hd, nsd = monai_hd95_nsd(ref, pred, NSD_TOLERANCE_PX)
        assert scores.hd95[i] == pytest.approx(hd, rel=1e-5), lesions[i].case_id
        assert scores.nsd[i] == pytest.approx(nsd, rel=1e-6), lesions[i].case_id
    assert 0 < np.mean(scores.nsd) < 1  # the perturbations move boundaries by more and by less than the tolerance


def test_hand_made_cases() -> None:
    a = np.zeros((10, 12), bool)
    b = np.zeros((10, 12), bool)
    a[2, 3] = True
    b[2, 8] = True  # single pixels 5 apart: every distance is 5
    assert hausdorff_percentile(a, b) == 5.0
    assert normalised_surface_distance(a, b, 4.9) == 0.0 and normalised_surface_distance(a, b, 5.0) == 1.0
    square = np.zeros((20, 20), bool)
    square[5:15, 5:15] = True
    assert hausdorff_percentile(square, square) == 0.0 and normalised_surface_distance(square, square) == 1.0
    assert surface(square).sum() == 36  # the 10x10 square's ring, interior excluded
    shifted = np.roll(square, 3, axis=1)
    d_pred, d_ref = surface_distances(square, shifted)
    assert d_pred.max() == 3.0 and d_ref.max() == 3.0
    # The shifted square's left and right edges (10 pixels each) are 3 px from the reference's, its top and bottom
    # rows lie on the reference's (0), the top and bottom of the three right-most columns are 1 to 3 px away.
    assert normalised_surface_distance(square, shifted, 2.0) == pytest.approx(
        (np.sum(d_pred <= 2) + np.sum(d_ref <= 2)) / 72)
    assert normalised_surface_distance(square, shifted, 2.0) < normalised_surface_distance(square, shifted, 3.0) == 1


def test_mask_at_the_image_edge_has_its_edge_as_surface() -> None:
    full = np.ones((6, 7), bool)
    assert surface(full).sum() == 2 * 6 + 2 * 7 - 4
    half = np.zeros((6, 7), bool)
    half[:, :3] = True
    assert hausdorff_percentile(full, half) == pytest.approx(monai_hd95_nsd(full, half, 2.0)[0], rel=1e-5)


def test_empty_mask_conventions() -> None:
    empty = np.zeros((8, 8), bool)
    lesion = np.zeros((8, 8), bool)
    lesion[2:5, 2:5] = True
    assert np.isnan(hausdorff_percentile(empty, lesion)) and np.isnan(hausdorff_percentile(lesion, empty))
    assert np.isnan(hausdorff_percentile(empty, empty))
    assert normalised_surface_distance(empty, empty) == 1.0
    assert normalised_surface_distance(empty, lesion) == 0.0 == normalised_surface_distance(lesion, empty)
    # Images: a hit, a missed lesion, a clean normal, a normal with a false positive.
    scores = boundary_scores([lesion, lesion, empty, empty], [lesion, empty, empty, lesion])
    assert scores.lesion.tolist() == [True, True, False, False]
    assert scores.hd95[0] == 0.0 and np.isnan(scores.hd95[1:]).all()
    assert scores.nsd.tolist() == [1.0, 0.0, 1.0, 0.0]
    report = boundary_report(scores)
    assert report["hd95"] == 0.0 and report["n_hd95_undefined"] == 1  # the missed lesion, left out and counted
    assert report["nsd"] == 0.5  # over the two lesion images; the normals are the false-positive rate's
    assert report["boundary_convention"] == BOUNDARY_CONVENTION and report["nsd_tolerance_px"] == NSD_TOLERANCE_PX
    only_normals = boundary_scores([empty, empty], [empty, lesion])
    with pytest.raises(MetricUndefinedError):
        lesion_nsd(only_normals)
    with pytest.raises(MetricUndefinedError):
        lesion_hd95(boundary_scores([lesion], [empty]))
    undefined = boundary_report(only_normals)
    assert undefined["hd95"] is None and undefined["nsd"] is None and set(undefined["undefined"]) == {
        "hd95", "hd95_median", "nsd"}


def test_take_resamples_images() -> None:
    rng = np.random.default_rng(3)
    refs = [blob((30, 30), rng) for _ in range(4)]
    preds = [blob((30, 30), rng) for _ in range(4)]
    scores = boundary_scores(refs, preds)
    again = scores.take(np.array([3, 3, 0]))
    assert again.nsd.tolist() == [scores.nsd[3], scores.nsd[3], scores.nsd[0]] and len(again) == 3


def test_bad_inputs_are_refused() -> None:
    a = np.zeros((5, 5), bool)
    with pytest.raises(ValueError, match="image 1: predicted mask shape"):
        boundary_scores([a, a], [a, np.zeros((5, 6), bool)])
    with pytest.raises(ValueError, match="tolerance"):
        normalised_surface_distance(a, a, -1.0)
    with pytest.raises(ValueError, match="percentile"):
        hausdorff_percentile(a, a, 101)
    with pytest.raises(ValueError, match="empty"):
        boundary_scores([], [])
    with pytest.raises(ValueError, match="boolean"):
        hausdorff_percentile(np.full((4, 4), 2), a[:4, :4])
