"""External validation (issue 17, section 3): train on one dataset, score every case of another, and the gap.

The synthetic generator's second scanner site (``site=b``: other speckle, gain, depth fall-off and resolution) is the
other dataset, so the protocol is tested end to end without downloads.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.cli import main
from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.results.rundir import file_sha256
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.external import ClassMapping, class_mapping, load_external, make_external, read_external

SITE_A = "synthetic:n=150,seed=4,size=64"
SITE_B = "synthetic:n=90,seed=5,size=64,site=b"
#: More images of site a (other seed): the control, where no gap is expected.
SAME_SITE = "synthetic:n=90,seed=5,size=64"
#: Enough training for the small CNN to learn site a well (0.84 balanced accuracy on its own folds; site b's gap
#: +0.34 [+0.23, +0.44], the control's -0.02 [-0.12, +0.09], on a 2-core AMD EPYC with AVX-512). With 15 epochs the
#: fold models were still learning (0.61 on their folds); the external prediction, the mean of the three, beat each
#: of them by enough that the control's gap interval missed zero (-0.14 [-0.27, -0.005]) on that machine, though it
#: held zero on the one CI ran on before.
EPOCHS = 35
TRAINING = ["--epochs", str(EPOCHS), "--image-size", "64", "--threads", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("external")
    train = folder / "a.json"
    assert main(["splits", "make", SITE_A, "--k", "3", "--val-fraction", "0.3", "--out", str(train)]) == 0
    ext = folder / "a-to-b.json"
    assert main(["splits", "external", str(train), SITE_A, SITE_B, "--out", str(ext)]) == 0
    return train, ext


@pytest.mark.slow
def test_an_external_split_records_both_datasets_and_verifies_against_both(files, capsys):
    _, ext = files
    doc = json.loads(ext.read_text())
    assert doc["format"] == "busbench-external/1"
    assert doc["train"]["dataset"]["fingerprint"] == open_dataset(SITE_A).fingerprint()
    assert doc["test"]["dataset"]["fingerprint"] == open_dataset(SITE_B).fingerprint()
    assert doc["test"]["dataset"]["n_cases"] == 90 and doc["class_mapping"]["rule"] == "identity"
    assert doc["test"]["duplicates_of_training"] == []  # the second site shares no image with the first
    capsys.readouterr()
    assert main(["splits", "verify", str(ext), SITE_A, "--test-dataset", SITE_B]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {ext} matches") and "90 test cases" in out
    # other test data than the file was made from: one line naming the file's test side
    assert main(["splits", "verify", str(ext), SITE_A, "--test-dataset", "synthetic:n=90,seed=6,size=64,site=b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{ext} (test side)" in err
    assert main(["splits", "verify", str(ext), SITE_A]) == 2
    assert "is an external split: give its test data too (--test-dataset)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_three_class_head_is_scored_on_benign_vs_malignant_by_renormalising(files, tmp_path):
    train, _ = files
    a, b = open_dataset(SITE_A), open_dataset(SITE_B)
    split = make_external(load_external_train(train, a), a, b, classes=("benign", "malignant"))
    assert split.mapping.rule == "renormalise" and split.test.classes == ("benign", "malignant")
    assert {r.label for r in split.test.cases.values()} == {"benign", "malignant"}
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.0, 0.8], [1.0, 0.0, 0.0]])
    assert np.allclose(split.mapping.apply(probs), [[0.6, 0.4], [0.0, 1.0], [0.5, 0.5]])
    same = ClassMapping(("benign", "malignant"), ("benign", "malignant"))
    assert same.rule == "identity" and np.array_equal(same.apply(probs[:, 1:]), probs[:, 1:])
    with pytest.raises(BusbenchError, match="has no output for normal"):
        class_mapping(("benign", "malignant"), ("normal", "benign", "malignant"), "x")
    with pytest.raises(BusbenchError, match="is the training split's own dataset"):
        make_external(load_external_train(train, a), a, a)


def load_external_train(path: Path, dataset):
    from benchmark.splits.verify import load_split

    return load_split(path, dataset)


def test_a_tampered_external_split_is_refused_in_one_line(files, tmp_path, capsys):
    _, ext = files
    doc = json.loads(ext.read_text())
    doc["class_mapping"]["rule"] = "renormalise"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(BusbenchError, match="says rule 'renormalise', but its classes give 'identity'"):
        read_external(bad)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(doc["train"]))
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(plain),
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an external split file" in err


@pytest.mark.slow
def test_external_runs_score_the_ensemble_the_cross_validated_score_and_the_gap(files, tmp_path, capsys):
    # Trained on site a, tested on site b (another scanner look): the gap is measured and it is real.
    _, ext = files
    runs = tmp_path / "runs"
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(ext),
                 *TRAINING, "--out", str(runs)]) == 0
    (run_dir,) = [p.parent for p in runs.glob("*/run.json")]
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run["kind"] == "external" and run["split"]["protocol"] == "external"
    assert run["external"]["test_dataset"]["name"] == SITE_B and run["external"]["class_mapping"]["rule"] == "identity"
    # the external score is the mean of the three fold models' probabilities, scored as scikit-learn scores it
    split = load_external(ext, open_dataset(SITE_A), open_dataset(SITE_B))
    b = open_dataset(SITE_B)
    per_fold = []
    for k in range(3):
        with (run_dir / f"fold-{k}" / "external.csv").open() as handle:
            rows = {r["case_id"]: [float(r[c]) for c in ("prob_normal", "prob_benign", "prob_malignant")]
                    for r in csv.DictReader(handle)}
        assert sorted(rows) == sorted(split.test.cases)
        per_fold.append([rows[c] for c in split.test.case_ids])
    mean = np.mean(per_fold, axis=0)
    y = [split.test.classes.index(b.case(c).label) for c in split.test.case_ids]
    headline = metrics["headline"]
    assert headline["dataset"] == SITE_B
    assert headline["value"] == pytest.approx(skm.balanced_accuracy_score(y, mean.argmax(1)))
    assert headline["ci_low"] <= headline["value"] <= headline["ci_high"]
    assert metrics["external"]["bootstrap"]["n_groups"] == len({r.group for r in split.test.cases.values()})
    assert [m["fold"] for m in metrics["per_model"]] == [0, 1, 2]
    gap = metrics["gap"]
    assert gap["value"] == pytest.approx(metrics["internal"]["headline"]["value"] - headline["value"])
    assert gap["ci_low"] <= gap["value"] <= gap["ci_high"] and "independent two-sample" in gap["method"]
    assert metrics["internal"]["headline"]["value"] > 0.55  # it learnt site a (chance is 1/3)
    # ... and loses on site b. Only the point estimate is asserted: with 90 test cases the interval is too wide to
    # exclude 0 on every CPU (the same run gave a gap of +0.107 [-0.025, +0.248] on an AMD EPYC, where float
    # rounding trains slightly other weights than on the Intel machine where its lower end was above 0).
    assert gap["value"] > 0.05
    with ResultsStore(default_store_url(runs)) as store:
        (row,) = store.list_runs()
    assert row["kind"] == "external" and row["headline_value"] == pytest.approx(headline["value"])
    # the leaderboard's own board for it, with both datasets named; never among the leaky protocols
    from leaderboard import tables

    frame = tables.board_frame([row])
    ((title, board),) = tables.external(frame, "classification")
    assert title == f"trained on {SITE_A}, tested on {SITE_B}, {ext} ({file_sha256(ext)[:8]})"
    assert list(board["rank"]) == [1]
    assert board.iloc[0]["gap_value"] == pytest.approx(gap["value"]) and board.iloc[0]["class_mapping"] == "identity"
    assert tables.leaky(frame, "classification").empty and tables.ranking(frame, "classification").empty
    # results list --format json|csv: one record per run, the score with its interval, budget and both datasets
    capsys.readouterr()
    assert main(["results", "list", "--runs", str(runs), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["kind"] == "external" and record["dataset"] == SITE_A and record["test_dataset"] == SITE_B
    assert record["headline_value"] == pytest.approx(headline["value"])
    assert record["budget"].startswith(f"64 px, {EPOCHS} ep")
    assert main(["results", "list", "--runs", str(runs), "--format", "csv"]) == 0
    (row_csv,) = csv.DictReader(capsys.readouterr().out.splitlines())
    assert float(row_csv["headline_ci_low"]) == pytest.approx(headline["ci_low"])
    assert row_csv["split"] == str(ext) and row_csv["run_id"] == record["run_id"]
    # the same command again finds its finished run and trains nothing
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(ext),
                 *TRAINING, "--out", str(runs)]) == 0
    assert len(list(runs.glob("*/run.json"))) == 1
    # results verify scores it again from its prediction files, through the same external split
    assert main(["results", "verify", str(run_dir)]) == 0
    metrics["gap"]["value"] += 0.01
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    assert main(["results", "verify", str(run_dir)]) == 1


def test_a_segmentation_model_is_refused_in_one_line(files, tmp_path, capsys):
    _, ext = files
    assert main(["external", "unet_resnet18", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(ext),
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "external validation scores classification models" in err


@pytest.mark.slow
def test_a_model_tested_on_more_images_of_its_own_site_shows_no_gap(files, tmp_path):
    # The control: the same training, tested on other images of site a; the gap's interval holds zero.
    train, _ = files
    same = tmp_path / "a-to-a.json"
    assert main(["splits", "external", str(train), SITE_A, SAME_SITE, "--out", str(same)]) == 0
    runs = tmp_path / "runs"
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SAME_SITE, "--splits", str(same),
                 *TRAINING, "--out", str(runs)]) == 0
    (metrics_json,) = runs.glob("*/metrics.json")
    gap = json.loads(metrics_json.read_text())["gap"]
    assert gap["ci_low"] < 0 < gap["ci_high"], gap


def test_train_all_fits_one_model_and_reports_no_gap(files, tmp_path, capsys):
    _, ext = files
    runs = tmp_path / "runs"
    capsys.readouterr()
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(ext),
                 "--train", "all", "--epochs", "1", "--image-size", "32", "--threads", "1", "--out", str(runs)]) == 0
    (run_dir,) = [p.parent for p in runs.glob("*/run.json")]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"] == "all" and metrics["gap"] is None and metrics["internal"] is None
    assert [m["fold"] for m in metrics["per_model"]] == [0]
    result = json.loads((run_dir / "fold-0" / "result.json").read_text())
    split = read_external(ext)
    # every training case but fold 0's validation part trains the one model, which is selected on that part
    assert result["n_train"] == len(split.train.cases) - len(split.train.folds[0].val)
    assert result["n_val"] == len(split.train.folds[0].val) and result["n_external"] == 90
    out = capsys.readouterr().out
    assert f"external balanced_accuracy on {SITE_B}" in out and "gap" not in out


def test_test_images_that_are_also_training_images_are_recorded_and_reported(tmp_path, capsys):
    import shutil

    from tests.helpers import tiny_busi

    train_root = tiny_busi(tmp_path / "train", per_class=4, seed=0)
    test_root = tiny_busi(tmp_path / "test", per_class=4, seed=1)
    for n in (1, 2):  # two of the other dataset's benign images are copies of training images
        for suffix in ("", "_mask"):
            shutil.copy(train_root / "Dataset_BUSI_with_GT" / "benign" / f"benign ({n}){suffix}.png",
                        test_root / "Dataset_BUSI_with_GT" / "benign" / f"benign ({n}){suffix}.png")
    train_split = tmp_path / "train.json"
    assert main(["splits", "make", str(train_root), "--k", "2", "--val-fraction", "0.5", "--out",
                 str(train_split)]) == 0
    capsys.readouterr()
    out_file = tmp_path / "ext.json"
    assert main(["splits", "external", str(train_split), str(train_root), str(test_root), "--out",
                 str(out_file)]) == 0
    assert "test cases whose image is also in the training data: 2 of 12 (benign-1, benign-2)" in (
        capsys.readouterr().out)
    copies = read_external(out_file).test.duplicates_of_training
    assert copies == {f"benign-{n}": {"train": f"benign-{n}", "kind": "exact", "score": 1.0} for n in (1, 2)}
    assert main(["splits", "verify", str(out_file), str(train_root), "--test-dataset", str(test_root)]) == 0
    doc = json.loads(out_file.read_text())
    doc["test"]["duplicates_of_training"] = doc["test"]["duplicates_of_training"][:1]  # one copy hidden
    out_file.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["splits", "verify", str(out_file), str(train_root), "--test-dataset", str(test_root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the detector finds 2 (not listed: benign-2;" in err


@pytest.mark.slow
def test_a_three_class_model_is_scored_end_to_end_on_benign_vs_malignant(files, tmp_path):
    # As for BUSI -> BUS-BRA: the three-class head's probabilities renormalised over benign and malignant.
    train, _ = files
    ext = tmp_path / "a-to-b-benign-malignant.json"
    assert main(["splits", "external", str(train), SITE_A, SITE_B, "--test-classes", "benign,malignant", "--out",
                 str(ext)]) == 0
    runs = tmp_path / "runs"
    assert main(["external", "small_cnn", "--dataset", SITE_A, "--test-dataset", SITE_B, "--splits", str(ext),
                 "--epochs", "2", "--image-size", "32", "--threads", "1", "--out", str(runs)]) == 0
    (run_dir,) = [p.parent for p in runs.glob("*/run.json")]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["class_mapping"] == {"head": ["normal", "benign", "malignant"], "scored": ["benign", "malignant"],
                                        "rule": "renormalise"}
    split, b = read_external(ext), open_dataset(SITE_B)
    raw = []
    for k in range(3):
        with (run_dir / f"fold-{k}" / "external.csv").open() as handle:
            rows = {r["case_id"]: [float(r["prob_benign"]), float(r["prob_malignant"])] for r in csv.DictReader(handle)}
        raw.append([rows[c] for c in split.test.case_ids])
    # each model's benign and malignant probabilities renormalised, then averaged over the models
    renormalised = np.mean([np.asarray(p) / np.asarray(p).sum(1, keepdims=True) for p in raw], axis=0)
    y = np.array([("benign", "malignant").index(b.case(c).label) for c in split.test.case_ids])
    external = metrics["external"]["pooled"]
    assert metrics["headline"]["value"] == pytest.approx(skm.balanced_accuracy_score(y, renormalised.argmax(1)))
    assert external["auc_malignant"] == pytest.approx(skm.roc_auc_score(y, renormalised[:, 1]))
    assert metrics["external"]["convention"].startswith("2 classes benign/malignant")


def test_readme_external_examples_are_the_committed_runs():
    # README's table of the committed external examples quotes each run's own metrics.json (3 decimals).
    repo = Path(__file__).resolve().parents[2]
    rows = [line for line in (repo / "README.md").read_text().splitlines()
            if line.startswith("| BUSI") and "-external-" in line]
    assert len(rows) == 2
    for line in rows:
        run_id = line.split("`")[1]
        metrics = json.loads((repo / "leaderboard" / "results" / run_id / "metrics.json").read_text())
        internal, external, gap = metrics["internal"]["headline"], metrics["headline"], metrics["gap"]
        cells = [c.strip() for c in line.strip("|").split("|")]

        def fmt(value, low, high, sign=""):
            return f"{value:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"

        assert cells[2] == fmt(internal["value"], internal["ci_low"], internal["ci_high"])
        assert cells[3] == fmt(external["value"], external["ci_low"], external["ci_high"])
        assert cells[4] == fmt(gap["value"], gap["ci_low"], gap["ci_high"], "+")
        assert metrics["duplicates_of_training"] == 0
