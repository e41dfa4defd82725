"""``busbench evaluate``: predictions made elsewhere, checked strictly and scored exactly like a trained run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.errors import BusbenchError
from benchmark.evaluation.evaluate import EvaluateRequest, evaluate_predictions, headline_text
from benchmark.evaluation.score import constant_prediction, score_predictions
from benchmark.results.rundir import PROB_COLUMNS, RunDir, read_masks
from benchmark.results.store import ResultsStore, default_store_url
from tests.helpers import saved_synthetic_split

PREDICTION_HEADER = ("case_id", "fold", *PROB_COLUMNS)
SPEC = "synthetic:n=60,size=64"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The synthetic data, a 3-fold split saved to a file, and that split as loaded."""
    return saved_synthetic_split(tmp_path_factory.mktemp("split"), SPEC)


def class_rows(setup, perfect: bool = False, seed: int = 0) -> list[list[str]]:
    dataset, _, split = setup
    rng = np.random.default_rng(seed)
    rows = []
    for k, fold in enumerate(split.folds):
        for cid in fold.test:
            if perfect:
                p = np.eye(3)[dataset.classes.index(dataset.case(cid).label)]
            else:
                p = rng.dirichlet(np.ones(3))
            rows.append([cid, str(k), *(repr(float(v)) for v in p)])
    return rows


def write_csv(path: Path, rows: list[list[str]], header=PREDICTION_HEADER) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def as_predictions(rows: list[list[str]]) -> dict:
    return {r[0]: (int(r[1]), np.array([float(v) for v in r[2:]])) for r in rows}


def evaluate(setup, tmp_path: Path, predictions: Path, **kw):
    _, split_path, _ = setup
    return evaluate_predictions(EvaluateRequest(predictions=predictions, dataset=SPEC, splits=split_path,
                                                out=tmp_path / "runs", **kw))


def refused(setup, tmp_path: Path, predictions: Path, **kw) -> str:
    """Evaluate expecting a BusbenchError; check nothing was written and return the message."""
    with pytest.raises(BusbenchError) as info:
        evaluate(setup, tmp_path, predictions, **kw)
    assert not (tmp_path / "runs").exists(), "a refused evaluation must write nothing"
    message = str(info.value)
    assert "\n" not in message
    return message


# --- classification: scores and the run folder ------------------------------------------------------------------

def test_classification_scores_equal_direct_scoring(setup, tmp_path):
    dataset, split_path, split = setup
    rows = class_rows(setup)
    pred = write_csv(tmp_path / "mine.csv", rows)
    outcome = evaluate(setup, tmp_path, pred)
    direct = score_predictions("classification", split, dataset, as_predictions(rows), folds=[0, 1, 2])
    assert outcome.status == "completed" and not outcome.reused
    assert json.loads(RunDir(outcome.run_dir).metrics_json.read_text()) == json.loads(json.dumps(direct))
    assert outcome.metrics["headline"] == direct["headline"]

    doc = RunDir(outcome.run_dir).read_run()
    assert doc["kind"] == "predictions" and doc["submission"]["name"] == "mine"
    assert outcome.run_dir.name.startswith("mine-")
    assert doc["split"]["sha256"] and doc["split"]["k"] == 3 and doc["split"]["protocol"] == "clean"
    assert doc["dataset"]["fingerprint"] == dataset.fingerprint()
    assert doc["predictions"]["sha256"] and doc["status"] == "completed" and doc["finished"]
    # The per-fold copies hold exactly the numbers that were scored, in a trained run's layout.
    copied = {}
    for k in range(3):
        with open(outcome.run_dir / f"fold-{k}" / "predictions.csv", newline="") as handle:
            reader = csv.reader(handle)
            assert tuple(next(reader)) == PREDICTION_HEADER
            copied.update(as_predictions(list(reader)))
    expected = as_predictions(rows)
    assert copied.keys() == expected.keys()
    assert all(copied[c][0] == expected[c][0] and np.array_equal(copied[c][1], expected[c][1]) for c in expected)

    with ResultsStore(default_store_url(tmp_path / "runs")) as store:
        row = store.get_run(outcome.run_dir.name)
    assert row["kind"] == "predictions" and row["status"] == "completed" and row["submission"] == "mine"
    assert row["headline_metric"] == "balanced_accuracy" and row["headline_value"] == direct["headline"]["value"]


def test_perfect_predictions_score_one(setup, tmp_path):
    outcome = evaluate(setup, tmp_path, write_csv(tmp_path / "p.csv", class_rows(setup, perfect=True)))
    assert outcome.metrics["headline"]["value"] == 1.0
    assert outcome.metrics["pooled"]["accuracy"] == 1.0


