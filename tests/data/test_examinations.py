"""The examination rule: which verified pairs count as frames of one examination, and the groups they make."""

from __future__ import annotations

import pytest

from benchmark.data.duplicates import DetectorParams, DuplicatePair
from benchmark.data.examinations import ExaminationParams
from benchmark.errors import BusbenchError


def pair(score: float, *, flipped: bool = False, scale: float = 1.0, kind: str = "near") -> DuplicatePair:
    return DuplicatePair("a", "b", kind, flipped, score, scale)


@pytest.mark.parametrize(
    ("candidate", "same"),
    [
        (pair(0.50), True),
        (pair(0.45), True),  # the threshold itself counts
        (pair(0.449), False),
        (pair(0.60, flipped=True), False),  # a scanner does not mirror within one examination
        (pair(0.60, scale=1.15), True),
        (pair(0.60, scale=1 / 1.15), True),
        (pair(0.60, scale=1.2), False),  # look-alike cysts of other patients match at another scale
        (pair(0.60, scale=0.8), False),
        (pair(0.90, flipped=True, scale=1.4), True),  # a duplicate always joins
        (pair(1.0, kind="exact"), True),
    ],
)
def test_same_examination(candidate, same):
    assert ExaminationParams().same_examination(candidate, duplicate_threshold=0.85) is same


def test_detector_is_the_duplicate_detector_loosened():
    base = DetectorParams()
    loose = ExaminationParams().detector(base)
    assert loose.accept_threshold == 0.45 and loose.coarse_floor == 0.30
    assert {k: v for k, v in loose.as_dict().items() if k not in ("accept_threshold", "coarse_floor")} == {
        k: v for k, v in base.as_dict().items() if k not in ("accept_threshold", "coarse_floor")}


def test_bad_rule_is_refused():
    with pytest.raises(BusbenchError, match="coarse_floor <= min_score"):
        ExaminationParams(min_score=0.2, coarse_floor=0.3)
    with pytest.raises(BusbenchError, match="max_scale_ratio"):
        ExaminationParams(max_scale_ratio=0.9)
