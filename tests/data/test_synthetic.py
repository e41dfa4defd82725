"""The synthetic phantom dataset: spec parsing, layout, determinism, planted duplicates, learnability."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.data.busi import load_busi
from benchmark.data.open import open_dataset
from benchmark.data.synthetic import (
    DUPLICATE_KINDS,
    SyntheticConfig,
    class_counts_for,
    config_digest,
    generate,
    generation,
    parse_synthetic_spec,
    phantom_facts,
    planted_pairs,
    render_phantom,
    synthetic_root,
    synthetic_spec,
)
from benchmark.data.synthetic import dataset as synthetic_dataset
from benchmark.data.synthetic.plan import plan
from benchmark.errors import BusbenchError
from tests.helpers import tiny_busi

# n=80 gives round(0.08 * 80) = 6 planted copies: one of each kind, one of them filed under the other class.
SPEC = "synthetic:n=80,seed=3,size=64"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("synthetic-cache")
        mp.setenv("BUSBENCH_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def small(cache_dir: Path):
    return open_dataset(SPEC)


def _pixel_hashes(root: Path) -> dict[str, str]:
    """sha256 of the decoded pixels (and PIL mode) of every PNG under ``root``, by relative path."""
    out = {}
    for path in sorted(root.rglob("*.png")):
        img = Image.open(path)
        digest = hashlib.sha256(img.mode.encode() + np.asarray(img).tobytes())
        out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out


# --- spec ---------------------------------------------------------------------------------------------------------


def test_spec_parsing_and_round_trip():
    assert parse_synthetic_spec("synthetic") == SyntheticConfig(n=780, seed=0, size=None)
    assert parse_synthetic_spec("synthetic:n=60,seed=1,size=96") == SyntheticConfig(60, 1, 96)
    assert parse_synthetic_spec("synthetic:size=none, n=12") == SyntheticConfig(12, 0, None)
    for config in (SyntheticConfig(), SyntheticConfig(60, 1, 96), SyntheticConfig(seed=5)):
        assert parse_synthetic_spec(synthetic_spec(config)) == config
    assert synthetic_spec(SyntheticConfig()) == "synthetic"
    assert synthetic_spec(SyntheticConfig(60, 1, 96)) == "synthetic:n=60,seed=1,size=96"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("synthetic:colour=1", "unknown option 'colour'"),
        ("synthetic:n=ten", "not a whole number"),
        ("synthetic:n=2", "out of range"),
        ("synthetic:size=8", "out of range"),
        ("synthetic:seed=-1", "out of range"),
        ("synthetic:n=5,n=6", "given twice"),
        ("synthetic:n", "not key=value"),
        ("synthetic:", "no options"),
        ("synthetics", "not a synthetic dataset spec"),
    ],
)
def test_spec_errors_name_the_spec_and_the_problem(spec: str, problem: str):
    with pytest.raises(BusbenchError) as err:
        parse_synthetic_spec(spec)
    assert err.value.where == spec
    assert problem in err.value.problem


def test_class_counts_follow_busi():
    assert class_counts_for(780) == {"normal": 133, "benign": 437, "malignant": 210}
    for n in (3, 4, 7, 20, 61, 300, 1001):
        counts = class_counts_for(n)
        assert sum(counts.values()) == n and min(counts.values()) >= 1
        # Within one image of the BUSI share for every class.
        for label, busi in {"normal": 133, "benign": 437, "malignant": 210}.items():
            assert abs(counts[label] - n * busi / 780) <= 1


def test_default_plan_plants_busi_like_duplicates():
    # The plan of the default set, checked without drawing it: ~8% copies, every kind, 2-4 filed under another class.
    items = plan(SyntheticConfig())
    copies = [it for it in items if it.source is not None]
    assert len(items) == 780 and 55 <= len(copies) <= 70
    assert set(Counter(it.kind for it in copies)) == set(DUPLICATE_KINDS)
    cross = [it for it in copies if items[it.source].label != it.label]
    assert 2 <= len(cross) <= 4
    assert all({items[it.source].label, it.label} == {"benign", "malignant"} for it in cross)
    assert all(items[it.source].source is None for it in copies)  # copies are of originals
    assert Counter(it.label for it in items) == Counter({"benign": 437, "malignant": 210, "normal": 133})
    assert 10 <= sum(it.colour for it in items) <= 25 and 60 <= sum(it.annotate for it in items) <= 95


# --- generation -----------------------------------------------------------------------------------------------------


def test_generation_is_deterministic_and_seeded(tmp_path: Path):
    config = SyntheticConfig(n=30, seed=11, size=48)
    first = _pixel_hashes(generate(config, tmp_path / "a"))
    second = _pixel_hashes(generate(config, tmp_path / "b"))
    assert len(first) >= 60 and first == second
    for name in ("duplicates.csv", "phantom_facts.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    other = _pixel_hashes(generate(SyntheticConfig(n=30, seed=12, size=48), tmp_path / "c"))
    assert sum(first[k] != other.get(k) for k in first) > len(first) // 2


def test_worker_threads_do_not_change_pixels(tmp_path: Path, monkeypatch):
    config = SyntheticConfig(n=16, seed=2, size=40)
    alone = _pixel_hashes(generate(config, tmp_path / "one", workers=1))
    # Make the first two images meet at a barrier: it only opens when two threads draw at the same time, so the
    # comparison below is of really concurrent drawing (a pool that ran serially would time out here).
    draw, barrier, threads = generation._draw_original, threading.Barrier(2, timeout=20), set()

    def meeting(config, item, folder):
        threads.add(threading.get_ident())
        if item.index < 2:
            barrier.wait()
        return draw(config, item, folder)

    monkeypatch.setattr(generation, "_draw_original", meeting)
    pooled = _pixel_hashes(generate(config, tmp_path / "two", workers=2))
    assert len(threads) == 2 and threading.get_ident() not in threads
    assert alone == pooled and len(alone) >= 32
    for name in ("duplicates.csv", "phantom_facts.csv"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


def test_a_failing_worker_thread_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    def broken(config, item, source, folder):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generation, "_draw_copy", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(SyntheticConfig(n=40, size=32), tmp_path / "set", workers=2)
    assert list(tmp_path.iterdir()) == []


def test_a_script_without_main_guard_can_generate(tmp_path: Path):
    # Worker processes started by "spawn" re-import the caller's script, so a script without an
    # ``if __name__ == "__main__":`` guard used to fail; threads have no such requirement.
    script = tmp_path / "script.py"
    script.write_text(
        "from benchmark.data.synthetic import SyntheticConfig, generate\n"
        f"generate(SyntheticConfig(n=12, size=32), {str(tmp_path / 'set')!r}, workers=2)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((tmp_path / "set" / "Dataset_BUSI_with_GT").rglob("*).png"))) == 12


def test_generate_refuses_a_used_folder_and_leaves_nothing_half_written(tmp_path: Path, monkeypatch):
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    with pytest.raises(BusbenchError, match="not empty"):
        generate(SyntheticConfig(n=5, size=32), used)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "_write_tables", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(SyntheticConfig(n=5, size=32), tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]


def test_concurrent_opens_of_a_new_set_draw_it_once(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path))
    drawn, opened, real = [], [], synthetic_dataset.generate

    def counting(config, root, **kwargs):
        drawn.append(root)
        return real(config, root, **kwargs)

    monkeypatch.setattr(synthetic_dataset, "generate", counting)
    threads = [threading.Thread(target=lambda: opened.append(open_dataset("synthetic:n=12,seed=2,size=48")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(drawn) == 1 and len(opened) == 3
    assert len({d.fingerprint() for d in opened}) == 1


def test_default_sizes_vary_like_busi():
    shapes = [render_phantom(label, [9, k], None)[0].shape for k, label in enumerate(["benign", "normal"] * 3)]
    assert all(300 <= h <= 560 and 380 <= w <= 640 and c == 3 for h, w, c in shapes)
    assert len({(h, w) for h, w, _ in shapes}) > 1


# --- the cached dataset -------------------------------------------------------------------------------------------


def test_opens_through_open_dataset_with_busi_layout(small, cache_dir: Path):
    assert small.name == SPEC and small.kind == "synthetic"
    assert small.class_counts() == class_counts_for(80)
    root = synthetic_root(small)
    assert root.parent == cache_dir / "synthetic"
    assert (root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png").is_file()
    two_lesions = 0
    resized_or_cropped = {b for _, b, kind in planted_pairs(small) if kind in ("resized", "cropped")}
    for case in small.cases:
        assert case.masks and case.masks[0].endswith("_mask.png")
        rgb, mask = small.decode(case)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and mask is not None and mask.shape == rgb.shape[:2]
        if case.case_id not in resized_or_cropped:
            assert 0.75 * 64 - 1 <= max(rgb.shape[:2]) <= 64
        assert mask.any() == (case.label != "normal"), case.case_id
        two_lesions += len(case.masks) == 2
    facts = phantom_facts(small)
    assert sum(int(f["n_lesions"]) == 2 for f in facts.values()) == two_lesions
    assert len({small.facts()[c.case_id].height for c in small.cases}) > 3  # sizes vary
    # Opening again reuses the generated set instead of drawing it anew.
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    again = open_dataset(SPEC)
    assert synthetic_root(again) == root and (root / "synthetic.json").stat().st_mtime_ns == stamp
    assert again.fingerprint() == small.fingerprint()


def test_default_spec_names_the_dataset_synthetic(monkeypatch, tmp_path: Path):
    # The default set is 780 full-size images; check its name and cache key without drawing it.
    calls = []
    monkeypatch.setattr(synthetic_dataset, "generate", lambda config, root: calls.append((config, root)) or root)
    monkeypatch.setattr(synthetic_dataset, "load_busi", lambda root, name: tiny_busi_named(tmp_path, name))
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    dataset = open_dataset("synthetic")
    assert dataset.name == "synthetic" and calls[0][0] == SyntheticConfig()
    assert calls[0][1] == tmp_path / "cache" / "synthetic" / config_digest(SyntheticConfig())


def tiny_busi_named(tmp_path: Path, name: str):
    return load_busi(tiny_busi(tmp_path / "tiny"), name=name)


def test_planted_pairs_need_a_phantom_set(tmp_path: Path):
    with pytest.raises(BusbenchError, match="not a generated phantom set"):
        planted_pairs(load_busi(tiny_busi(tmp_path)))


def test_planted_duplicates_really_are_duplicates(small):
    with open(synthetic_root(small) / "duplicates.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["case_a"], r["case_b"], r["kind"]) for r in rows] == planted_pairs(small)
    assert sorted(r["kind"] for r in rows) == sorted(DUPLICATE_KINDS)
    assert sum(r["label_a"] != r["label_b"] for r in rows) == 1
    facts = small.facts()
    for row in rows:
        a, b = small.case(row["case_a"]), small.case(row["case_b"])
        assert (a.label, b.label) == (row["label_a"], row["label_b"])
        (img_a, mask_a), (img_b, mask_b) = small.decode(a), small.decode(b)
        detail = dict(kv.split("=") for kv in row["detail"].split(";") if "=" in kv)
        kind = row["kind"]
        if kind == "exact":
            assert facts[a.case_id].image_fingerprint == facts[b.case_id].image_fingerprint
            assert np.array_equal(mask_a, mask_b)
        elif kind == "flipped":
            assert np.array_equal(np.fliplr(img_b), img_a) and np.array_equal(np.fliplr(mask_b), mask_a)
        elif kind == "brightness":
            shift = int(detail["shift"])
            assert 10 <= abs(shift) <= 25
            assert np.array_equal(np.clip(img_a.astype(int) + shift, 0, 255), img_b)
            assert np.array_equal(mask_a, mask_b)
        elif kind == "cropped":
            t, bo, le, ri = (int(detail[k]) for k in ("top", "bottom", "left", "right"))
            h, w = mask_a.shape
            assert 0 < t + bo <= 0.17 * h and 0 < le + ri <= 0.17 * w
            assert np.array_equal(img_a[t : h - bo, le : w - ri], img_b)
            assert np.array_equal(mask_a[t : h - bo, le : w - ri], mask_b)
        elif kind == "resized":
            scale = float(detail["scale"])
            assert 0.6 <= scale <= 0.9 or 1.1 <= scale <= 1.3
            h, w = mask_a.shape
            new_w, new_h = (int(v) for v in detail["size"].split("x"))
            assert img_b.shape[:2] == (new_h, new_w) and abs(new_h - h * scale) <= 1 and abs(new_w - w * scale) <= 1
            back = cv2.resize(img_b, (w, h), interpolation=cv2.INTER_LINEAR)
            assert np.abs(back.astype(int) - img_a).mean() < 12
            back_mask = cv2.resize(mask_b.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
            assert (back_mask == mask_a).mean() > 0.97
        else:
            assert kind == "reencoded" and 75 <= int(detail["jpeg_quality"]) <= 90
            diff = np.abs(img_b.astype(int) - img_a)
            # JPEG noise on speckle is a few grey levels; unrelated phantoms differ by tens.
            assert img_b.shape == img_a.shape and 0 < diff.mean() < 8
            assert np.array_equal(mask_a, mask_b)


def test_masks_and_images_come_in_busi_like_modes(small):
    root = synthetic_root(small)
    modes = Counter()
    for case in small.cases:
        assert Image.open(root / case.image).mode == "RGB"
        for rel in case.masks:
            img = Image.open(root / rel)
            modes[img.mode] += 1
            values = set(np.unique(np.asarray(img.convert("RGBA") if img.mode == "RGBA" else img)).tolist())
            assert values <= ({False, True} if img.mode == "1" else {0, 255})
    assert modes["1"] > 0 and len(modes) >= 3, modes
    facts = phantom_facts(small)
    colour = {cid for cid, f in facts.items() if f["colour"] == "1"}
    annotated = {cid for cid, f in facts.items() if f["annotations"] != "none"}
    assert colour and 4 <= len(annotated) <= 16
    for case in small.cases:
        rgb, _ = small.decode(case)
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        assert grey == (case.case_id not in colour), case.case_id


# --- learnability -------------------------------------------------------------------------------------------------


def _features(dataset) -> tuple[np.ndarray, np.ndarray]:
    """32x32 grey thumbnail pixels and a 16-bin intensity histogram per image; class index per image."""
    x, y = [], []
    for case in dataset.cases:
        grey = np.asarray(Image.fromarray(dataset.decode(case)[0]).convert("L"))
        thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).ravel() / 255.0
        hist = np.histogram(grey, bins=16, range=(0, 256))[0] / grey.size
        x.append(np.concatenate([thumb, hist]))
        y.append(dataset.classes.index(case.label))
    return np.asarray(x), np.asarray(y)


@pytest.mark.slow
def test_small_linear_model_learns_something_but_not_everything(cache_dir: Path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x, y = _features(open_dataset("synthetic:n=300,seed=0,size=96"))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    # One BLAS thread: these small fits are 100x slower when BLAS threads fight over two busy cores.
    with threadpool_limits(1):
        score = balanced_accuracy_score(y, cross_val_predict(model, x, y, cv=folds))
        # The same pipeline on shuffled labels stays near chance (1/3): the score above comes from the pixels.
        shuffled = np.random.default_rng(0).permutation(y)
        control = balanced_accuracy_score(shuffled, cross_val_predict(model, x, shuffled, cv=folds))
    assert 0.55 <= score <= 0.95, score
    assert control < 0.45, control


# --- a second site, for external validation ------------------------------------------------------------------------
def test_site_is_a_spec_option_and_the_default_site_keeps_its_cache_key():
    import hashlib
    import json as _json

    from benchmark.data.synthetic.config import GENERATOR_VERSION, config_digest

    assert parse_synthetic_spec("synthetic:n=60,site=b") == SyntheticConfig(60, 0, None, "b")
    assert synthetic_spec(SyntheticConfig(60, 1, 96, "b")) == "synthetic:n=60,seed=1,size=96,site=b"
    assert synthetic_spec(SyntheticConfig(60, 1, 96, "a")) == "synthetic:n=60,seed=1,size=96"
    with pytest.raises(BusbenchError, match="option site='c' is not a site \\(known: a, b\\)"):
        parse_synthetic_spec("synthetic:site=c")
    # sets drawn before sites existed are site a: same key, so their cached files stay in use
    config = SyntheticConfig(60, 1, 96)
    before = _json.dumps({"config": {"n": 60, "seed": 1, "size": 96}, "version": GENERATOR_VERSION}, sort_keys=True)
    assert config_digest(config) == hashlib.sha256(before.encode()).hexdigest()[:16]
    assert config_digest(SyntheticConfig(60, 1, 96, "b")) != config_digest(config)


def _look(site: str) -> tuple[float, float]:
    """Mean grey level, and Laplacian energy over contrast (speckle fineness), over 12 phantoms of one site."""
    import cv2

    means, fine = [], []
    for k in range(12):
        rgb, _, _ = render_phantom(("normal", "benign", "malignant")[k % 3], [7, k], 128, site=site)
        grey = rgb[..., 0].astype(float)
        means.append(grey.mean())
        fine.append(np.abs(cv2.Laplacian(grey, cv2.CV_64F)).mean() / (grey.std() + 1e-6))
    return float(np.mean(means)), float(np.mean(fine))


def test_site_b_is_another_scanner_brighter_and_with_coarser_speckle():
    (mean_a, fine_a), (mean_b, fine_b) = _look("a"), _look("b")
    assert mean_b > mean_a + 15 and fine_b < 0.75 * fine_a


def test_site_b_draws_other_breasts(tmp_path):
    generate(SyntheticConfig(n=12, seed=3, size=48), tmp_path / "a")
    generate(SyntheticConfig(n=12, seed=3, size=48, site="b"), tmp_path / "b")
    a, b = _pixel_hashes(tmp_path / "a"), _pixel_hashes(tmp_path / "b")
    images = sorted(name for name in a if "_mask" not in name)
    assert images == sorted(name for name in b if "_mask" not in name)  # the same plan: classes and image names
    lesions = [name for name in a if name.endswith("_mask.png") and "normal" not in name and name in b]
    assert lesions and all(a[name] != b[name] for name in lesions)  # other lesions, not the same ones restyled


_SIMD_PROBE = """
import hashlib, sys, tempfile
from pathlib import Path
import cv2
cv2.setUseOptimized(sys.argv[1] == "on")
from benchmark.data.synthetic.config import parse_synthetic_spec
from benchmark.data.synthetic.generation import generate
with tempfile.TemporaryDirectory() as d:
    root = generate(parse_synthetic_spec("synthetic:n=3,site=b"), d, workers=1)
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*.png")):
        h.update(p.name.encode() + p.read_bytes())
