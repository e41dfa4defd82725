"""Audit clusters: members and labels with evidence, cross-class clusters first, mask conflicts with known Dice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.audit.clusters import (
    MASK_CONFLICT_DICE,
    aligned_dice,
    cluster_records,
    dice,
    mask_conflicts,
    pair_evidence,
)
from benchmark.data.busi import load_busi
from benchmark.data.duplicates import find_duplicates


def _procedural(seed: int, shape: tuple[int, int] = (150, 180)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    for sigma, weight in ((12, 60.0), (4, 40.0), (1.5, 25.0)):
        img += weight * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma) * sigma
    img += np.linspace(150, 60, shape[0], dtype=np.float32)[:, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _box(shape: tuple[int, int], y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def _write(root: Path, cases: dict[str, tuple[str, np.ndarray, np.ndarray]]) -> Path:
    for stem, (label, img, mask) in cases.items():
        folder = root / "Dataset_BUSI_with_GT" / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{stem}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{stem}_mask.png")
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    shape = (150, 180)
    a, b, c = (_procedural(s, shape) for s in (1, 2, 3))
    mask_a = _box(shape, 40, 50, 80, 110)
    other = _box(shape, 90, 20, 120, 60)  # a different lesion: no overlap with mask_a
    mask_b = _box(shape, 30, 30, 70, 90)
    cases = {
        "benign (1)": ("benign", a, mask_a),
        "malignant (7)": ("malignant", a.copy(), other),  # exact copy, another class, another mask
        "benign (2)": ("benign", b, mask_b),
        "benign (3)": ("benign", np.ascontiguousarray(b[:, ::-1]), mask_b[:, ::-1].copy()),  # flipped, same mask
        "normal (1)": ("normal", c, np.zeros(shape, bool)),
    }
    ds = load_busi(_write(tmp_path_factory.mktemp("planted"), cases))
    report = find_duplicates(ds)
    evidence = pair_evidence(ds, report)
    return ds, report, evidence


def test_clusters_list_members_labels_and_cross_class_first(planted):
    ds, report, evidence = planted
    records = cluster_records(ds, report, evidence)
    assert [sorted(m["case_id"] for m in r["members"]) for r in records] == [
        ["benign-1", "malignant-7"], ["benign-2", "benign-3"]]
    first, second = records
    assert first["cross_class"] and first["labels"] == ["benign", "malignant"]
    assert not second["cross_class"] and second["labels"] == ["benign"]
    assert first["relations"] == ["exact"] and second["relations"] == ["flipped"]
    assert {m["image"] for m in first["members"]} == {"Dataset_BUSI_with_GT/benign/benign (1).png",
                                                      "Dataset_BUSI_with_GT/malignant/malignant (7).png"}
    flip = second["pairs"][0]
    assert flip["flipped"] and flip["score"] > 0.85 and flip["kind"] == "near"


def test_mask_conflicts_found_with_known_dice(planted):
    _, _, evidence = planted
    by_pair = {(e.pair.a, e.pair.b): e for e in evidence}
    assert by_pair[("benign-1", "malignant-7")].mask_dice == 0.0  # disjoint boxes
    assert by_pair[("benign-2", "benign-3")].mask_dice > 0.9  # the flipped copy's mask, aligned back
    conflicts = mask_conflicts(evidence)
    assert [(p["a"], p["b"]) for p in conflicts] == [("benign-1", "malignant-7")]


def test_dice_and_alignment_against_hand_computed_values():
    a = _box((20, 20), 0, 0, 10, 10)
    b = _box((20, 20), 0, 5, 10, 15)
    assert dice(a, b) == pytest.approx(2 * 50 / 200)
    assert dice(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    img = _procedural(5, (160, 160))
    mask = _box(img.shape, 50, 60, 100, 120)
    # b is a 10% crop of a on each side, so squashed to one size its content is 1.25x larger: the detector reports
    # scale 0.8 (b shrunk by 0.8 matches a) and the aligned masks of the same lesion agree
    crop, crop_mask = img[16:144, 16:144], mask[16:144, 16:144]
    assert aligned_dice(img, mask, crop, crop_mask, False, 128 / 160) > 0.85
    moved = _box(img.shape, 10, 10, 40, 40)[16:144, 16:144]
    assert aligned_dice(img, mask, crop, moved, False, 128 / 160) < MASK_CONFLICT_DICE
