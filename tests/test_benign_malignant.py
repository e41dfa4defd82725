"""Benign vs malignant (issue 17, section 2): splits that score two classes, and their predictions scored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.cli import main
from benchmark.data.busbra import load_busbra
from benchmark.data.busi import load_busi
from benchmark.splits.make import make_split
from benchmark.splits.schema import read_split
from tests.fixtures_busbra import write_busbra
from tests.helpers import tiny_busi


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


def test_training_on_a_two_class_split_is_refused_before_anything_runs(busi, two_class_split, tmp_path, capsys):
    assert main(["run", "small_cnn", "--dataset", str(busi), "--splits", str(two_class_split), "--epochs", "1",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scores benign vs malignant; busbench trains classification models over " in err
    assert not list((tmp_path / "runs").glob("*/run.json"))
