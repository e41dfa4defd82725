"""Burnt-in annotations (calipers, markers, text) and colour (Doppler) overlays, found in the decoded pixels.

Both detectors read the canonical RGB image (``Dataset.decode``) at its original size, because the marks they look
for are one to a few pixels wide and vanish when an image is shrunk.

**Annotations** count three kinds of evidence; an image is annotated when any of them clears its threshold:

* *thin marks*: pixels at least ``THIN_CONTRAST`` grey levels brighter than a 3x3 grey opening of the image (so
  structures at most two pixels wide: caliper crosses, dotted measuring lines, thin text, box outlines), grouped
  into connected components of at least 4 pixels that do not touch the image border (scanners draw 1-pixel frame
  lines along it) nor lie in a corner square of 6% of the shorter side (scanner logos), are no longer than 12% of
  the shorter side and are not straight horizontal or vertical strokes (box outlines, speckle streaks). Speckle at
  the original resolution is wider than two pixels, so it rarely passes.
  Threshold: ``THIN_MIN_PIXELS`` such pixels in ``THIN_MIN_COMPONENTS`` or more components.
* *text*: bold glyphs, which are wider than thin marks: components of the top-hat with a 9x9 opening that are
  upright (height ``GLYPH_MIN_HEIGHT`` px or more, at most 8% of the shorter side, width at most 1.5 times the
  height) and stand in a row with another glyph of the same height and top (within 2 px) no farther than one glyph
  height away. Bright tissue reflectors are flat streaks and almost never line up like that.
  Threshold: ``GLYPH_MIN_ALIGNED`` aligned glyphs.
* *coloured marks*: yellow pixels (red and green both at least 50 levels above blue and within 60 of each other):
  scanners draw calipers and labels in yellow. Threshold: ``YELLOW_MIN_PIXELS``.

**Colour overlay**: pixels whose channels differ by at least ``CHROMA_MIN`` levels, leaving out yellow ones, opened
with a 2x2 square so that 1-pixel-wide coloured text does not count; the image has a colour (Doppler flow) overlay
when at least ``max(FLOW_MIN_PIXELS, FLOW_MIN_FRACTION * area)`` such pixels remain.

The thresholds were set on the phantom set (``phantom_facts`` ground truth) and checked by eye on BUSI; the audit
report records them and the precision/recall on phantoms is in BENCHMARKS.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from tqdm import tqdm

from benchmark.data.cache import DerivedCache
from benchmark.data.case import Case
from benchmark.data.dataset import CaseFacts, Dataset
from benchmark.data.images import to_grey

THIN_CONTRAST = 60
THIN_MIN_PIXELS = 30
THIN_MIN_COMPONENTS = 2
MARK_MAX_SIDE = 0.12
CORNER = 0.06
GLYPH_CONTRAST = 70
GLYPH_MIN_HEIGHT = 8
GLYPH_MIN_ALIGNED = 2
YELLOW_MIN_PIXELS = 10
CHROMA_MIN = 50
FLOW_MIN_PIXELS = 10
FLOW_MIN_FRACTION = 5e-5
#: Raise when :func:`detect_burnt_in` changes in a way the thresholds do not show: cached findings are then unused.
DETECTOR_VERSION = 1


@dataclass(frozen=True)
class BurntIn:
    """What the detectors found in one image.

    Attributes:
        annotated: Calipers, markers or text were found (any kind of evidence below cleared its threshold).
        colour: A colour (Doppler-like) overlay was found.
        kinds: The kinds of annotation evidence that cleared their thresholds (``"thin marks"``, ``"text"``,
            ``"coloured marks"``).
        thin_pixels: Pixels of thin bright marks.
        glyphs: Bold glyphs standing in a row with another one.
        yellow_pixels: Yellow pixels.
        flow_pixels: Coloured, non-yellow pixels left after the 2x2 opening.
    """

    annotated: bool
    colour: bool
    kinds: tuple[str, ...]
    thin_pixels: int
    glyphs: int
    yellow_pixels: int
    flow_pixels: int

    @classmethod
    def from_json(cls, doc: dict) -> BurntIn:
        """Inverse of :meth:`to_json`."""
        return cls(**{**doc, "kinds": tuple(doc["kinds"])})

    def to_json(self) -> dict:
        """Plain JSON-ready dict (``kinds`` as a list)."""
        doc = asdict(self)
        doc["kinds"] = list(self.kinds)
        return doc


def _components(binary: np.ndarray) -> np.ndarray:
    """Stats rows ``(x, y, w, h, area)`` of the 8-connected components off the image border and its corners.

    Components touching the border are frame lines; those inside a corner square (``CORNER`` of the shorter side)
    are the scanner's logo or orientation mark, which most BUSI images carry in the top-left corner.
    """
    stats = _component_stats(binary.astype(np.uint8))
    h, w = binary.shape
    x, y, bw, bh, _ = stats[1:].T
    inside = (x > 1) & (y > 1) & (x + bw < w - 1) & (y + bh < h - 1)
    c = CORNER * min(h, w)
    left, right, top, bottom = x + bw <= c, x >= w - c, y + bh <= c, y >= h - c
    corner = (left | right) & (top | bottom)
    return stats[1:][inside & ~corner]


def _component_stats(binary: np.ndarray) -> np.ndarray:
    """``cv2.connectedComponentsWithStats``' stats rows (``x, y, w, h, area``) of 8-connected components.

    Row ``i`` describes label ``i``, as OpenCV's do; row 0, the background, is left zero (nothing reads it).

    The same labels (``cv2.connectedComponents``, the same labelling), with the statistics computed from the
    foreground pixels alone: OpenCV's own statistics pass visits every pixel and took most of the detector's time,
    while marks and speckle cover about 0.2% of an image.
    """
    n, labels = cv2.connectedComponents(binary, connectivity=8)
    stats = np.zeros((n, 5), np.int32)
    index = np.flatnonzero(labels)
    if index.size == 0:
        return stats
    label = labels.ravel()[index]
    order = np.argsort(label, kind="stable")
    label, index = label[order], index[order]
    rows, cols = np.divmod(index, binary.shape[1])
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    x0, x1 = np.minimum.reduceat(cols, starts), np.maximum.reduceat(cols, starts)
    y0, y1 = np.minimum.reduceat(rows, starts), np.maximum.reduceat(rows, starts)
    stats[label[starts]] = np.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1, np.diff(np.r_[starts, label.size])], axis=1)
    return stats


def _tophat(grey: np.ndarray, side: int) -> np.ndarray:
    return cv2.subtract(grey, cv2.morphologyEx(grey, cv2.MORPH_OPEN, np.ones((side, side), np.uint8)))


def _thin_pixels(grey: np.ndarray, ignore: np.ndarray) -> tuple[int, int]:
    stats = _components((_tophat(grey, 3) >= THIN_CONTRAST) & ~ignore)
    longest = np.maximum(stats[:, 2], stats[:, 3])
    shortest = np.minimum(stats[:, 2], stats[:, 3])
    # Straight horizontal or vertical strokes are left out: box outlines, frame lines and (in phantoms and real
    # scans alike) speckle streaks along the beam's lateral direction; marks have arms in two directions.
    stroke = (shortest <= 2) & (longest >= 4)
    big = stats[(stats[:, 4] >= 4) & (longest <= MARK_MAX_SIDE * min(grey.shape)) & ~stroke]
    return int(big[:, 4].sum()), len(big)


def _aligned_glyphs(grey: np.ndarray) -> int:
    stats = _components(_tophat(grey, 9) >= GLYPH_CONTRAST)
    tallest = 0.08 * min(grey.shape)
    keep = (stats[:, 3] >= GLYPH_MIN_HEIGHT) & (stats[:, 3] <= tallest) & (stats[:, 2] <= 1.5 * stats[:, 3])
    glyphs = stats[keep & (stats[:, 4] >= 15)]
    aligned: set[int] = set()
    for i, (x, y, w, h, _) in enumerate(glyphs):
        for j in range(i + 1, len(glyphs)):
            x2, y2, w2, h2, _ = glyphs[j]
            gap = max(x2 - (x + w), x - (x2 + w2))
            if abs(int(y) - int(y2)) <= 2 and abs(int(h) - int(h2)) <= 2 and gap <= h:
                aligned.update((i, j))
    return len(aligned)


def detect_burnt_in(rgb: np.ndarray, grey: np.ndarray | None = None) -> BurntIn:
    """Look for burnt-in annotations and a colour overlay in one canonical RGB ``uint8`` image (see module doc).

    Args:
        rgb: The image.
        grey: ``to_grey(rgb)`` when the caller has it already (it is computed otherwise).
    """
    grey = to_grey(rgb) if grey is None else grey
    # Channel arithmetic in OpenCV on uint8 planes (saturating subtraction, exact for these thresholds above 0):
    # numpy's per-pixel reductions over the channel axis were most of the detector's time.
    r, g, b = cv2.split(np.ascontiguousarray(rgb))
    yellow = (cv2.subtract(cv2.min(r, g), b) >= 50) & (cv2.absdiff(r, g) < 40)
    coloured = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b)) >= CHROMA_MIN
    flow = cv2.morphologyEx((coloured & ~yellow).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    n_flow = int(_components(flow)[:, 4].sum()) if cv2.countNonZero(flow) else 0  # grey images: nothing to label
    # The edges of colour blobs are sharp in grey too, and orange flow passes for yellow at its rim: marks are
    # looked for away from the colour, so that a Doppler overlay is not also called an annotation.
    near_colour = cv2.dilate(coloured.astype(np.uint8) & ~yellow.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    thin, n_thin = _thin_pixels(grey, near_colour)
    glyphs = _aligned_glyphs(grey)
    n_yellow = int((yellow & ~near_colour).sum())
    kinds = []
    if thin >= THIN_MIN_PIXELS and n_thin >= THIN_MIN_COMPONENTS:
        kinds.append("thin marks")
    if glyphs >= GLYPH_MIN_ALIGNED:
        kinds.append("text")
    if n_yellow >= YELLOW_MIN_PIXELS:
        kinds.append("coloured marks")
    colour = n_flow >= max(FLOW_MIN_PIXELS, FLOW_MIN_FRACTION * grey.size)
    return BurntIn(bool(kinds), bool(colour), tuple(kinds), thin, glyphs, n_yellow, n_flow)


class BurntInScan:
    """:func:`detect_burnt_in` over a dataset, decoding each image at most once and never re-scanning known pixels.

    Findings are cached by image fingerprint (:class:`benchmark.data.cache.DerivedCache` ``"burnt-in"``, whose
    recipe holds the thresholds and :data:`DETECTOR_VERSION`), so a repeated audit decodes nothing. Pass
    :meth:`visit` to ``Dataset.facts(on_decoded=...)`` to scan the images that fingerprinting decodes anyway;
    :meth:`run` then decodes only the cases neither seen nor cached.
    """

    def __init__(self) -> None:
        recipe = {"version": DETECTOR_VERSION, "corner": CORNER, "mark_max_side": MARK_MAX_SIDE,
                  **detector_thresholds()}
        self._cache = DerivedCache("burnt-in", recipe)
        self._seen: dict[str, BurntIn] = {}

    def visit(self, case: Case, facts: CaseFacts, rgb: np.ndarray, mask: np.ndarray | None,
              grey: np.ndarray | None = None) -> None:
        """``on_decoded`` hook: scan an image decoded elsewhere, unless its findings are cached.

        ``grey`` is ``to_grey(rgb)`` when the caller has it already, as for :func:`detect_burnt_in`.
        """
        if self._cache.get(facts.image_fingerprint) is None:
            self._seen[case.case_id] = detect_burnt_in(rgb, grey)

    def run(self, dataset: Dataset, case_ids: Sequence[str] | None = None, *,
            progress: bool = False) -> dict[str, BurntIn]:
        """Findings of every case (or of ``case_ids``), in that order; new ones are added to the cache."""
        facts = dataset.facts(progress=progress, on_decoded=self.visit)
        ids = list(case_ids) if case_ids is not None else [c.case_id for c in dataset.cases]
        found: dict[str, BurntIn] = {}
        for cid in ids:
            cached = self._cache.get(facts[cid].image_fingerprint)
            if cid in self._seen:
                found[cid] = self._seen[cid]
            elif cached is not None:
                found[cid] = BurntIn.from_json(cached)
        todo = [cid for cid in ids if cid not in found]
        if todo:
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                scanned = pool.map(lambda cid: detect_burnt_in(dataset.decode(dataset.case(cid))[0]), todo)
                bar = tqdm(scanned, total=len(todo), desc="audit: annotations", unit="img", disable=not progress)
                found.update(zip(todo, bar, strict=True))
        for cid in ids:
            self._cache.put(facts[cid].image_fingerprint, found[cid].to_json())
        self._cache.save()
        return {cid: found[cid] for cid in ids}


def scan_dataset(dataset: Dataset, case_ids: Sequence[str] | None = None, *,
                 progress: bool = False) -> dict[str, BurntIn]:
    """Run :func:`detect_burnt_in` on every case (or on ``case_ids``) through :class:`BurntInScan`.

    Returns:
        ``{case_id: BurntIn}`` in the order of the cases.
    """
    return BurntInScan().run(dataset, case_ids, progress=progress)


def detector_thresholds() -> dict[str, float]:
    """The thresholds in use, for the audit report."""
    return {"thin_contrast": THIN_CONTRAST, "thin_min_pixels": THIN_MIN_PIXELS,
            "thin_min_components": THIN_MIN_COMPONENTS, "glyph_contrast": GLYPH_CONTRAST,
            "glyph_min_height": GLYPH_MIN_HEIGHT, "glyph_min_aligned": GLYPH_MIN_ALIGNED,
            "yellow_min_pixels": YELLOW_MIN_PIXELS, "chroma_min": CHROMA_MIN, "flow_min_pixels": FLOW_MIN_PIXELS,
            "flow_min_fraction": FLOW_MIN_FRACTION}
