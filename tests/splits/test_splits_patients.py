"""Patient-aware splits (issue 17, section 1): patients and duplicates united by default where the data have patient
ids, and patient leakage reported whatever a split was grouped by."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.data.busbra import load_busbra
from benchmark.splits.make import group_ids, make_split, resolve_grouping
from benchmark.splits.schema import read_split
from benchmark.splits.show import summarise
from tests.fixtures_busbra import write_busbra
from tests.helpers import tiny_busi


@pytest.fixture(scope="module")
def busbra(tmp_path_factory) -> Path:
    """12 patients of 3 images each, alternating benign and malignant."""
    return write_busbra(tmp_path_factory.mktemp("busbra") / "BUSBRA", n_patients=12, images_per_patient=3).root


def _test_folds_of_each_patient(split) -> dict[str, set[int]]:
    folds: dict[str, set[int]] = {}
    for k, fold in enumerate(split.folds):
        for cid in fold.test:
            folds.setdefault(split.cases[cid].patient, set()).add(k)
    return folds


def test_splits_make_unites_patients_and_duplicates_by_default(busbra, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert main(["splits", "make", str(busbra), "--k", "3", "--val-fraction", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    split = read_split(out)
    assert split.generator["group"] == "patient+duplicates" and split.generator["group_requested"] == "auto"
    assert split.protocol == "clean"
    assert all(r.patient for r in split.cases.values())
    assert all(len(folds) == 1 for folds in _test_folds_of_each_patient(split).values())
    assert "test cases with a same-patient image on their training side: 0 of 36 (0.0%)" in printed


def test_a_duplicate_grouped_split_of_patient_data_reports_its_patient_leakage(busbra, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert main(["splits", "make", str(busbra), "--k", "3", "--val-fraction", "0.5", "--group", "duplicates",
                 "--out", str(out)]) == 0
    made = capsys.readouterr().out
    split = read_split(out)
    leaked = sum(len(s.patient_leaked) for s in summarise(split))
    assert leaked > 0  # the images of a patient are no duplicates of each other, so they spread over folds
    line = f"test cases with a same-patient image on their training side: {leaked} of 36"
    assert line in made
    assert main(["splits", "show", str(out)]) == 0 and line in capsys.readouterr().out  # from the file alone
    assert main(["splits", "show", str(out), str(busbra)]) == 0 and line in capsys.readouterr().out
    assert main(["splits", "verify", str(out), str(busbra)]) == 0
    verified = capsys.readouterr().out
    assert verified.startswith("OK: ") and line in verified and "near-duplicate on their training side" in verified


def test_patients_and_duplicate_clusters_are_united_through_chains(busbra):
    dataset = load_busbra(busbra)
    ids = [c.case_id for c in dataset.cases]
    patient = {c.case_id: c.group for c in dataset.cases}
    by_patient: dict[str, list[str]] = {}
    for cid in ids:
        by_patient.setdefault(patient[cid], []).append(cid)
    p1, p2, p3 = (by_patient[p] for p in sorted(by_patient, key=int)[:3])
    # one image of patient 1 is a near-duplicate of one of patient 2: both patients become one group
    clusters = {cid: f"c-{cid}" for cid in ids} | {p2[0]: f"c-{p1[0]}"}
    groups = group_ids(dataset, "patient+duplicates", clusters)
    assert len({groups[c] for c in p1 + p2}) == 1
    assert {groups[c] for c in p3}.isdisjoint({groups[c] for c in p1})
    assert len(set(groups.values())) == len(by_patient) - 1


def test_auto_is_duplicates_on_data_without_patient_ids(tmp_path):
    from benchmark.data.busi import load_busi

    dataset = load_busi(tiny_busi(tmp_path))
    assert resolve_grouping(dataset, "auto") == "duplicates"
    split = make_split(dataset, k=3, val_fraction=0.5)
    assert split.generator["group"] == "duplicates" and split.generator["group_requested"] == "auto"
    assert all(r.patient is None for r in split.cases.values())
    assert "patient" not in json.dumps(split.to_json()["cases"])  # files of data without patients are unchanged
    assert summarise(split)[0].patient_leaked is None


def test_official_busbra_folds_are_imported_faithfully_with_their_leakage_on_record(tmp_path, capsys):
    fx = write_busbra(tmp_path / "BUSBRA", n_patients=12, images_per_patient=3)
    # As in the published file, one patient has an image in fold 1's inner validation part and the others in training
    fold_file = fx.root / "5-fold-cv.csv"
    rows = list(csv.reader(io.StringIO(fold_file.read_text(encoding="utf-8-sig"))))
    header, body = rows[0], rows[1:]
    column = header.index("valid_1")
    trained = [r for r in body if r[column] not in ("", "NaN") and float(r[column]) == 1]
    moved = next(r for r in trained if sum(fx.patient[o[0]] == fx.patient[r[0]] for o in trained) > 1)
    moved[column] = "0"
    with fold_file.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(rows)
    out = tmp_path / "official.json"
    assert main(["splits", "import-busbra", str(fx.root), "--k", "5", "--out", str(out)]) == 0
    split = read_split(out)
    assert all(r.patient for r in split.cases.values())
    printed = capsys.readouterr().out
    assert "test cases with a same-patient image on their training side: 0 of 36" in printed
    assert [len(s.val_patient_leaked) for s in summarise(split)] == [1, 0, 0, 0, 0]
    assert "validation cases with a same-patient image in the inner training part: 1 of " in printed


# --- folds tied to their generator --------------------------------------------------------------------------------
def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _move_one_training_case_to_val(doc) -> None:
    fold = doc["folds"][0]
    fold["val"].append(fold["train"].pop(0))


def test_a_hand_edited_split_fails_verify_unless_marked_as_edited(tmp_path, capsys):
    data = tiny_busi(tmp_path / "busi", per_class=6)
    out = tmp_path / "split.json"
    assert main(["splits", "make", str(data), "--k", "3", "--val-fraction", "0.5", "--out", str(out)]) == 0
    assert main(["splits", "verify", str(out), str(data)]) == 0
    assert "folds and groups are what 'busbench splits make' makes with the recorded settings" in (
        capsys.readouterr().out)
    _edit(out, _move_one_training_case_to_val)
    assert main(["splits", "verify", str(out), str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"busbench: error: {out}: fold 0 train differs in 1 case(s)" in err
    assert "the folds were edited by hand; if on purpose, say so: busbench splits mark-edited" in err
    assert main(["splits", "mark-edited", str(out), "--reason", "moved a case to validation"]) == 0
    assert read_split(out).protocol == "manual"
    assert main(["splits", "verify", str(out), str(data)]) == 0
    assert "hand-edited split (moved a case to validation); its folds are as marked" in capsys.readouterr().out
    _edit(out, _move_one_training_case_to_val)  # edited again after marking
    assert main(["splits", "verify", str(out), str(data)]) == 2
    assert "was edited after it was marked as edited" in capsys.readouterr().err


def test_edited_groups_and_other_versions_fail_verify(tmp_path, capsys):
    data = tiny_busi(tmp_path / "busi", per_class=6)
    out = tmp_path / "split.json"
    assert main(["splits", "make", str(data), "--k", "3", "--val-fraction", "0.5", "--out", str(out)]) == 0
    first = sorted(json.loads(out.read_text())["cases"])[0]

    def regroup(doc):
        doc["cases"][first]["group"] = "a-group-of-its-own"

    _edit(out, regroup)
    assert main(["splits", "verify", str(out), str(data)]) == 2
    assert f"1 case(s) have another group: {first}" in capsys.readouterr().err

    assert main(["splits", "make", str(data), "--k", "3", "--val-fraction", "0.5", "--out", str(out), "--force"]) == 0
    _edit(out, lambda doc: doc["generator"]["versions"].update({"scikit-learn": "0.1"}))
    assert main(["splits", "verify", str(out), str(data)]) == 2
    assert "cannot remake its folds to check them: it was made with scikit-learn 0.1 (this is " in (
        capsys.readouterr().err)


def test_an_imported_busbra_split_is_checked_against_the_published_fold_file(busbra, tmp_path, capsys):
    out = tmp_path / "official.json"
    assert main(["splits", "import-busbra", str(busbra), "--k", "5", "--out", str(out)]) == 0
    assert main(["splits", "verify", str(out), str(busbra)]) == 0
    assert "what 'busbench splits import-busbra' makes" in capsys.readouterr().out
    _edit(out, _move_one_training_case_to_val)
    assert main(["splits", "verify", str(out), str(busbra)]) == 2
    assert "fold 0 train differs in 1 case(s)" in capsys.readouterr().err


def test_scores_on_a_patient_and_duplicate_split_resample_its_groups(busbra):
    from benchmark.evaluation.score import resampling_groups

    split = make_split(load_busbra(busbra), k=3, val_fraction=0.5)
    ids = sorted(split.cases)
    groups, unit = resampling_groups(split, ids)
    assert unit == "patient (united with its near-duplicates)"
    assert groups == [split.cases[c].group for c in ids] and len(set(groups)) == 12
