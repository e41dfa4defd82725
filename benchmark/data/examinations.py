"""Images from one examination: the grouping that keeps a patient's frames in one fold.

The duplicate detector (:mod:`benchmark.data.duplicates`) accepts a pair only as a near *copy* (aligned normalised
cross-correlation, NCC, >= 0.85). BUSI also holds several frames of one lesion from one examination: adjacent cine
frames, the same view with and without calipers or a Doppler box, a slightly moved probe. They are different images,
so the duplicate report rightly keeps them apart, but they come from one patient, so a split that claims to keep
patients apart must put them in one fold. This module finds them with the same two-stage detector, run with a looser
acceptance and two conditions that frames of one examination meet and look-alike lesions of different patients
mostly do not:

- **aligned NCC >= 0.45** (:attr:`ExaminationParams.min_score`), with every shortlisted pair whose coarse score
  reaches 0.30 aligned at full size (the duplicate detector stops at 0.50);
- **not mirrored**: a scanner does not mirror its frames within one examination;
- **the same scale within 15%** (:attr:`ExaminationParams.max_scale_ratio`): frames of one examination share the
  depth and zoom settings, while look-alike anechoic cysts of different patients match at 0.70x or 1.45x.

Every exact or near duplicate pair also joins an examination, so each duplicate cluster lies inside one
examination group. Groups are the connected components of all these pairs.

Why 0.45 (pairs viewed side by side on real BUSI; numbers in BENCHMARKS.md, "Examination grouping"): among unmirrored
pairs at the same scale, those at NCC 0.45-0.85 were nearly all frames of one lesion (44 of 47 viewed; the three
others were different cysts of similar shape, and merging them costs only a little fold balance), while at 0.40-0.45
eight of the ten viewed were different lesions. Of the 15 mirrored or rescaled pairs viewed at 0.45-0.85, 14 were
different lesions. The rule errs towards merging on purpose: a false merge makes a group larger, a missed merge leaks
a patient across folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import (
    DetectorParams,
    DuplicatePair,
    DuplicateReport,
    connected_components,
    find_duplicates,
)
from benchmark.errors import BusbenchError

#: Recorded in split files made with ``--group examination``; bumped when the rule changes its groups.
RULE_VERSION = "busbench-examinations-v1"


@dataclass(frozen=True)
class ExaminationParams:
    """The examination rule's thresholds (recorded in split files).

    Attributes:
        min_score: Aligned NCC a pair needs (pairs at 0.85 or more are duplicates and always join).
        coarse_floor: Coarse NCC from which a shortlisted pair is aligned at full size.
        max_scale_ratio: Largest scale ratio between the two images (either way) of one examination.
        allow_mirrored: Whether a mirrored match counts (it does not: scanners do not mirror within an examination).

    """

    min_score: float = 0.45
    coarse_floor: float = 0.30
    max_scale_ratio: float = 1.15
    allow_mirrored: bool = False

    def __post_init__(self) -> None:
        if not -1.0 <= self.coarse_floor <= self.min_score <= 1.0:
            raise BusbenchError("examination rule", "needs -1 <= coarse_floor <= min_score <= 1")
        if self.max_scale_ratio < 1.0:
            raise BusbenchError("examination rule", "max_scale_ratio must be at least 1")

    def as_dict(self) -> dict[str, float | bool | str]:
        """Return the rule as a plain JSON-ready dict, with its version."""
        return {"rule": RULE_VERSION, **asdict(self)}

    def detector(self, base: DetectorParams) -> DetectorParams:
        """The duplicate detector's parameters with this rule's looser acceptance (``base`` gives the rest)."""
        params: dict[str, Any] = {**base.as_dict(), "accept_threshold": self.min_score,
                                  "coarse_floor": min(base.coarse_floor, self.coarse_floor)}
        return DetectorParams(**params)

    def same_examination(self, pair: DuplicatePair, duplicate_threshold: float) -> bool:
        """Whether a verified pair counts as two images of one examination.

        Args:
            pair: A pair found by the detector run with :meth:`detector`.
            duplicate_threshold: The duplicate detector's acceptance; pairs at or above it always count.
        """
        if pair.kind == "exact" or pair.score >= duplicate_threshold:
            return True
        if pair.score < self.min_score or (pair.flipped and not self.allow_mirrored):
            return False
        return 1.0 / self.max_scale_ratio <= pair.scale <= self.max_scale_ratio


def examination_groups(
    dataset: Dataset,
    duplicates: DuplicateReport,
    params: ExaminationParams | None = None,
    *,
    progress: bool = False,
) -> dict[str, str]:
    """Group every case of ``dataset`` with the other images of its examination.

    Args:
        dataset: The data.
        duplicates: The dataset's duplicate report; its pairs always join, and its detector parameters are the base
            of the looser run.
        params: The examination rule (defaults: :class:`ExaminationParams`).
        progress: Show progress bars.

    Returns:
        ``{case_id: group id}`` for every case; images alone in their examination are their own group.
    """
    rule = params or ExaminationParams()
    loose = find_duplicates(dataset, rule.detector(duplicates.params), progress=progress)
    threshold = duplicates.params.accept_threshold
    pairs = duplicates.pairs + [p for p in loose.pairs if rule.same_examination(p, threshold)]
    groups = {c.case_id: c.case_id for c in dataset.cases}
    for members in connected_components(sorted(groups), pairs):
        groups.update({cid: f"exam-{members[0]}" for cid in members})
    return groups