def test_a_run_that_predicts_one_class_is_recognised(setup):
    dataset, _, split = setup
    constant = {c: (k, np.array([0.2, 0.7, 0.1])) for k, fold in enumerate(split.folds) for c in fold.test}
    metrics = score_predictions("classification", split, dataset, constant, folds=[0, 1, 2])
    assert constant_prediction(metrics) == "benign"
    assert metrics["headline"]["value"] == pytest.approx(1 / 3)  # what such a run scores, whatever the data
    assert headline_text(metrics).endswith("; the model predicted benign for every case")
    varied = score_predictions("classification", split, dataset, as_predictions(class_rows(setup)), folds=[0, 1, 2])
    assert constant_prediction(varied) is None
    assert "every case" not in headline_text(varied)
    assert constant_prediction({"task": "segmentation", "pooled": {"dice": 0.5}}) is None  # scored before the count
    assert constant_prediction({"pooled": {"per_class": {"benign": {"predicted": "many"}}}}) is None


def test_cli_prints_headline_and_reevaluation_keeps_the_folder(setup, tmp_path, capsys):
    _, split_path, _ = setup
    pred = write_csv(tmp_path / "mine.csv", class_rows(setup))
    argv = ["evaluate", str(pred), "--dataset", SPEC, "--splits", str(split_path), "--name", "team-x",
            "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    assert "status: completed" in out and "balanced_accuracy: " in out and "(95% CI " in out
    folders = list((tmp_path / "runs").glob("team-x-*"))
    assert len(folders) == 1
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folders[0].rglob("*") if p.is_file()}
    assert main(argv) == 0
    out2, err2 = capsys.readouterr()
    assert "evaluated already" in err2 and out2 == out
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folders[0].rglob("*") if p.is_file()}
    assert after == before and list((tmp_path / "runs").glob("team-x-*")) == folders


def test_folds_subset_is_partial(setup, tmp_path):
    dataset, _, split = setup
    rows = class_rows(setup)
    fold1 = [r for r in rows if r[1] == "1"]
    outcome = evaluate(setup, tmp_path, write_csv(tmp_path / "f1.csv", fold1), folds=(1,))
    direct = score_predictions("classification", split, dataset, as_predictions(fold1), folds=[1])
    assert outcome.status == "partial" and outcome.metrics["headline"] == direct["headline"]
    assert sorted(p.name for p in outcome.run_dir.glob("fold-*")) == ["fold-1"]
    # A complete file scored on one fold gives the same numbers: rows of other folds are checked, then left out.
    other = evaluate(setup, tmp_path / "b", write_csv(tmp_path / "all.csv", rows), folds=(1,))
    assert other.metrics["headline"] == direct["headline"]


# --- classification: every refusal names the file and the rows or cases ------------------------------------------

def mutated(setup, tmp_path, index: int, column: int, value: str) -> tuple[Path, str]:
    rows = class_rows(setup)
    rows[index][column] = value
    return write_csv(tmp_path / "bad.csv", rows), rows[index][0]


def test_missing_column(setup, tmp_path):
    rows = [r[:4] for r in class_rows(setup)]
    pred = write_csv(tmp_path / "bad.csv", rows, header=PREDICTION_HEADER[:4])
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "missing column(s) prob_malignant" in message


def test_unparsable_number(setup, tmp_path):
    pred, cid = mutated(setup, tmp_path, 4, 3, "0.3x")
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "row 6 " in message and cid in message and "not a number" in message


def test_fold_not_an_integer(setup, tmp_path):
    pred, _ = mutated(setup, tmp_path, 2, 1, "one")
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "row 4:" in message and "not an integer" in message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_probability(setup, tmp_path, value):
    pred, cid = mutated(setup, tmp_path, 0, 2, value)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "row 2 " in message and cid in message and "NaN or infinite" in message


def test_probability_outside_unit_interval(setup, tmp_path):
    rows = class_rows(setup)
    rows[3][2:] = ["1.5", "-0.25", "-0.25"]  # sums to 1 but is no probability
    rows[9][2:] = ["-0.1", "0.6", "0.5"]
    pred = write_csv(tmp_path / "bad.csv", rows)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "rows 5, 11" in message and rows[3][0] in message and "outside [0, 1]" in message


def test_rows_not_summing_to_one(setup, tmp_path):
    rows = class_rows(setup)
    rows[1][2:] = ["0.5", "0.5", "0.5"]
    rows[7][2:] = ["0.3", "0.3", "0.3982"]  # off by 0.0018: beyond the 1e-3 tolerance
    rows[8][2:] = ["0.3", "0.3", "0.4009"]  # off by 0.0009: within it
    pred = write_csv(tmp_path / "bad.csv", rows)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "rows 3, 9 (" in message and "do not sum to 1" in message
    assert "sums to 1.5" in message and rows[8][0] not in message


