"""Burnt-in annotation and colour-overlay detectors: drawn marks on plain images, and phantom ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmark.audit.annotations import _component_stats, detect_burnt_in, scan_dataset
from benchmark.data.images import to_grey
from benchmark.data.open import open_dataset
from benchmark.data.synthetic import phantom_facts


def _tissue(seed: int = 0, shape: tuple[int, int] = (400, 500)) -> np.ndarray:
    """Smooth speckle-like grey texture as RGB (no marks, no colour)."""
    rng = np.random.default_rng(seed)
    img = 110 + 40 * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 3) * 3
    grey = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


@pytest.mark.parametrize("density", [0.0, 0.002, 0.05, 0.4, 1.0])
def test_component_statistics_are_opencvs(density):
    # The reference is OpenCV's own statistics pass, on sparse to full images with components at every border.
    rng = np.random.default_rng(int(density * 1000))
    for shape in [(1, 1), (7, 3), (97, 131), (240, 321)]:
        binary = (rng.random(shape) < density).astype(np.uint8)
        _, _, expected, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        got = _component_stats(binary)
        assert got.shape == expected.shape and np.array_equal(got[1:], expected[1:])


def test_a_given_grey_image_gives_the_findings_of_the_computed_one():
    img = _tissue(3)
    cv2.putText(img, "L 2.1cm", (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 1)
    assert detect_burnt_in(img, to_grey(img)) == detect_burnt_in(img)


def test_plain_texture_has_neither():
    found = detect_burnt_in(_tissue())
    assert not found.annotated and not found.colour and found.kinds == ()


def test_drawn_calipers_are_thin_marks():
    img = _tissue(1)
    for x, y in ((150, 200), (330, 200), (240, 120)):
        cv2.line(img, (x - 6, y), (x + 6, y), (255, 255, 255), 1)
        cv2.line(img, (x, y - 6), (x, y + 6), (255, 255, 255), 1)
    found = detect_burnt_in(img)
    assert found.annotated and "thin marks" in found.kinds and not found.colour


def test_bold_text_is_text():
    img = _tissue(2)
    cv2.putText(img, "RT AXILLA", (60, 330), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (235, 235, 235), 3)
    found = detect_burnt_in(img)
    assert "text" in found.kinds and found.glyphs >= 2


def test_yellow_marks_and_colour_flow_are_told_apart():
    img = _tissue(3)
    cv2.circle(img, (250, 200), 15, (220, 30, 20), -1)  # a red flow blob
    flow = detect_burnt_in(img)
    assert flow.colour and not flow.annotated
    img = _tissue(3)
    cv2.line(img, (100, 100), (300, 150), (255, 255, 0), 1)  # a yellow measuring line
    marks = detect_burnt_in(img)
    assert "coloured marks" in marks.kinds and not marks.colour


@pytest.fixture(scope="module")
def phantoms():
    ds = open_dataset("synthetic:n=80")  # BUSI-like sizes: marks are drawn at their real scale
    return ds, phantom_facts(ds), scan_dataset(ds)


def test_detectors_against_phantom_ground_truth(phantoms):
    ds, facts, found = phantoms
    truth_ann = {c for c, f in facts.items() if f["annotations"] != "none"}
    truth_col = {c for c, f in facts.items() if f["colour"] == "1"}
    got_ann = {c for c, b in found.items() if b.annotated}
    got_col = {c for c, b in found.items() if b.colour}
    assert truth_ann and truth_col  # the set holds both kinds, so the test can fail
    # On the 780-image default set recall is 84/85 and precision 84/87 (BENCHMARKS.md); this subset has fewer
    # positives, so the bounds leave room for one miss and one false alarm.
    assert len(truth_ann & got_ann) / len(truth_ann) >= 0.85
    assert len(truth_ann & got_ann) / len(got_ann) >= 0.85
    assert got_col == truth_col