print(h.hexdigest())
"""


def test_phantom_pixels_do_not_depend_on_the_cpu_s_simd_path():
    """The same pixels with OpenCV's and numpy's CPU-specific SIMD paths on, and with both off (baseline code).

    The committed site-b split files are verified against these pixels, so a machine with other SIMD extensions
    (AVX-512 or none) must draw the same bytes.
    """
    import os

    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    root = Path(__file__).resolve().parents[2]
    env_off = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in __cpu_dispatch__ if __cpu_features__[f])}
    drawn = {mode: subprocess.run([sys.executable, "-c", _SIMD_PROBE, mode], capture_output=True, text=True,
                                  check=True, cwd=root, env=env).stdout
             for mode, env in (("on", dict(os.environ)), ("off", env_off))}
    assert drawn["on"] == drawn["off"] and len(drawn["on"].strip()) == 64


@pytest.mark.parametrize("sigmas", [(0.5, 0.5), (1.3, 2.0), (4.0, 0.7)])
def test_gaussian_blur_matches_opencv_in_float64(sigmas: tuple[float, float]):
    from benchmark.data.synthetic.filters import gaussian_blur

    img = np.random.default_rng(0).standard_normal((57, 83))
    sy, sx = sigmas
    size = (2 * max(1, int(np.ceil(4 * sx))) + 1, 2 * max(1, int(np.ceil(4 * sy))) + 1)  # (width, height)
    expected = cv2.GaussianBlur(img, size, sigmaX=sx, sigmaY=sy)  # reflect-101 border, as ours
    np.testing.assert_allclose(gaussian_blur(img, sy, sx), expected, atol=1e-12)
    mask = np.zeros((80, 90), bool)
    mask[35:45, 40:48] = True  # farther than 4 sigma from the border
    assert gaussian_blur(mask, sy, sx).sum() == pytest.approx(mask.sum())  # a normalised kernel keeps the mass


@pytest.mark.parametrize(("method", "flag", "atol"), [("linear", cv2.INTER_LINEAR, 1e-12),
                                                      ("cubic", cv2.INTER_CUBIC, 1e-4),
                                                      ("area", cv2.INTER_AREA, 1e-6)])
def test_resize_matches_opencv_in_float64(method: str, flag: int, atol: float):
    # OpenCV keeps its cubic and area weights in float32, hence the looser tolerances there.
    from benchmark.data.synthetic.filters import resize

    img = np.random.default_rng(1).standard_normal((57, 83, 3))
    sizes = [(30, 41), (19, 20)] if method == "area" else [(30, 41), (120, 200), (57, 100)]
    for h, w in sizes:
        got = resize(img, h, w, method)  # type: ignore[arg-type]
        assert got.shape == (h, w, 3) and got.dtype == np.float64
        np.testing.assert_allclose(got, cv2.resize(img, (w, h), interpolation=flag), atol=atol)
    cover = resize(np.kron(np.eye(2, dtype=bool), np.ones((3, 3), bool)), 2, 2, "area")
    assert cover.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # area shrinking turns a mask into its coverage