def test_duplicated_case_id(setup, tmp_path):
    rows = class_rows(setup)
    rows.append(list(rows[5]))
    pred = write_csv(tmp_path / "bad.csv", rows)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and f"rows 7, {len(rows) + 1}" in message and rows[5][0] in message
    assert "more than once" in message


def test_unknown_case_id(setup, tmp_path):
    pred, _ = mutated(setup, tmp_path, 10, 0, "benign-9999")
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and "row 12 (benign-9999)" in message and "not in the split" in message


def test_missing_test_case(setup, tmp_path):
    rows = class_rows(setup)
    gone = rows.pop(13)
    pred = write_csv(tmp_path / "bad.csv", rows)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and gone[0] in message and "have no prediction" in message
    # the missing case is named with its own fold, not with every fold scored
    own = next(k for k, fold in enumerate(setup[2].folds) if gone[0] in fold.test)
    assert f"1 test case(s) have no prediction (fold {own}: {gone[0]})" in message, message


def test_a_semicolon_separated_file_is_named_as_such(setup, tmp_path):
    rows = class_rows(setup)
    pred = tmp_path / "semicolons.csv"
    pred.write_text("case_id;fold;prob_normal;prob_benign;prob_malignant\n" + "".join(
        ";".join([r[0], r[1], *(v.replace(".", ",") for v in r[2:])]) + "\n" for r in rows))
    message = refused(setup, tmp_path, pred)
    assert "is separated by ';', not by commas" in message and str(pred) in message, message


def test_case_in_a_fold_it_is_not_a_test_case_of(setup, tmp_path):
    rows = class_rows(setup)
    index = next(i for i, r in enumerate(rows) if r[1] == "0")
    rows[index][1] = "2"
    pred = write_csv(tmp_path / "bad.csv", rows)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and f"row {index + 2} ({rows[index][0]})" in message
    assert "not a test case of" in message and "is in fold 0, given 2" in message


@pytest.mark.parametrize("fold", ["3", "-1"])
def test_fold_that_does_not_exist(setup, tmp_path, fold):
    pred, cid = mutated(setup, tmp_path, 0, 1, fold)
    message = refused(setup, tmp_path, pred)
    assert str(pred) in message and f"row 2 ({cid})" in message and "does not exist" in message


def test_unknown_folds_option_and_bad_name(setup, tmp_path):
    pred = write_csv(tmp_path / "ok.csv", class_rows(setup))
    assert "--folds" in refused(setup, tmp_path, pred, folds=(5,))
    assert "--name" in refused(setup, tmp_path, pred, name="../escape")


def test_task_contradicting_the_path(setup, tmp_path):
    pred = write_csv(tmp_path / "ok.csv", class_rows(setup))
    message = refused(setup, tmp_path, pred, task="segmentation")
    assert str(pred) in message and "is a file" in message
    message = refused(setup, tmp_path, tmp_path / "absent.csv")
    assert "absent.csv" in message and "does not exist" in message


# --- segmentation: a folder of PNG masks at original size --------------------------------------------------------

def mask_folder(setup, folder: Path) -> Path:
    """The dataset's own masks as predictions (a perfect segmentation), with predictions.csv."""
    dataset, _, split = setup
    folder.mkdir(parents=True)
    rows = []
    for k, fold in enumerate(split.folds):
        for cid in fold.test:
            mask = dataset.decode(dataset.case(cid))[1]
            Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{cid}.png")
            rows.append([cid, str(k)])
    write_csv(folder / "predictions.csv", rows, header=("case_id", "fold"))
    return folder


def test_perfect_masks_give_dice_one(setup, tmp_path):
    dataset, _, split = setup
    folder = mask_folder(setup, tmp_path / "seg")
    (folder / "README.txt").write_text("ignored")
    outcome = evaluate(setup, tmp_path, folder)
    assert outcome.status == "completed" and outcome.metrics["task"] == "segmentation"
    assert outcome.metrics["headline"]["metric"] == "dice" and outcome.metrics["headline"]["value"] == 1.0
    doc = RunDir(outcome.run_dir).read_run()
    assert doc["task"] == "segmentation" and doc["submission"]["name"] == "seg"
    for k, fold in enumerate(split.folds):
        masks = read_masks(outcome.run_dir / f"fold-{k}" / "masks.npz")
        assert sorted(masks) == sorted(fold.test)
        assert all(np.array_equal(masks[c], dataset.decode(dataset.case(c))[1]) for c in fold.test)
    with ResultsStore(default_store_url(tmp_path / "runs")) as store:
        assert store.get_run(outcome.run_dir.name)["headline_value"] == 1.0


