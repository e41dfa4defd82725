"""Split files: stratification, grouping, disjointness, the file format, and every verification failure."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.busi import load_busi
from benchmark.errors import BusbenchError
from benchmark.splits.make import make_split
from benchmark.splits.schema import read_split
from benchmark.splits.show import summarise
from benchmark.splits.verify import load_split
from tests.helpers import tiny_busi, write_png

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def dup_root(tmp_path: Path) -> Path:
    """A 36-case BUSI-layout set where 4 images have an exact copy (two of them filed under another class)."""
    root = tiny_busi(tmp_path / "data", per_class=12)
    base = root / "Dataset_BUSI_with_GT"
    copies = [("benign", 1, "benign", 13), ("benign", 2, "malignant", 13), ("malignant", 1, "malignant", 14),
              ("normal", 1, "benign", 14)]
    for src_label, src_n, dst_label, dst_n in copies:
        shutil.copy(base / src_label / f"{src_label} ({src_n}).png", base / dst_label / f"{dst_label} ({dst_n}).png")
        shutil.copy(base / src_label / f"{src_label} ({src_n})_mask.png",
                    base / dst_label / f"{dst_label} ({dst_n})_mask.png")
    return root


def _all_parts(split):
    return [(f.train, f.val, f.test) for f in split.folds]


def test_grouped_split_invariants(dup_root):
    ds = load_busi(dup_root)
    split = make_split(ds, k=3, seed=0, group="duplicates")
    ids = {c.case_id for c in ds.cases}
    tests = Counter()
    for train, val, test in _all_parts(split):
        assert set(train) | set(val) | set(test) == ids
        assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
        assert val, "every fold names an inner validation part"
        tests.update(test)
    assert set(tests) == ids and set(tests.values()) == {1}
    # every duplicate pair in one fold
    for a, b in [("benign-1", "benign-13"), ("benign-2", "malignant-13"), ("malignant-1", "malignant-14"),
                 ("normal-1", "benign-14")]:
        assert split.cases[a].group == split.cases[b].group
        fold_of = {c: i for i, f in enumerate(split.folds) for c in f.test}
        assert fold_of[a] == fold_of[b]
        for f in split.folds:  # the inner validation part is grouped too
            assert (a in f.val) == (b in f.val)
    assert all(len(s.leaked) == 0 for s in summarise(split))


def test_stratification_is_close_to_proportional(tmp_path):
    ds = load_busi(tiny_busi(tmp_path, per_class=10))
    split = make_split(ds, k=5, seed=3, group="none")
    for f in split.folds:
        assert Counter(ds.case(c).label for c in f.test) == {"normal": 2, "benign": 2, "malignant": 2}


def test_naive_split_leaks_and_is_reported(dup_root):
    ds = load_busi(dup_root)
    leaks = [sum(len(s.leaked) for s in summarise(make_split(ds, k=3, seed=s, group="none"))) for s in range(6)]
    assert max(leaks) > 0  # image-level folds separate some duplicate pair for some seed


def test_split_is_deterministic_and_round_trips(dup_root, tmp_path):
    ds = load_busi(dup_root)
    a = make_split(ds, k=3, seed=1)
    b = make_split(ds, k=3, seed=1)
    assert a.to_json() == b.to_json()
    path = tmp_path / "s.json"
    a.save(path)
    again = load_split(path, ds)
    assert again.to_json() == a.to_json()
    doc = json.loads(path.read_text())
    assert doc["generator"]["versions"]["scikit-learn"] and doc["dataset"]["fingerprint"] == ds.fingerprint()
    assert set(doc["cases"]["benign-1"]) == {"fingerprint", "label", "group", "cluster"}


def test_patient_grouping_needs_patient_ids(tmp_path):
    ds = load_busi(tiny_busi(tmp_path))
    with pytest.raises(BusbenchError, match="patient id"):
        make_split(ds, k=3, group="patient")


def test_too_few_groups(tmp_path):
    ds = load_busi(tiny_busi(tmp_path, per_class=1))
    with pytest.raises(BusbenchError, match="cannot make 5 grouped folds"):
        make_split(ds, k=5)


def test_too_few_cases_for_the_inner_split(tmp_path):
    ds = load_busi(tiny_busi(tmp_path, per_class=6))  # 4 per class on each training side, 5 inner folds needed
    with pytest.raises(BusbenchError, match="training side: cannot make 5 stratified folds"):
        make_split(ds, k=3, val_fraction=0.2)
    assert make_split(ds, k=3, val_fraction=0.5).k == 3


# --- verification failures ---------------------------------------------------------------------------------------


@pytest.fixture()
def saved(dup_root, tmp_path):
    ds = load_busi(dup_root)
    path = tmp_path / "split.json"
    make_split(ds, k=3, seed=0).save(path)
    return dup_root, path


def _fails(path, root, fragment, *names):
    with pytest.raises(BusbenchError) as err:
        load_split(path, load_busi(root))
    msg = str(err.value)
    assert fragment in msg and str(path) in msg and "\n" not in msg, msg
    for n in names:
        assert n in msg, msg


def test_verify_ok(saved):
    root, path = saved
    assert load_split(path, load_busi(root)).k == 3


def test_verify_missing_case(saved):
    root, path = saved
    base = root / "Dataset_BUSI_with_GT" / "benign"
    (base / "benign (5).png").unlink()
    (base / "benign (5)_mask.png").unlink()
    _fails(path, root, "missing from the data", "benign-5")


def test_verify_extra_case(saved):
    root, path = saved
    base = root / "Dataset_BUSI_with_GT" / "normal"
    write_png(base / "normal (99).png", np.zeros((24, 32, 3), np.uint8))
    write_png(base / "normal (99)_mask.png", np.zeros((24, 32), np.uint8))
    _fails(path, root, "not in the split", "normal-99")


def test_verify_changed_pixel(saved):
    root, path = saved
    img_path = root / "Dataset_BUSI_with_GT" / "malignant" / "malignant (4).png"
    from PIL import Image

    arr = np.asarray(Image.open(img_path)).copy()
    arr[0, 0, 0] ^= 1
    write_png(img_path, arr)
    _fails(path, root, "other pixels", "malignant-4")


def test_verify_changed_mask_pixel(saved):
    root, path = saved
    mask_path = root / "Dataset_BUSI_with_GT" / "normal" / "normal (3)_mask.png"
    m = np.zeros((24, 32), np.uint8)
    m[0, 0] = 255
    write_png(mask_path, m)
    _fails(path, root, "other pixels", "normal-3")


def test_verify_changed_label(saved):
    root, path = saved
    base = root / "Dataset_BUSI_with_GT"
    for suffix in ("", "_mask"):
        (base / "benign" / f"benign (7){suffix}.png").rename(base / "malignant" / f"benign (7){suffix}.png")
    _fails(path, root, "changed label", "benign-7")


def _edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_verify_case_in_two_parts(saved):
    root, path = saved
    _edit(path, lambda d: d["folds"][1]["val"].append(d["folds"][1]["test"][0]))
    with pytest.raises(BusbenchError, match="in two parts"):
        read_split(path)


def test_verify_case_in_two_test_folds(saved):
    root, path = saved

    def move(d):
        cid = d["folds"][0]["test"][0]
        d["folds"][1]["train"].remove(cid) if cid in d["folds"][1]["train"] else d["folds"][1]["val"].remove(cid)
        d["folds"][1]["test"].append(cid)

    _edit(path, move)
    with pytest.raises(BusbenchError, match="test part of more than one fold"):
        read_split(path)


def test_verify_missing_fold(saved):
    root, path = saved
    _edit(path, lambda d: d["folds"].pop())
    with pytest.raises(BusbenchError, match="fold.* missing"):
        read_split(path)


def test_verify_case_in_no_part(saved):
    root, path = saved
    _edit(path, lambda d: d["folds"][0]["train"].pop())
    with pytest.raises(BusbenchError, match="in no part"):
        read_split(path)


def test_verify_not_a_split_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(BusbenchError, match="cannot read split file as JSON"):
        read_split(bad)
    bad.write_text('{"format": "other"}')
    with pytest.raises(BusbenchError, match="unsupported split format"):
        read_split(bad)
    with pytest.raises(BusbenchError, match="does not exist"):
        read_split(tmp_path / "absent.json")


# --- the committed BUSI split files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["5fold_examination.json", "5fold_grouped.json", "5fold_naive.json"])
def test_committed_busi_splits_verify(busi, name):
    split = load_split(REPO / "splits" / "busi" / name, busi)
    assert split.k == 5 and len(split.cases) == 780
    summaries = summarise(split)
    leaked = sum(len(s.leaked) for s in summaries)
    if name == "5fold_grouped.json":
        assert split.generator["group"] == "duplicates" and leaked == 0
        assert split.cases["benign-433"].group == split.cases["malignant-145"].group
    elif name == "5fold_examination.json":
        assert split.generator["group"] == "examination" and leaked == 0
        assert split.generator["examination_rule"]["rule"] == "busbench-examinations-v1"
        assert split.protocol == "clean"
    else:
        assert split.generator["group"] == "none" and leaked > 0 and split.protocol == "naive-split"
    for s in summaries:  # stratified: each test fold within 2 cases of a fifth of each class
        for label, n in {"normal": 133, "benign": 437, "malignant": 210}.items():
            assert abs(s.class_counts["test"][label] - n / 5) <= 3, (s.fold, label)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "group"), [("5fold_examination.json", "examination"),
                                             ("5fold_grouped.json", "duplicates"), ("5fold_naive.json", "none")])
def test_committed_busi_splits_are_reproducible(busi, name, group):
    # The committed files are what `busbench splits make BUSI --k 5 --seed 0 --group ...` makes, folds and all.
    committed = json.loads((REPO / "splits" / "busi" / name).read_text())
    remade = make_split(busi, k=5, seed=0, group=group).to_json()
    for doc in (committed, remade):
        doc["generator"].pop("versions")
    assert remade == committed


def test_committed_busi_without_normals_split_verifies_and_is_reproducible(busi):
    # BUSI without its normal images: benign vs malignant, grouped as the leaderboard split (issue 17, section 2).
    path = REPO / "splits" / "busi" / "5fold_examination_without_normals.json"
    split = load_split(path, busi)
    assert split.classes == ("benign", "malignant") and len(split.cases) == 437 + 210
    assert sum(len(s.leaked) for s in summarise(split)) == 0
    examination = load_split(REPO / "splits" / "busi" / "5fold_examination.json", busi)
    pairs = {(examination.cases[cid].group, record.group) for cid, record in split.cases.items()}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})  # the same examinations
    committed = json.loads(path.read_text())
    remade = make_split(busi, k=5, seed=0, group="examination", classes=("benign", "malignant")).to_json()
    for doc in (committed, remade):
        doc["generator"].pop("versions")
    assert remade == committed


@pytest.mark.parametrize(("name", "classes", "n"), [
    ("busi_examination_to_synthetic_site_b.json", "normal, benign, malignant", 780),
    ("busi_without_normals_to_synthetic_site_b.json", "benign, malignant", 647),
])
def test_committed_external_splits_verify_against_both_datasets(busi_dir, capsys, name, classes, n):
    # The committed external examples (issue 17, section 3), checked as a user checks them: both sides' fingerprints,
    # the training folds remade, and the test images that are also training images detected again.
    from benchmark.cli import main

    path = REPO / "splits" / "external" / name
    capsys.readouterr()
    assert main(["splits", "verify", str(path), str(busi_dir), "--test-dataset", "synthetic:site=b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {path} matches") and f"{n} test cases" in out, out
    assert f"classes {classes}" in out and "also in the training data: 0 of" in out, out


# Frames of one examination, viewed by eye (BENCHMARKS.md, "Examination grouping"): cine frames, the same view with and
# without calipers or a Doppler box. The duplicate split put each of these pairs in two folds.
SAME_EXAMINATION = [("benign-61", "benign-94"), ("malignant-6", "malignant-7"), ("malignant-27", "malignant-28"),
                    ("malignant-85", "malignant-86"), ("benign-238", "benign-277"), ("benign-400", "benign-404"),
                    ("benign-114", "benign-119"), ("malignant-6", "malignant-9")]
# Look-alike lesions of different patients that the looser match reaches but the rule keeps apart (mirrored, or at
# another scale).
OTHER_PATIENTS = [("benign-49", "benign-68"), ("benign-170", "benign-9"), ("benign-188", "malignant-208"),
                  ("benign-174", "benign-326")]


def test_examination_split_groups_frames_of_one_examination(busi):
    exam = load_split(REPO / "splits" / "busi" / "5fold_examination.json", busi)
    old = load_split(REPO / "splits" / "busi" / "5fold_grouped.json", busi)
    test_fold = {cid: k for k, fold in enumerate(old.folds) for cid in fold.test}
    for a, b in SAME_EXAMINATION:
        assert exam.cases[a].group == exam.cases[b].group, (a, b)
        assert test_fold[a] != test_fold[b], (a, b)  # what the examination split fixes
    for a, b in OTHER_PATIENTS:
        assert exam.cases[a].group != exam.cases[b].group, (a, b)
    for cluster in {r.cluster for r in exam.cases.values()}:  # every duplicate cluster inside one examination
        assert len({r.group for r in exam.cases.values() if r.cluster == cluster}) == 1


def test_a_split_of_another_dataset_names_both_datasets(tmp_path):
    from benchmark.data.open import open_dataset

    path = tmp_path / "synthetic.json"
    make_split(open_dataset("synthetic:n=45,size=48"), k=3, seed=0, val_fraction=0.5).save(path)
    busi = open_dataset(str(tiny_busi(tmp_path / "busi")))
    made_for = "this split was made for dataset 'synthetic:n=45,size=48', not 'BUSI' \\(36 case"
    with pytest.raises(BusbenchError, match=made_for):
        load_split(path, busi)


def test_splits_verify_decodes_every_file_whatever_the_cache_says(tmp_path, capsys):
    """A same-size, same-mtime rewrite with one pixel changed: the cache would miss it, splits verify does not."""
    import os

    from PIL import Image

    from benchmark.cli import main
    from benchmark.data.open import open_dataset

    root = tiny_busi(tmp_path / "d")
    victim = root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png"
    pixels = np.asarray(Image.open(victim)).copy()
    Image.fromarray(pixels).save(victim, compress_level=0)  # uncompressed: one pixel changes nothing in size
    split_path = tmp_path / "split.json"
    make_split(open_dataset(str(root)), k=2, seed=0, val_fraction=0.5).save(split_path)  # the cache holds every file
    before = victim.stat()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(victim, compress_level=0)
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (victim.stat().st_size, victim.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    # a run reads the cache (fast, and blind to such a rewrite) ...
    assert load_split(split_path, open_dataset(str(root))) is not None
    # ... the explicit integrity check decodes every file
    assert main(["splits", "verify", str(split_path), str(root)]) == 2
    err = capsys.readouterr().err
    assert "1 case(s) have other pixels (image or mask) than when the split was made: benign-1" in err, err


def test_every_committed_benchmark_split_is_named_by_its_bytes():
    # A name belongs to a file's bytes (benchmark/splits/named.py): the committed files are the named ones, and the
    # leaky naive split is the only committed split without a name.
    from benchmark.results.rundir import file_sha256
    from benchmark.splits.named import NAMED_SPLITS, benchmark_name

    committed = {p.relative_to(REPO).as_posix(): file_sha256(p) for p in sorted((REPO / "splits").rglob("*.json"))}
    named = {entry.path: sha for sha, entry in NAMED_SPLITS.items()}
    assert named == {path: sha for path, sha in committed.items() if path != "splits/busi/5fold_naive.json"}
    assert len({e.name for e in NAMED_SPLITS.values()}) == len(NAMED_SPLITS)
    assert benchmark_name(committed["splits/busi/5fold_examination.json"]).startswith("busbench-BUSI v2 (")
    assert benchmark_name(committed["splits/busi/5fold_naive.json"]) is None and benchmark_name(None) is None
