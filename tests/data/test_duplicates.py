"""Near-duplicate detection: planted copies are found, distinct images stay apart, reports round-trip and cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.data import duplicates as dup
from benchmark.data.busi import load_busi
from benchmark.data.duplicates import DetectorParams, DuplicatePair, DuplicateReport, find_duplicates
from benchmark.errors import BusbenchError

# Real BUSI images that are no duplicate of one another (checked visually, see BENCHMARKS.md), downscaled for speed.
BUSI_ORIGINALS = [("malignant", 1), ("malignant", 2), ("normal", 2), ("normal", 3)]


def _procedural(seed: int, shape: tuple[int, int] = (150, 180)) -> np.ndarray:
    """A grey image with structure at several scales (no two seeds alike), bright on top and dark below."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    for sigma, weight in ((12, 60.0), (4, 40.0), (1.5, 25.0)):
        img += weight * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma) * sigma
    img += np.linspace(150, 60, shape[0], dtype=np.float32)[:, None]  # the shared dark-bottom layout of ultrasound
    return np.clip(img, 0, 255).astype(np.uint8)


def _busi_image(busi_dir: Path, label: str, n: int) -> np.ndarray:
    path = busi_dir / "Dataset_BUSI_with_GT" / label / f"{label} ({n}).png"
    img = Image.open(path).convert("L")
    return np.asarray(img.resize((img.width // 3, img.height // 3), Image.BILINEAR))


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def _crop(img: np.ndarray, rng: np.random.Generator, fraction: float = 0.05) -> np.ndarray:
    h, w = img.shape
    t, b = (int(round(rng.uniform(0.5, 1.0) * fraction * h)) for _ in range(2))
    left, right = (int(round(rng.uniform(0.5, 1.0) * fraction * w)) for _ in range(2))
    return img[t:h - b, left:w - right]


def _write_busi(root: Path, cases: dict[str, tuple[str, np.ndarray]]) -> Path:
    """Write ``{case stem: (label, grey image)}`` in the BUSI layout, each with an empty mask."""
    for stem, (label, img) in cases.items():
        folder = root / "Dataset_BUSI_with_GT" / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{stem}.png")
        Image.fromarray(np.zeros(img.shape, np.uint8)).save(folder / f"{stem}_mask.png")
    return root


def _planted(root: Path, originals: list[np.ndarray]) -> tuple[Path, list[list[str]]]:
    """Four originals plus six transformed copies of three of them; returns the root and the expected clusters."""
    rng = np.random.default_rng(7)
    o = originals
    brighter = np.clip(o[2].astype(np.int16) + 20, 0, 255).astype(np.uint8)
    resized = cv2.resize(o[1], (int(o[1].shape[1] * 0.7), int(o[1].shape[0] * 0.7)), interpolation=cv2.INTER_AREA)
    cases = {
        "benign (1)": ("benign", o[0]),
        "benign (2)": ("benign", o[1]),
        "malignant (1)": ("malignant", o[2]),
        "normal (1)": ("normal", o[3]),
        "benign (11)": ("benign", o[0].copy()),  # exact
        "benign (12)": ("benign", _crop(o[0], rng)),  # 5% crop
        "benign (13)": ("benign", resized),  # resized
        "malignant (14)": ("malignant", np.ascontiguousarray(o[1][:, ::-1])),  # flipped, filed under another class
        "malignant (15)": ("malignant", brighter),  # brightness +20
        "normal (16)": ("normal", _jpeg(o[2], 80)),  # JPEG round trip, another class again
    }
    expected = [
        ["benign-1", "benign-11", "benign-12"],
        ["benign-13", "benign-2", "malignant-14"],
        ["malignant-1", "malignant-15", "normal-16"],
    ]
    return _write_busi(root, cases), sorted(expected)


@pytest.fixture(params=["procedural", "busi"])
def planted(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[list[str]]]:
    if request.param == "busi":
        busi_dir = request.getfixturevalue("busi_dir")  # skips visibly when the real data are absent
        originals = [_busi_image(busi_dir, label, n) for label, n in BUSI_ORIGINALS]
    else:
        originals = [_procedural(seed) for seed in range(4)]
    return _planted(tmp_path / "data", originals)


def test_planted_copies_found_without_false_pairs(planted: tuple[Path, list[list[str]]]) -> None:
    root, expected = planted
    report = find_duplicates(load_busi(root))
    assert report.clusters == expected
    within = {frozenset((a, b)) for c in expected for i, a in enumerate(c) for b in c[i + 1:]}
    assert all(frozenset((p.a, p.b)) in within for p in report.pairs)
    kinds = {(p.a, p.b): p for p in report.pairs}
    assert kinds[("benign-1", "benign-11")].kind == "exact"
    assert kinds[("benign-1", "benign-11")].score == 1.0
    assert kinds[("benign-2", "malignant-14")].flipped
    assert kinds[("benign-2", "malignant-14")].kind == "near"
    assert not kinds[("malignant-1", "malignant-15")].flipped
    resized = kinds.get(("benign-13", "benign-2"))
    if resized is not None:  # may be linked through the flipped copy only; if direct, the scale is the planted one
        assert resized.kind == "near"


def test_distinct_images_are_not_merged(tmp_path: Path) -> None:
    labels = ("normal", "benign", "malignant")
    cases = {f"{labels[i % 3]} ({i})": (labels[i % 3], _procedural(100 + i)) for i in range(1, 10)}
    report = find_duplicates(load_busi(_write_busi(tmp_path, cases)))
    assert report.pairs == []
    assert report.clusters == []
    assert report.shortlisted > 0  # the shortlist did send pairs to verification, which rejected them


def test_cluster_ids_cover_every_case(planted: tuple[Path, list[list[str]]]) -> None:
    root, expected = planted
    dataset = load_busi(root)
    report = find_duplicates(dataset)
    ids = [c.case_id for c in dataset.cases]
    mapping = report.cluster_ids(ids)
    assert set(mapping) == set(ids)
    for cluster in expected:
        assert {mapping[m] for m in cluster} == {f"dup-{cluster[0]}"}
    assert mapping["normal-1"] == "normal-1"


def test_json_round_trip() -> None:
    params = DetectorParams(accept_threshold=0.9, shortlist_k=4)
    report = DuplicateReport(
        params,
        [DuplicatePair("a-1", "b-2", "near", True, 0.93, 1.07), DuplicatePair("a-1", "c-3", "exact", False, 1.0, 1.0)],
        [["a-1", "b-2", "c-3"]],
        dataset_fingerprint="f" * 64,
        shortlisted=12,
    )
    again = DuplicateReport.from_json(report.to_json())
    assert again == report
    assert again.params.as_dict() == params.as_dict()
    assert again.cluster_ids(["a-1", "z-9"]) == {"a-1": "dup-a-1", "z-9": "z-9"}


def test_damaged_report_is_a_busbench_error() -> None:
    with pytest.raises(BusbenchError, match="report.json"):
        DuplicateReport.from_json('{"format": "busbench-duplicates-v1", "pairs": [', "report.json")
    with pytest.raises(BusbenchError, match="not a busbench duplicate report"):
        DuplicateReport.from_json(json.dumps({"format": "other"}), "x.json")


def test_bad_params_are_rejected() -> None:
    with pytest.raises(BusbenchError, match="scale_steps must be odd"):
        DetectorParams(scale_steps=4)
    with pytest.raises(BusbenchError, match="thresholds"):
        DetectorParams(accept_threshold=1.5)


def test_report_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {f"{label} (1)": (label, _procedural(i)) for i, label in enumerate(("normal", "benign", "malignant"))}
    cases["benign (9)"] = ("benign", _procedural(1)[:, ::-1].copy())
    dataset = load_busi(_write_busi(tmp_path, cases))
    first = find_duplicates(dataset)
    path = Path(dup.report_path(dataset, DetectorParams()))
    assert path.is_file()
    assert DuplicateReport.from_json(path.read_text()) == first

    def fail(*args: object, **kwargs: object) -> DuplicateReport:
        raise AssertionError("the cached report should have been reused")

    monkeypatch.setattr(dup, "detect", fail)
    assert find_duplicates(load_busi(tmp_path)) == first
    other = DetectorParams(accept_threshold=0.95)
    assert dup.report_path(dataset, other) != path  # other parameters, other cache entry
    monkeypatch.undo()
    path.write_text("{damaged")  # a damaged cache file is recomputed, not trusted
    assert find_duplicates(load_busi(tmp_path)) == first


def test_known_busi_duplicates_are_clustered(busi_dir: Path, tmp_path: Path) -> None:
    # A subset of the real files keeps this fast: an exact cross-class pair, a near-duplicate cross-class trio with
    # different crops, and unrelated images that must stay singletons.
    picks = {"benign": [433, 333, 1, 2], "malignant": [145, 77, 78, 1, 2], "normal": [2, 3]}
    src = busi_dir / "Dataset_BUSI_with_GT"
    cases = {
        f"{label} ({n})": (label, np.asarray(Image.open(src / label / f"{label} ({n}).png").convert("L")))
        for label, numbers in picks.items()
        for n in numbers
    }
    dataset = load_busi(_write_busi(tmp_path, cases))
    report = find_duplicates(dataset)
    ids = report.cluster_ids([c.case_id for c in dataset.cases])
    assert ids["benign-433"] == ids["malignant-145"] == "dup-benign-433"
    assert ids["benign-333"] == ids["malignant-77"] == ids["malignant-78"] == "dup-benign-333"
    assert report.clusters == [["benign-333", "malignant-77", "malignant-78"], ["benign-433", "malignant-145"]]


@pytest.mark.slow
def test_planted_pairs_of_a_synthetic_set_are_recovered() -> None:
    from benchmark.data.open import open_dataset
    from benchmark.data.synthetic import planted_pairs

    ds = open_dataset("synthetic:n=160,seed=2,size=128")
    pairs = planted_pairs(ds)
    report = find_duplicates(ds)
    cluster = report.cluster_ids([c.case_id for c in ds.cases])
    found = sum(cluster[a] == cluster[b] for a, b, _ in pairs)
    # precision: a detected pair is right when both cases share a planted original (one planted cluster)
    planted_root = {}
    for a, b, _ in pairs:
        planted_root[b] = planted_root.get(a, a)
    root = {c.case_id: planted_root.get(c.case_id, c.case_id) for c in ds.cases}
    correct = sum(root[p.a] == root[p.b] for p in report.pairs)
    assert len(pairs) >= 6 and found / len(pairs) >= 0.95
    assert report.pairs and correct / len(report.pairs) >= 0.95


def test_duplicates_across_two_datasets_are_found_and_nothing_else(tmp_path: Path) -> None:
    # Another dataset that holds some training images: one as is, one mirrored, cropped and re-encoded (a near copy),
    # and images of its own; within itself it also repeats one of its own images (no concern across datasets).
    rng = np.random.default_rng(0)
    originals = [_procedural(seed) for seed in range(6)]
    labels = ("normal", "benign", "malignant")
    train = load_busi(_write_busi(tmp_path / "train", {f"{labels[i % 3]} ({i + 1})": (labels[i % 3], img)
                                                         for i, img in enumerate(originals)}))
    near = _jpeg(_crop(originals[3][:, ::-1], rng), 80)
    own = [_procedural(100 + seed) for seed in range(4)]
    test = load_busi(_write_busi(tmp_path / "test", {
        "malignant (1)": ("malignant", originals[1]), "malignant (2)": ("malignant", near),
        **{f"{labels[i % 3]} ({i + 1})": (labels[i % 3], img) for i, img in enumerate(own)},
        "benign (9)": ("benign", own[0])}))
    pairs = dup.cross_duplicates(train, test)
    assert [(p.a, p.b, p.kind) for p in pairs] == [("benign-2", "malignant-1", "exact"),
                                                  ("normal-4", "malignant-2", "near")]
    assert pairs[1].flipped and pairs[1].score >= DetectorParams().accept_threshold


def test_duplicates_across_two_datasets_are_cached_by_both_fingerprints(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    a = {f"{label} (1)": (label, _procedural(i)) for i, label in enumerate(("normal", "benign", "malignant"))}
    b = {"benign (1)": ("benign", _procedural(1)[:, ::-1].copy()), "normal (1)": ("normal", _procedural(50)),
         "malignant (1)": ("malignant", _procedural(51))}
    train, test = load_busi(_write_busi(tmp_path / "a", a)), load_busi(_write_busi(tmp_path / "b", b))
    first = dup.cross_duplicates(train, test)
    assert [(p.a, p.b, p.flipped) for p in first] == [("benign-1", "benign-1", True)]
    files = list((tmp_path / "cache" / "duplicates").glob("across-*.json"))
    assert [f.name for f in files] == [
        f"across-{train.fingerprint()}-{test.fingerprint()}-{DetectorParams().digest()}.json"]

    def fail(*args: object, **kwargs: object) -> list[DuplicatePair]:
        raise AssertionError("the cached pairs should have been reused")

    monkeypatch.setattr(dup, "_detect_across", fail)
    assert dup.cross_duplicates(train, test) == first
    with pytest.raises(AssertionError, match="reused"):  # the other direction, or other parameters: not cached
        dup.cross_duplicates(test, train)
    with pytest.raises(AssertionError, match="reused"):
        dup.cross_duplicates(train, test, DetectorParams(accept_threshold=0.95))
    monkeypatch.undo()
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    files[0].write_text("{damaged")  # a damaged cache file is recomputed and replaced, not trusted
    assert dup.cross_duplicates(train, test) == first
    assert json.loads(files[0].read_text())["pairs"][0]["b"] == "benign-1"
