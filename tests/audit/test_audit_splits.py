"""Split leakage per fold (naive vs grouped split) and the reader of published split CSVs with its errors."""

from __future__ import annotations

import pytest

from benchmark.audit.external_split import read_split_csv
from benchmark.audit.leakage import external_leakage, split_leakage
from benchmark.data.duplicates import find_duplicates
from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.splits.make import make_split

SPEC = "synthetic:n=60,size=96"


@pytest.fixture(scope="module")
def data():
    ds = open_dataset(SPEC)
    clusters = find_duplicates(ds).cluster_ids([c.case_id for c in ds.cases])
    return ds, clusters


def _independent_leaks(fold, clusters):
    side = set(fold.train) | set(fold.val)
    return {t: sorted(c for c in side if clusters[c] == clusters[t]) for t in fold.test
            if any(clusters[c] == clusters[t] for c in side)}


def test_naive_split_leaks_and_grouped_does_not(data):
    ds, clusters = data
    naive = make_split(ds, k=3, seed=0, group="none")
    grouped = make_split(ds, k=3, seed=0, group="duplicates")
    n = split_leakage(naive, "naive.json", clusters, None)
    g = split_leakage(grouped, "grouped.json", clusters, None)
    assert g["total"]["leaked"] == 0 and all(f["duplicate_partners"] == {} for f in g["folds"])
    expected = [_independent_leaks(f, clusters) for f in naive.folds]
    assert [f["duplicate_partners"] for f in n["folds"]] == expected
    assert n["total"]["leaked"] == sum(len(e) for e in expected) > 0
    assert n["folds"][0]["patient_leaked"] is None  # phantoms have no patient ids


def test_patient_leakage_counts_same_patient_images(data):
    ds, clusters = data
    split = make_split(ds, k=3, seed=0, group="none")
    fold = split.folds[0]
    # pretend the first test case and the first training case come from one patient
    patients = {c.case_id: c.case_id for c in ds.cases}
    patients[fold.test[0]] = patients[fold.train[0]] = "p1"
    out = split_leakage(split, "s.json", clusters, patients)
    assert out["folds"][0]["patient_partners"] == {fold.test[0]: [fold.train[0]]}
    assert out["folds"][0]["patient_leaked"] == 1


def _csv(tmp_path, text):
    path = tmp_path / "published.csv"
    path.write_text(text)
    return path


def test_published_csv_is_read_and_audited(data, tmp_path):
    ds, clusters = data
    members = next(ms for ms in _clusters(clusters) if len(ms) >= 2)
    a, b = members[0], members[1]
    name = {c.case_id: c.image.rsplit("/", 1)[-1] for c in ds.cases}
    others = [c.case_id for c in ds.cases if clusters[c.case_id] == c.case_id][:3]
    text = ("Filename,Split\n"
            f"{name[a]},TRAIN\n"
            f"Dataset_BUSI_with_GT/x/{name[b]},test\n"  # folders are ignored
            f"{others[0]},Validation\n"  # a case id works too
            f"{name[others[1]]},testing\n")
    ext = read_split_csv(_csv(tmp_path, text), ds)
    assert ext.train == (a,) and ext.val == (others[0],) and set(ext.test) == {b, others[1]}
    assert len(ext.unlisted) == len(ds) - 4
    leak = external_leakage(ext, clusters, None)
    assert leak["folds"][0]["duplicate_partners"] == {b: [a]} and leak["unlisted"] == len(ds) - 4


def _clusters(clusters):
    groups = {}
    for cid, key in clusters.items():
        groups.setdefault(key, []).append(cid)
    return [sorted(v) for v in groups.values()]


@pytest.mark.parametrize("text, message", [
    ("name,split\nbenign (1).png,train\n", "missing a file column"),
    ("filename,kind\nbenign (1).png,train\n", "missing a part column"),
    ("filename,split\n", "no rows"),
    ("filename,split\nbenign (1).png,train\nno such (9).png,test\nbenign (2).png,test\n",
     "row 3: not a case of"),
    ("filename,split\nbenign (1).png,train\nbenign (2).png,holdout\n", "row 3: unknown part 'holdout'"),
    ("filename,split\nbenign (1).png,train\nbenign (2).png,test\nbenign (1).png,test\n",
     "rows 2, 4: case(s) listed more than once"),
    ("filename,split\nbenign (1).png,train\n", "has no test rows"),
])
def test_published_csv_errors_name_file_and_rows(data, tmp_path, text, message):
    ds, _ = data
    path = _csv(tmp_path, text)
    with pytest.raises(BusbenchError) as err:
        read_split_csv(path, ds)
    assert err.value.where == str(path) and message in err.value.problem
    assert "\n" not in str(err.value)
