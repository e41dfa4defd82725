"""Exact and near-duplicate images, grouped into clusters.

Fixed splits keep every duplicate cluster inside one fold and the audit reports the clusters; both use
:func:`find_duplicates`. Perceptual hashes miss small crops and every mirror image, so the detector works in two
stages on the grey images (through the dataset's decoded cache):

1. **Shortlist.** Every image becomes a small z-normalised thumbnail; one matrix product correlates all pairs, a
   second one correlates every image with every other's mirror image. Each image keeps its few best neighbours above
   a loose threshold.
2. **Verify.** Each shortlisted pair is aligned at a larger size: the central part of one image is searched inside
   the other over a range of scales and all translations by normalised cross-correlation (``cv2.matchTemplate``),
   in the orientation the shortlist found. A pair is a near duplicate when the best correlation clears a strict
   threshold, which distinct ultrasound images do not reach even though they all share a dark fan-shaped layout.

Images with the same pixel fingerprint are exact duplicates and always paired. Clusters are the connected components
of all accepted pairs, so a cluster can join images that are near duplicates only through a third one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_json, cache_root

#: Bumped whenever the algorithm changes in a way that changes results, so old cached reports are not reused.
ALGORITHM_VERSION = "busbench-duplicates-v1"
_FORMAT = "busbench-duplicates-v1"
_ACROSS_FORMAT = "busbench-cross-duplicates-v1"


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds and sizes of the duplicate detector (recorded in split files, part of the cache key).

    Attributes:
        thumb_size: Side of the square thumbnails compared in the shortlist stage (one of the whole image, one of
            its central part, so that a crop or a burnt-in frame at the border does not hide a partner).
        shortlist_k: How many best neighbours per image (direct or mirrored) go on to verification.
        shortlist_threshold: Thumbnail correlation a neighbour needs to be shortlisted (loose on purpose).
        verify_size: Side of the square images aligned in the verification stage.
        verify_center: Fraction of the side of the central part that is searched for inside the other image.
        blur_sigma: Gaussian blur (pixels at ``verify_size``) applied before alignment, so speckle and JPEG noise do
            not dominate the correlation.
        highpass_sigma: Width (pixels at ``verify_size``) of the blur subtracted before alignment (0 = none): it
            removes the dark-bottom, bright-top layout all ultrasound images share, which otherwise lets unrelated
            images correlate at 0.9.
        max_scale: Largest scale searched; the coarse search spans ``1 / max_scale`` to ``max_scale``.
        scale_steps: Number of scales of the coarse search, evenly spaced in log scale (odd, so 1.0 is one).
        coarse_factor: The coarse search runs on images ``coarse_factor`` times smaller than ``verify_size``.
        coarse_floor: Coarse score a pair needs before it is aligned at full size (most shortlisted pairs are
            unrelated and stop here, which keeps the detector fast).
        refine_range: The full-size alignment searches horizontal and vertical scale separately, each from
            ``1 / refine_range`` to ``refine_range`` times the coarse best (a crop of one side changes the aspect).
        refine_steps: Number of scales per axis of the full-size alignment.
        accept_threshold: Normalised cross-correlation a verified pair needs to count as a near duplicate.

    """

    thumb_size: int = 32
    shortlist_k: int = 10
    shortlist_threshold: float = 0.5
    verify_size: int = 112
    verify_center: float = 0.8
    blur_sigma: float = 1.0
    highpass_sigma: float = 6.0
    max_scale: float = 1.43
    scale_steps: int = 13
    coarse_factor: int = 2
    coarse_floor: float = 0.5
    refine_range: float = 1.1
    refine_steps: int = 5
    accept_threshold: float = 0.85

    def __post_init__(self) -> None:
        problems = []
        if self.thumb_size < 8:
            problems.append("thumb_size must be at least 8")
        if self.shortlist_k < 1:
            problems.append("shortlist_k must be at least 1")
        if not 0.0 < self.verify_center <= 1.0:
            problems.append("verify_center must be in (0, 1]")
        if self.verify_size < 32:
            problems.append("verify_size must be at least 32")
        if self.max_scale < 1.0 or self.refine_range < 1.0:
            problems.append("max_scale and refine_range must be at least 1")
        if self.scale_steps < 1 or self.scale_steps % 2 == 0 or self.refine_steps < 1:
            problems.append("scale_steps must be odd and refine_steps at least 1")
        if self.coarse_factor < 1 or self.verify_size // self.coarse_factor < 16:
            problems.append("coarse_factor must be at least 1 and leave coarse images of 16 px or more")
        if not -1.0 <= self.shortlist_threshold <= 1.0 or not -1.0 <= self.accept_threshold <= 1.0:
            problems.append("thresholds are correlations and must lie in [-1, 1]")
        if problems:
            raise BusbenchError("duplicate detector parameters", "; ".join(problems))

    def as_dict(self) -> dict[str, float | int]:
        """Return the parameters as a plain JSON-ready dict (field name -> value)."""
        return asdict(self)

    def digest(self) -> str:
        """Return a short hash of the parameters and the algorithm version (the cache key part for the parameters)."""
        text = json.dumps({"algorithm": ALGORITHM_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def scales(self) -> np.ndarray:
        """Return the coarse-search scales: log-spaced from ``1 / max_scale`` to ``max_scale``, including 1.0."""
        return _log_spaced(self.max_scale, self.scale_steps)

    def refine_factors(self) -> np.ndarray:
        """Return the full-size search's factors per axis: log-spaced from ``1 / refine_range`` to ``refine_range``."""
        return _log_spaced(self.refine_range, self.refine_steps)


@functools.lru_cache(maxsize=64)
def _log_spaced(limit: float, steps: int) -> np.ndarray:
    """``steps`` values log-spaced from ``1 / limit`` to ``limit`` (``[1.0]`` for one step).

    Computed once per pair of arguments (verification asks for them once per image pair) and read-only, since the
    array is shared.
    """
    values = np.array([1.0]) if steps == 1 else np.geomspace(1.0 / limit, limit, steps)
    values.flags.writeable = False
    return values


@dataclass(frozen=True)
class DuplicatePair:
    """Two cases whose images are duplicates.

    Attributes:
        a: Case id (the smaller of the two in sort order).
        b: The other case id.
        kind: ``"exact"`` (identical image fingerprint) or ``"near"`` (verified by alignment).
        flipped: Whether ``b`` matches the mirror image of ``a``.
        score: Verification normalised cross-correlation (1.0 for exact duplicates).
        scale: Scale of ``b`` relative to ``a`` at which they matched (1.0 for exact duplicates).

    """

    a: str
    b: str
    kind: str
    flipped: bool
    score: float
    scale: float

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DuplicatePair:
        """The pair of a JSON object as ``dataclasses.asdict`` writes it (``KeyError``/``ValueError`` if damaged)."""
        return cls(str(doc["a"]), str(doc["b"]), str(doc["kind"]), bool(doc["flipped"]), float(doc["score"]),
                   float(doc["scale"]))


@dataclass
class DuplicateReport:
    """What :func:`find_duplicates` found.

    Attributes:
        params: The detector parameters used.
        pairs: Accepted pairs, sorted by ``(a, b)``.
        clusters: Connected components of the pairs with at least two members; members sorted, clusters sorted by
            their first member.
        dataset_fingerprint: Fingerprint of the dataset the report belongs to (empty when unknown).
        shortlisted: Number of candidate pairs that went through verification.

    """

    params: DetectorParams
    pairs: list[DuplicatePair]
    clusters: list[list[str]]
    dataset_fingerprint: str = ""
    shortlisted: int = 0
    _index: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def cluster_ids(self, case_ids: Iterable[str]) -> dict[str, str]:
        """Map every case id to its cluster id.

        Args:
            case_ids: All case ids of the dataset.

        Returns:
            ``{case_id: "dup-<first member>"}`` for cases in a cluster, ``{case_id: case_id}`` for the rest.

        """
        if not self._index:
            self._index = {m: f"dup-{c[0]}" for c in self.clusters for m in c}
        return {cid: self._index.get(cid, cid) for cid in case_ids}

    def to_json(self) -> str:
        """Serialise the report as JSON text (see :meth:`from_json`)."""
        payload = {
            "format": _FORMAT,
            "algorithm": ALGORITHM_VERSION,
            "dataset_fingerprint": self.dataset_fingerprint,
            "params": self.params.as_dict(),
            "shortlisted": self.shortlisted,
            "pairs": [asdict(p) for p in self.pairs],
            "clusters": self.clusters,
        }
        return json.dumps(payload, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "duplicate report") -> DuplicateReport:
        """Read a report written by :meth:`to_json`.

        Args:
            text: The JSON text.
            where: How to name the source in an error message (a file path).

        Raises:
            BusbenchError: If the text is not a duplicate report of this format.

        """
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT:
                raise BusbenchError(where, f"not a busbench duplicate report (format {data.get('format')!r})")
            known = {f.name for f in fields(DetectorParams)}
            params = DetectorParams(**{k: v for k, v in data["params"].items() if k in known})
            pairs = [DuplicatePair.from_dict(p) for p in data["pairs"]]
            clusters = [[str(m) for m in c] for c in data["clusters"]]
            return cls(params, pairs, clusters, str(data.get("dataset_fingerprint", "")),
                       int(data.get("shortlisted", 0)))
        except BusbenchError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BusbenchError(where, f"damaged duplicate report ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class _Prepared:
    """One image ready for comparison.

    Attributes:
        full: Band-passed image at ``verify_size``.
        coarse: The same at the coarse size.
        scaled: ``coarse`` resized to every coarse-search scale, computed once rather than once per pair.
        thumb: Unit-length z-normalised thumbnail vectors, shape (2, thumb_size**2): whole image, central part.
        full_template: The central part of ``full`` searched for inside other images (:func:`_template`), or
            ``None`` when it is flat (a flat template matches anything; it never makes a duplicate).
        coarse_template: The same of ``coarse``.

    """

    full: np.ndarray
    coarse: np.ndarray
    scaled: tuple[np.ndarray, ...]
    thumb: np.ndarray
    full_template: np.ndarray | None
    coarse_template: np.ndarray | None

    def mirrored(self, params: DetectorParams) -> _Prepared:
        """Return the image mirrored left-right (resizing commutes with mirroring, so the scaled copies flip too).

        The templates are cut from the mirrored images again: the central part is not always centred to the pixel.
        """
        flip = lambda x: np.ascontiguousarray(x[:, ::-1])  # noqa: E731
        side = int(round(np.sqrt(self.thumb.shape[1])))
        full, coarse = flip(self.full), flip(self.coarse)
        return _Prepared(full, coarse, tuple(flip(x) for x in self.scaled),
                         self.thumb.reshape(-1, side, side)[:, :, ::-1].reshape(self.thumb.shape),
                         _template(full, params), _template(coarse, params))


# --- stage 1: thumbnails and shortlist -------------------------------------------------------------------------------
def _prepare(image: np.ndarray, params: DetectorParams) -> _Prepared:
    """Band-passed images for alignment (full, coarse, coarse at every scale) and the thumbnail vector."""
    img: np.ndarray = image.astype(np.float32)
    if params.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), params.blur_sigma)
    # The thumbnail keeps the low frequencies: at 32 px they are most of what is left of an image, and removing them
    # made planted partners rank lower among an image's neighbours in our measurements.
    side = params.thumb_size
    whole = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    wide = side + 2 * (side // 8)  # the central part is the middle 80% of the image
    edge = side // 8
    centre = cv2.resize(img, (wide, wide), interpolation=cv2.INTER_AREA)[edge:edge + side, edge:edge + side]
    if params.highpass_sigma > 0:
        img = img - cv2.GaussianBlur(img, (0, 0), params.highpass_sigma)
    small = params.verify_size // params.coarse_factor
    coarse = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    scaled = tuple(_resize(coarse, s, s) for s in params.scales())
    return _Prepared(img, coarse, scaled, np.stack([_unit(whole.ravel()), _unit(centre.ravel())]),
                     _template(img, params), _template(coarse, params))


def _resize(image: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """``image`` resized by horizontal and vertical factors (area averaging when shrinking)."""
    size = image.shape[0]
    w, h = int(round(size * sx)), int(round(size * sy))
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_LINEAR)


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else np.zeros_like(v)  # a flat image correlates with nothing


def _shortlist(thumbs: np.ndarray, mirrored: np.ndarray, params: DetectorParams) -> dict[tuple[int, int], bool]:
    """Candidate pairs ``(i, j)`` with ``i < j`` and whether ``j`` should be mirrored to match ``i``.

    Args:
        thumbs: (N, 2, D) unit thumbnail vectors (whole image, central part).
        mirrored: The same of the mirror images.
        params: Detector parameters.

    Each image nominates its ``shortlist_k`` best partners over both orientations; a pair nominated by either side
    is kept, in the orientation with the higher thumbnail correlation. The similarity of two images is the higher of
    their whole-image and central-part correlations.

    """
    n = len(thumbs)
    direct = np.maximum(thumbs[:, 0] @ thumbs[:, 0].T, thumbs[:, 1] @ thumbs[:, 1].T)
    # corr(i, mirror(j)) == corr(mirror(i), j), so one product per variant covers both orders
    flipped = np.maximum(thumbs[:, 0] @ mirrored[:, 0].T, thumbs[:, 1] @ mirrored[:, 1].T)
    np.fill_diagonal(direct, -np.inf)
    np.fill_diagonal(flipped, -np.inf)
    best = np.maximum(direct, flipped)
    k = min(params.shortlist_k, n - 1)
    out: dict[tuple[int, int], bool] = {}
    if k <= 0:
        return out
    top = np.argpartition(-best, k - 1, axis=1)[:, :k]
    for i in range(n):
        for j in top[i]:
            j = int(j)
            if best[i, j] < params.shortlist_threshold:
                continue
            key = (min(i, j), max(i, j))
            out[key] = bool(flipped[key] > direct[key])
    return out


# --- stage 2: verification by alignment ------------------------------------------------------------------------------
def _template(image: np.ndarray, params: DetectorParams) -> np.ndarray | None:
    """Cut the central part of a square image, the part searched for inside the other image (``None`` if flat)."""
    size = image.shape[0]
    side = max(8, int(round(size * params.verify_center)))
    start = (size - side) // 2
    template = image[start:start + side, start:start + side]
    return None if float(template.std()) < 1e-3 else template


def _match(search: np.ndarray, template: np.ndarray) -> float:
    """Best NCC over all translations of ``template`` inside ``search`` (-1 when the template does not fit)."""
    if search.shape[0] < template.shape[0] or search.shape[1] < template.shape[1]:
        return -1.0
    return float(cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED).max())


def _coarse(template_src: _Prepared, search_src: _Prepared, params: DetectorParams) -> tuple[float, float]:
    """Best NCC of the centre of ``template_src`` inside ``search_src`` over the coarse scales: ``(score, scale)``."""
    template = template_src.coarse_template
    if template is None:
        return -1.0, 1.0  # a flat template matches anything; never call that a duplicate
    best = (-1.0, 1.0)
    for s, search in zip(params.scales(), search_src.scaled, strict=True):
        score = _match(search, template)
        if score > best[0]:
            best = (score, float(s))
    return best


def _refine(
    template_src: _Prepared, search_src: np.ndarray, scale: float, params: DetectorParams
) -> tuple[float, float, float]:
    """Best NCC of the centre of ``template_src`` inside full-size ``search_src``: ``(score, sx, sy)``.

    Horizontal and vertical scales are searched separately around ``scale``.
    """
    template = template_src.full_template
    if template is None:
        return -1.0, 1.0, 1.0
    best = (-1.0, scale, scale)
    factors = params.refine_factors()
    for fx in factors:
        for fy in factors:
            score = _match(_resize(search_src, scale * fx, scale * fy), template)
            if score > best[0]:
                best = (score, float(scale * fx), float(scale * fy))
    return best


def _verify(a: _Prepared, b: _Prepared, params: DetectorParams) -> tuple[float, float]:
    """Verification score of a pair and the scale of ``b`` relative to ``a`` (geometric mean of both axes).

    ``b`` comes in the orientation to compare (mirrored already for a mirrored pair, see :func:`_oriented`). Both
    directions are tried (a inside b and b inside a) because the image with the smaller field of view is the one
    that fits inside the other. A pair whose coarse score stays below ``coarse_floor`` is rejected with it.
    """
    ab = _coarse(a, b, params)
    ba = _coarse(b, a, params)
    if max(ab[0], ba[0]) < params.coarse_floor:
        return (ab[0], ab[1]) if ab[0] >= ba[0] else (ba[0], 1.0 / ba[1])
    fab = _refine(a, b.full, ab[1], params)
    fba = _refine(b, a.full, ba[1], params)
    if fab[0] >= fba[0]:
        return fab[0], float(np.sqrt(fab[1] * fab[2]))
    return fba[0], float(1.0 / np.sqrt(fba[1] * fba[2]))


def _oriented(
    images: Sequence[_Prepared], mirror: Iterable[int], pool: ThreadPoolExecutor, params: DetectorParams
) -> dict[int, _Prepared]:
    """The mirror images of ``images[j]`` for every ``j`` in ``mirror``.

    Each is made once: an image is usually the mirrored side of several shortlisted pairs.
    """
    wanted = sorted(set(mirror))
    return dict(zip(wanted, pool.map(lambda j: images[j].mirrored(params), wanted), strict=True))


# --- clustering ----------------------------------------------------------------------------------------------------
def connected_components(ids: Sequence[str], pairs: Iterable[DuplicatePair]) -> list[list[str]]:
    """Groups of at least two ids joined by ``pairs``, directly or through others.

    Members are sorted, and groups sorted by their first member.
    """
    parent = {cid: cid for cid in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = root(p.a), root(p.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for cid in ids:
        groups[root(cid)].append(cid)
    return sorted((sorted(g) for g in groups.values() if len(g) >= 2), key=lambda g: g[0])


# --- entry point ---------------------------------------------------------------------------------------------------
def report_path(dataset: Dataset, params: DetectorParams) -> Path:
    """Return where the cached report of ``dataset`` under ``params`` lives."""
    return cache_root() / "duplicates" / f"{dataset.fingerprint()}-{params.digest()}.json"


def detect(
    dataset: Dataset, params: DetectorParams = DetectorParams(), *, progress: bool = False
) -> DuplicateReport:
    """Run the detector on ``dataset`` without touching the report cache (see :func:`find_duplicates`)."""
    facts = dataset.facts(progress=progress)
    ids = sorted(c.case_id for c in dataset.cases)

    # Exact duplicates share a fingerprint; only one representative per fingerprint needs the image comparison.
    by_fp: dict[str, list[str]] = defaultdict(list)
    for cid in ids:
        by_fp[facts[cid].image_fingerprint].append(cid)
    pairs: list[DuplicatePair] = []
    for members in by_fp.values():
        for i, a in enumerate(members):
            pairs.extend(DuplicatePair(a, b, "exact", False, 1.0, 1.0) for b in members[i + 1:])
    reps = [members[0] for members in by_fp.values()]
    reps.sort()

    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = pool.map(lambda cid: _prepare(dataset.load(cid, params.verify_size)[0], params), reps)
        images = list(tqdm(loaded, total=len(reps), desc="duplicates: loading", unit="img", disable=not progress))
        thumbs = np.stack([p.thumb for p in images])
        side = params.thumb_size
        mirrored = np.ascontiguousarray(thumbs.reshape(-1, 2, side, side)[..., ::-1].reshape(thumbs.shape))
        candidates = sorted(_shortlist(thumbs, mirrored, params).items())
        mirrors = _oriented(images, (j for (_, j), flip in candidates if flip), pool, params)
        results = pool.map(
            lambda item: _verify(images[item[0][0]], mirrors[item[0][1]] if item[1] else images[item[0][1]], params),
            candidates)
        bar = tqdm(results, total=len(candidates), desc="duplicates: verifying", unit="pair", disable=not progress)
        for ((i, j), flip), (score, scale) in zip(candidates, bar, strict=True):
            if score >= params.accept_threshold:
                pairs.append(DuplicatePair(reps[i], reps[j], "near", flip, round(score, 4), round(scale, 4)))
    pairs.sort(key=lambda p: (p.a, p.b))
    return DuplicateReport(params, pairs, connected_components(ids, pairs), dataset.fingerprint(), len(candidates))


def cross_duplicates(train: Dataset, test: Dataset, params: DetectorParams = DetectorParams(), *,
                     progress: bool = False) -> list[DuplicatePair]:
    """Duplicates *between* two datasets: every case of ``test`` whose image is also in ``train``, exactly or nearly.

    The same detector as :func:`detect`, across the two: an identical image fingerprint is an exact pair; otherwise
    each image nominates its ``shortlist_k`` most similar thumbnails *of the other dataset* (over both orientations,
    above ``shortlist_threshold``) and each nominated pair is verified by alignment, accepted at
    ``accept_threshold``. A test image matching several training images is paired with the most similar one.

    The pairs depend only on the two datasets' pixels and ``params``, so they are cached as JSON under
    ``cache_root()/duplicates/across-<train fingerprint>-<test fingerprint>-<params hash>.json``, as
    :func:`find_duplicates` caches its reports; a damaged cache file is recomputed and replaced.

    Args:
        train: The training data.
        test: The data tested on.
        params: Detector thresholds and sizes.
        progress: Show progress bars on the terminal.

    Returns:
        Pairs with ``a`` a case of ``train`` and ``b`` a case of ``test``, one per test case found, sorted by ``b``.
    """
    key = {"format": _ACROSS_FORMAT, "algorithm": ALGORITHM_VERSION, "train_fingerprint": train.fingerprint(),
           "test_fingerprint": test.fingerprint(), "params": params.as_dict()}
    path = cache_root() / "duplicates" / (
        f"across-{key['train_fingerprint']}-{key['test_fingerprint']}-{params.digest()}.json")
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if {k: cached[k] for k in key} == key:
            return [DuplicatePair.from_dict(p) for p in cached["pairs"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no usable cached result: compute it
    pairs = _detect_across(train, test, params, progress)
    atomic_write_json(path, {**key, "pairs": [asdict(p) for p in pairs]})
    return pairs


def _detect_across(train: Dataset, test: Dataset, params: DetectorParams, progress: bool) -> list[DuplicatePair]:
    """:func:`cross_duplicates` without its cache."""
    facts_a, facts_b = train.facts(progress=progress), test.facts(progress=progress)
    reps_a: dict[str, str] = {}
    for cid in sorted(c.case_id for c in train.cases):
        reps_a.setdefault(facts_a[cid].image_fingerprint, cid)
    members_b: dict[str, list[str]] = defaultdict(list)
    for cid in sorted(c.case_id for c in test.cases):
        members_b[facts_b[cid].image_fingerprint].append(cid)
    found: dict[str, DuplicatePair] = {}
    for fp, members in members_b.items():
        if fp in reps_a:
            found.update((b, DuplicatePair(reps_a[fp], b, "exact", False, 1.0, 1.0)) for b in members)
    ids_a = sorted(reps_a.values())
    fps_b = sorted(fp for fp in members_b if fp not in reps_a)
    if ids_a and fps_b:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            def prepared(dataset: Dataset, ids: list[str]) -> list[_Prepared]:
                loaded = pool.map(lambda cid: _prepare(dataset.load(cid, params.verify_size)[0], params), ids)
                return list(tqdm(loaded, total=len(ids), desc=f"duplicates across: loading {dataset.name}",
                                 unit="img", disable=not progress))

            images_a = prepared(train, ids_a)
            images_b = prepared(test, [members_b[fp][0] for fp in fps_b])
            side = params.thumb_size
            ta, tb = np.stack([p.thumb for p in images_a]), np.stack([p.thumb for p in images_b])
            mb = np.ascontiguousarray(tb.reshape(-1, 2, side, side)[..., ::-1].reshape(tb.shape))
            direct = np.maximum(ta[:, 0] @ tb[:, 0].T, ta[:, 1] @ tb[:, 1].T)
            flipped = np.maximum(ta[:, 0] @ mb[:, 0].T, ta[:, 1] @ mb[:, 1].T)
            best = np.maximum(direct, flipped)
            nominated: set[tuple[int, int]] = set()  # each training image's best test images, and vice versa
            k_row = min(params.shortlist_k, best.shape[1])
            for i, row in enumerate(np.argpartition(-best, k_row - 1, axis=1)[:, :k_row]):
                nominated.update((i, int(j)) for j in row)
            k_col = min(params.shortlist_k, best.shape[0])
            for j, col in enumerate(np.argpartition(-best, k_col - 1, axis=0)[:k_col].T):
                nominated.update((int(i), j) for i in col)
            candidates = sorted(ij for ij in nominated if best[ij] >= params.shortlist_threshold)
            flips = {ij: bool(flipped[ij] > direct[ij]) for ij in candidates}
            mirrors = _oriented(images_b, (j for (_, j), flip in flips.items() if flip), pool, params)
            results = pool.map(lambda ij: _verify(images_a[ij[0]], mirrors[ij[1]] if flips[ij] else images_b[ij[1]],
                                                  params), candidates)
            bar = tqdm(results, total=len(candidates), desc="duplicates across: verifying", unit="pair",
                       disable=not progress)
            for (i, j), (score, scale) in zip(candidates, bar, strict=True):
                if score < params.accept_threshold:
                    continue
                for b in members_b[fps_b[j]]:
                    pair = DuplicatePair(ids_a[i], b, "near", flips[i, j], round(score, 4), round(scale, 4))
                    if b not in found or found[b].score < pair.score:
                        found[b] = pair
    return [found[b] for b in sorted(found)]


def find_duplicates(
    dataset: Dataset, params: DetectorParams = DetectorParams(), *, progress: bool = False
) -> DuplicateReport:
    """Find exact and near-duplicate images of a dataset and group them into clusters, reusing a cached report.

    The report is cached as JSON under ``cache_root()/duplicates/<dataset fingerprint>-<params hash>.json``; a
    damaged cache file is recomputed and replaced.

    Args:
        dataset: The dataset to examine.
        params: Detector thresholds and sizes.
        progress: Show progress bars on the terminal.

    Returns:
        The pairs found and their clusters.

    Raises:
        BusbenchError: If an image cannot be decoded.

    """
    path = report_path(dataset, params)
    try:
        cached = DuplicateReport.from_json(Path(path).read_text(encoding="utf-8"), str(path))
        if cached.params == params and cached.dataset_fingerprint == dataset.fingerprint():
            return cached
    except (OSError, BusbenchError):
        pass  # no usable cached report: compute it
    report = detect(dataset, params, progress=progress)
    atomic_write_json(path, json.loads(report.to_json()))
    return report
