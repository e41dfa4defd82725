"""Duplicate clusters with their labels and evidence, cross-class clusters, and mask conflicts.

A *mask conflict* is a pair of exact or near-duplicate images whose lesion masks disagree: Dice below
``MASK_CONFLICT_DICE`` (0.8) after aligning the masks. Exact duplicates are compared pixel for pixel at their
original size. Near duplicates are aligned the way the duplicate detector matched them: both images squashed to
``ALIGN_SIZE`` squares, the second mirrored when the pair is flipped, rescaled by the pair's scale (and a few scales
around it) and translated to the best normalised cross-correlation of the band-passed images; the masks then go
through the same transform and Dice is taken over the part of the field of view both images show. Two empty masks
agree (Dice 1); an empty against a non-empty mask has Dice 0.

0.8 leaves room for the resampling of near duplicates (a few pixels of boundary at ``ALIGN_SIZE``) and for two
tracings of one lesion by the same annotator, while an omitted lesion, a second lesion traced in one copy only, or
a mask of another lesion fall well below it.

A pair's ``relation`` names what kind of copy it is: ``exact`` (same pixels), ``flipped`` (mirror image),
``cropped`` (other image size or a scale more than 2% from 1: cropped, padded or resized) or ``near`` (same geometry,
other pixels: re-encoded, brightness, annotations).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.audit.glimpses import ALIGN_SIZE, Glimpses, align_view, align_views
from benchmark.data.cache import DerivedCache
from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import DuplicatePair, DuplicateReport
from benchmark.data.images import to_grey

MASK_CONFLICT_DICE = 0.8
_SCALE_TOLERANCE = 0.02


@dataclass(frozen=True)
class PairEvidence:
    """One duplicate pair with its evidence and, when the dataset has masks, the agreement of the masks."""

    pair: DuplicatePair
    relation: str
    mask_dice: float | None

    def to_json(self) -> dict:
        """JSON-ready dict: ``a, b, kind, relation, flipped, score, scale, mask_dice``."""
        p = self.pair
        return {"a": p.a, "b": p.b, "kind": p.kind, "relation": self.relation, "flipped": p.flipped,
                "score": p.score, "scale": p.scale,
                "mask_dice": None if self.mask_dice is None else round(self.mask_dice, 4)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks of one shape; 1.0 when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def relation(pair: DuplicatePair, shape_a: tuple[int, int], shape_b: tuple[int, int]) -> str:
    """``exact``, ``flipped``, ``cropped`` or ``near`` (see module docstring)."""
    if pair.kind == "exact":
        return "exact"
    if pair.flipped:
        return "flipped"
    if shape_a != shape_b or abs(pair.scale - 1.0) > _SCALE_TOLERANCE:
        return "cropped"
    return "near"


def _band(square: np.ndarray) -> np.ndarray:
    """Band-pass of an :func:`~benchmark.audit.glimpses.align_view` square."""
    img: np.ndarray = square.astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    return img - cv2.GaussianBlur(img, (0, 0), 10.0)


def _square_mask(mask: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(mask.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA) >= 0.5


def _best_offset(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """Best NCC and offset ``(dx, dy)`` with ``a[y, x] ~ b[y + dy, x + dx]`` (central part of one in the other)."""
    best = (-2.0, 0, 0)
    for src, dst, sign in ((a, b, 1), (b, a, -1)):
        side = int(round(0.8 * src.shape[0]))
        start = (src.shape[0] - side) // 2
        if dst.shape[0] < side:
            continue
        result = cv2.matchTemplate(dst, src[start:start + side, start:start + side], cv2.TM_CCOEFF_NORMED)
        _, score, _, (x, y) = cv2.minMaxLoc(result)
        if score > best[0]:
            best = (float(score), sign * (x - start), sign * (y - start))
    return best


def aligned_dice(grey_a: np.ndarray, mask_a: np.ndarray, grey_b: np.ndarray, mask_b: np.ndarray,
                 flipped: bool, scale: float) -> float:
    """Dice of two masks of a near-duplicate pair after aligning ``b`` onto ``a`` (see module docstring)."""
    if flipped:
        grey_b, mask_b = grey_b[:, ::-1], mask_b[:, ::-1]
    return _aligned_dice(align_view(grey_a), mask_a, align_view(grey_b), mask_b, scale)


def _aligned_dice(square_a: np.ndarray, mask_a: np.ndarray, square_b: np.ndarray, mask_b: np.ndarray,
                  scale: float) -> float:
    """:func:`aligned_dice` from the images' align squares, ``b`` (square and mask) mirrored already if flipped.

    The squares are :func:`~benchmark.audit.glimpses.align_view`'s.
    """
    a, ma = _band(square_a), _square_mask(mask_a, ALIGN_SIZE)
    b_full = _band(square_b)
    best = (-2.0, 0, 0, ALIGN_SIZE)
    for s in scale * np.geomspace(0.95, 1.05, 5):
        side = max(16, int(round(ALIGN_SIZE * s)))
        b = cv2.resize(b_full, (side, side), interpolation=cv2.INTER_LINEAR)
        score, dx, dy = _best_offset(a, b)
        if score > best[0]:
            best = (score, dx, dy, side)
    _, dx, dy, side = best
    mb = _square_mask(mask_b, side)
    # Overlap of a's frame with b's shifted frame: a[y, x] ~ b[y + dy, x + dx].
    x0, y0 = max(0, -dx), max(0, -dy)
    x1, y1 = min(ALIGN_SIZE, side - dx), min(ALIGN_SIZE, side - dy)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return dice(ma[y0:y1, x0:x1], mb[y0 + dy:y1 + dy, x0 + dx:x1 + dx])


#: Raise when the mask agreement of a pair is computed differently: cached agreements are then unused.
_AGREEMENT_VERSION = 1


def pair_evidence(dataset: Dataset, report: DuplicateReport, glimpses: Glimpses | None = None) -> list[PairEvidence]:
    """Evidence of every pair of ``report``, with mask agreement when the dataset has masks.

    Agreements depend only on the two cases' pixels and masks and the pair's geometry, so they are cached by the
    cases' fingerprints (:class:`benchmark.data.cache.DerivedCache` ``"mask-agreement"``); the rest are computed in
    a few threads. A case with a glimpse (``glimpses``, kept from the audit's decoding pass) is not decoded again:
    only its mask is read; any other case is decoded once.
    """
    facts = dataset.facts()
    cache = DerivedCache("mask-agreement", {"version": _AGREEMENT_VERSION, "align_size": ALIGN_SIZE})

    def key(p: DuplicatePair) -> str:
        return f"{facts[p.a].fingerprint}|{facts[p.b].fingerprint}|{p.kind}|{p.flipped}|{p.scale!r}"

    agreement: dict[tuple[str, str], float | None] = {}
    todo = []
    for p in report.pairs if dataset.has_masks else ():
        hit = cache.get(key(p))
        if hit is None:
            todo.append(p)
        else:
            agreement[(p.a, p.b)] = hit["dice"]
    if todo:
        decoded: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        locks = {cid: threading.Lock() for p in todo for cid in (p.a, p.b)}

        def get(cid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            """The case's align square, that of its mirror image, and its mask."""
            with locks[cid]:  # one decode per case, even when two threads want it at once
                if cid not in decoded:
                    seen = glimpses.get(cid) if glimpses is not None else None
                    if seen is not None:
                        decoded[cid] = (seen.align, seen.align_mirrored, dataset.decode_mask(dataset.case(cid)))
                    else:
                        rgb, mask = dataset.decode(dataset.case(cid))
                        decoded[cid] = (*align_views(to_grey(rgb)), mask)
                return decoded[cid]

        def measure(p: DuplicatePair) -> float | None:
            (sa, _, ma), (sb, sb_mirrored, mb) = get(p.a), get(p.b)
            if ma is None or mb is None:
                return None
            if p.kind == "exact" and ma.shape == mb.shape:
                return dice(ma, mb)
            if p.flipped:
                return _aligned_dice(sa, ma, sb_mirrored, mb[:, ::-1], p.scale)
            return _aligned_dice(sa, ma, sb, mb, p.scale)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for p, value in zip(todo, pool.map(measure, todo), strict=True):
                agreement[(p.a, p.b)] = value
                cache.put(key(p), {"dice": value})
        cache.save()
    return [PairEvidence(p, relation(p, (facts[p.a].height, facts[p.a].width), (facts[p.b].height, facts[p.b].width)),
                         agreement.get((p.a, p.b))) for p in report.pairs]


def cluster_records(dataset: Dataset, report: DuplicateReport, evidence: list[PairEvidence]) -> list[dict]:
    """One JSON-ready record per cluster: id, members with label and file, labels, cross_class, relations, pairs.

    Cross-class clusters come first, then the rest, each group in the detector's order (by first member).
    """
    by_cluster: dict[str, list[PairEvidence]] = {}
    ids = report.cluster_ids([c.case_id for c in dataset.cases])
    for e in evidence:
        by_cluster.setdefault(ids[e.pair.a], []).append(e)
    records = []
    for members in report.clusters:
        cid = f"dup-{members[0]}"
        labels = sorted({dataset.case(m).label for m in members})
        pairs = by_cluster.get(cid, [])
        records.append({
            "id": cid,
            "members": [{"case_id": m, "label": dataset.case(m).label, "image": dataset.case(m).image}
                        for m in members],
            "labels": labels,
            "cross_class": len(labels) > 1,
            "relations": sorted({e.relation for e in pairs}),
            "pairs": [e.to_json() for e in pairs],
        })
    return sorted(records, key=lambda r: not r["cross_class"])


def mask_conflicts(evidence: list[PairEvidence]) -> list[dict]:
    """Pairs whose masks disagree (Dice below :data:`MASK_CONFLICT_DICE`), worst first."""
    bad = [e for e in evidence if e.mask_dice is not None and e.mask_dice < MASK_CONFLICT_DICE]
    return [e.to_json() for e in sorted(bad, key=lambda e: (e.mask_dice, e.pair.a, e.pair.b))]