def test_a_run_that_predicts_empty_masks_is_recognised(setup):
    dataset, _, split = setup
    empty = {c: (k, np.zeros_like(dataset.decode(dataset.case(c))[1])) for k, fold in enumerate(split.folds)
             for c in fold.test}
    metrics = score_predictions("segmentation", split, dataset, empty, folds=[0, 1, 2])
    assert metrics["pooled"]["n_empty_predictions"] == metrics["n_cases"] and metrics["headline"]["value"] == 0.0
    assert constant_prediction(metrics) == "an empty mask"
    assert headline_text(metrics).endswith("; the model predicted an empty mask for every case")
    one_lesion = dict(empty)
    case = next(iter(one_lesion))
    one_lesion[case] = (empty[case][0], np.ones_like(empty[case][1]))
    varied = score_predictions("segmentation", split, dataset, one_lesion, folds=[0, 1, 2])
    assert varied["pooled"]["n_empty_predictions"] == metrics["n_cases"] - 1
    assert constant_prediction(varied) is None


def test_resized_mask_is_refused(setup, tmp_path):
    dataset, _, split = setup
    folder = mask_folder(setup, tmp_path / "seg")
    cid = split.folds[1].test[0]
    facts = dataset.facts()[cid]
    Image.new("L", (facts.width + 3, facts.height + 1)).save(folder / f"{cid}.png")
    message = refused(setup, tmp_path, folder)
    assert str(folder) in message and f"{cid}.png is {facts.height + 1}x{facts.width + 3}" in message
    assert f"its image {facts.height}x{facts.width}" in message


def test_mask_without_row_and_row_without_mask(setup, tmp_path):
    _, _, split = setup
    folder = mask_folder(setup, tmp_path / "seg")
    Image.new("L", (8, 8)).save(folder / "stray.png")
    message = refused(setup, tmp_path, folder)
    assert str(folder) in message and "stray.png" in message and "no row" in message
    (folder / "stray.png").unlink()
    cid = split.folds[0].test[2]
    (folder / f"{cid}.png").unlink()
    message = refused(setup, tmp_path, folder)
    assert str(folder / "predictions.csv") in message and f"row 4 ({cid})" in message and "no mask file" in message


def test_corrupt_mask_png(setup, tmp_path):
    _, _, split = setup
    folder = mask_folder(setup, tmp_path / "seg")
    bad = folder / f"{split.folds[2].test[0]}.png"
    bad.write_bytes(bad.read_bytes()[:30])
    message = refused(setup, tmp_path, folder)
    assert str(bad) in message and "corrupt" in message


def test_segmentation_folder_without_csv_and_with_wrong_fold(setup, tmp_path):
    _, _, split = setup
    folder = mask_folder(setup, tmp_path / "seg")
    rows = list(csv.reader(open(folder / "predictions.csv")))
    (folder / "predictions.csv").unlink()
    message = refused(setup, tmp_path, folder)
    assert str(folder) in message and "predictions.csv" in message
    rows[1][1] = "1"  # a fold-0 test case given in fold 1
    write_csv(folder / "predictions.csv", rows[1:], header=rows[0])
    message = refused(setup, tmp_path, folder)
    assert f"row 2 ({rows[1][0]})" in message and "not a test case of" in message


def test_masks_saved_as_0_1_score_as_the_same_masks_saved_as_0_255(setup, tmp_path):
    as_255 = mask_folder(setup, tmp_path / "m255")
    as_01 = tmp_path / "m01"
    as_01.mkdir()
    for png in as_255.glob("*.png"):
        Image.fromarray((np.asarray(Image.open(png)) > 0).astype(np.uint8)).save(as_01 / png.name)
    (as_01 / "predictions.csv").write_bytes((as_255 / "predictions.csv").read_bytes())
    a = evaluate(setup, tmp_path / "a", as_255, task="segmentation").metrics
    b = evaluate(setup, tmp_path / "b", as_01, task="segmentation").metrics
    assert b["pooled"]["dice"] == a["pooled"]["dice"] == pytest.approx(1.0)


def test_a_grey_probability_map_is_refused_naming_the_file(setup, tmp_path):
    folder = mask_folder(setup, tmp_path / "grey")
    victim = sorted(folder.glob("*.png"))[0]
    Image.fromarray(np.linspace(0, 255, 48 * 48).reshape(48, 48).astype(np.uint8)).resize(
        Image.open(victim).size).save(victim)
    message = refused(setup, tmp_path, folder, task="segmentation")
    assert str(victim) in message and "is not a binary mask" in message, message
