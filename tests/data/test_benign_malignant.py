"""Benign vs malignant (issue 17, section 2): splits that score two classes, and their predictions scored."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from benchmark.cli import main
from benchmark.data.busbra import load_busbra
from benchmark.data.busi import load_busi
from benchmark.errors import BusbenchError
from benchmark.splits.make import make_split
from benchmark.splits.schema import read_split
from tests.fixtures_busbra import write_busbra
from tests.helpers import tiny_busi

sys.path.insert(0, str(Path(__file__).parents[1] / "fixture_plugins"))
import heads  # noqa: E402,F401  (registers fixed_head and unsized_head)


@pytest.fixture(scope="module")
def busi(tmp_path_factory) -> Path:
    return tiny_busi(tmp_path_factory.mktemp("busi"), per_class=8)


@pytest.fixture(scope="module")
def two_class_split(busi, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "busi-without-normals.json"
    assert main(["splits", "make", str(busi), "--k", "3", "--val-fraction", "0.5", "--classes", "benign,malignant",
                 "--out", str(out)]) == 0
    return out


def test_busi_without_normals_is_a_split_of_two_classes(busi, two_class_split, capsys):
    split = read_split(two_class_split)
    assert split.classes == ("benign", "malignant") and split.generator["classes"] == ["benign", "malignant"]
    assert len(split.cases) == 16 and {r.label for r in split.cases.values()} == {"benign", "malignant"}
    capsys.readouterr()
    # the normal images of the data are left out by the split's class set, not missing from it; the folds remake
    assert main(["splits", "verify", str(two_class_split), str(busi)]) == 0
    assert "folds and groups are what 'busbench splits make' makes" in capsys.readouterr().out


def test_a_dataset_without_normal_images_splits_into_benign_vs_malignant(tmp_path):
    fx = write_busbra(tmp_path / "BUSBRA", n_patients=12, images_per_patient=2)
    split = make_split(load_busbra(fx.root), k=3, val_fraction=0.5)
    assert split.classes == ("benign", "malignant") and len(split.cases) == 24


def test_bad_class_sets_are_one_line_errors(busi, tmp_path, capsys):
    for classes, message in (("benign,cancer", "--classes: unknown class 'cancer' (the data have normal, benign, "
                                               "malignant)"),
                             ("benign", "--classes: a split needs at least two classes, got benign")):
        assert main(["splits", "make", str(busi), "--classes", classes, "--out", str(tmp_path / "s.json")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def _predictions(path: Path, split, dataset, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, p, rows = [], [], []
    for k, fold in enumerate(split.folds):
        for cid in fold.test:
            truth = split.classes.index(dataset.case(cid).label)
            malignant = float(np.clip(0.5 + 0.3 * (truth - 0.5) + rng.normal(0, 0.25), 0.01, 0.99))
            rows.append([cid, str(k), repr(1 - malignant), repr(malignant)])
            y.append(truth)
            p.append([1 - malignant, malignant])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "fold", "prob_benign", "prob_malignant"])
        writer.writerows(rows)
    return path, np.array(y), np.array(p)


def test_two_class_predictions_are_scored_with_a_defined_headline_and_intervals(busi, two_class_split, tmp_path,
                                                                                capsys):
    split, dataset = read_split(two_class_split), load_busi(busi)
    path, y, p = _predictions(tmp_path / "predictions.csv", split, dataset)
    assert main(["evaluate", str(path), "--dataset", str(busi), "--splits", str(two_class_split), "--out",
                 str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").glob("*/metrics.json")
    metrics = json.loads(run.read_text())
    assert metrics["convention"] == "2 classes benign/malignant, prediction = argmax of the probabilities"
    headline = metrics["headline"]
    assert headline["metric"] == "balanced_accuracy"
    assert headline["value"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    assert headline["ci_low"] <= headline["value"] <= headline["ci_high"]
    pooled = metrics["pooled"]
    assert pooled["auc_malignant"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert pooled["sensitivity_malignant"] == pytest.approx(skm.recall_score(y, p.argmax(1)))
    assert pooled["undefined"] == {} and all(ci["low"] is not None for ci in metrics["ci"].values())
    written = (run.parent / "fold-0" / "predictions.csv").read_text().splitlines()[0]
    assert written == "case_id,fold,prob_benign,prob_malignant"


def test_three_class_predictions_on_a_two_class_split_are_refused(busi, two_class_split, tmp_path, capsys):
    split = read_split(two_class_split)
    path = tmp_path / "three.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "fold", "prob_normal", "prob_benign", "prob_malignant"])
        writer.writerows([[c, str(k), "0.2", "0.4", "0.4"] for k, f in enumerate(split.folds) for c in f.test])
    assert main(["evaluate", str(path), "--dataset", str(busi), "--splits", str(two_class_split), "--out",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "probabilities do not sum to 1" in err


@pytest.mark.slow
def test_a_two_class_split_trains_a_two_class_head_with_a_defined_headline(busi, two_class_split, tmp_path):
    runs = tmp_path / "runs"
    assert main(["run", "small_cnn", "--dataset", str(busi), "--splits", str(two_class_split), "--epochs", "2",
                 "--image-size", "32", "--threads", "1", "--out", str(runs)]) == 0
    (run_json,) = runs.glob("*/run.json")
    run, metrics = json.loads(run_json.read_text()), json.loads((run_json.parent / "metrics.json").read_text())
    assert run["status"] == "completed" and run["split"]["classes"] == ["benign", "malignant"]
    weights = torch.load(run_json.parent / "fold-0" / "model.pt", weights_only=True)
    last = [v for k, v in weights.items() if k.endswith("weight")][-1]
    assert last.shape[0] == 2  # the head's size comes from the split's classes
    split, dataset = read_split(two_class_split), load_busi(busi)
    y, p = [], []
    for k, fold in enumerate(split.folds):
        with (run_json.parent / f"fold-{k}" / "predictions.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == ["case_id", "fold", "prob_benign", "prob_malignant"]
        assert sorted(r["case_id"] for r in rows) == sorted(fold.test)
        y += [split.classes.index(dataset.case(r["case_id"]).label) for r in rows]
        p += [[float(r["prob_benign"]), float(r["prob_malignant"])] for r in rows]
    y_true, probs = np.array(y), np.array(p)
    headline = metrics["headline"]
    assert headline["metric"] == "balanced_accuracy"
    assert headline["value"] == pytest.approx(skm.balanced_accuracy_score(y_true, probs.argmax(1)), abs=1e-6)
    assert headline["ci_low"] is not None and headline["ci_low"] <= headline["value"] <= headline["ci_high"]
    assert main(["results", "verify", str(run_json.parent), "--dataset", str(busi)]) == 0


def test_a_model_with_a_fixed_three_class_head_is_refused_before_anything_runs(busi, two_class_split, tmp_path,
                                                                               capsys):
    assert main(["run", "fixed_head", "--dataset", str(busi), "--splits", str(two_class_split), "--epochs", "1",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "scores benign vs malignant; model 'fixed_head' is trained over normal, benign, malignant only" in err
    assert not list((tmp_path / "runs").glob("*/run.json"))


def test_the_audit_refuses_a_two_class_split_in_one_line(busi, two_class_split, tmp_path, capsys):
    assert main(["audit", "protocols", "small_cnn", "--dataset", str(busi), "--splits", str(two_class_split),
                 "--epochs", "1", "--out", str(tmp_path / "audit")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the audit's protocols are dealt over normal, benign, malignant" in err


def test_conformance_checks_every_declared_head():
    from benchmark.testing import check_submission

    results = {r.check: r for r in check_submission("unsized_head", checks=["output_shapes"],
                                                    raise_on_failure=False)}
    assert not results["output_shapes"].passed
    assert "with a 2-class head" in results["output_shapes"].message and "(4, 2)" in results["output_shapes"].message
    fine = check_submission("small_cnn", checks=["output_shapes", "loss_backward"])
    assert "heads of 3 and 2 classes" in fine[0].message and "with a 2-class head" in fine[1].message


def test_a_head_the_spec_does_not_declare_is_refused():
    from benchmark.plugins import ModelSpec, registry

    with pytest.raises(BusbenchError, match="cannot be trained on benign, malignant"):
        registry.create("fixed_head", classes=("benign", "malignant"))
    assert registry.create("small_cnn", classes=("benign", "malignant")).num_classes == 2
    assert registry.create("small_cnn").classes == ("normal", "benign", "malignant")
    with pytest.raises(BusbenchError, match="class_counts"):
        ModelSpec(name="four", task="classification", class_counts=(4,))
    with pytest.raises(BusbenchError, match="class_counts is for classification models"):
        ModelSpec(name="seg", task="segmentation", class_counts=(2,))
