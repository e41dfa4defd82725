"""``busbench audit rescore``: a run's headline on leaking and clean test cases, trained and predictions-only."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from benchmark.audit.rescore import rescore_run
from benchmark.cli import main
from benchmark.data.duplicates import find_duplicates
from benchmark.data.open import open_dataset
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.errors import BusbenchError
from benchmark.evaluation.evaluate import EvaluateRequest, evaluate_predictions
from benchmark.splits.make import make_split

TINY = "synthetic:n=45,seed=4,size=48"


@pytest.fixture(scope="module")
def naive(tmp_path_factory):
    ds = open_dataset(TINY)
    path = tmp_path_factory.mktemp("split") / "naive.json"
    split = make_split(ds, k=3, seed=0, val_fraction=0.5, group="none")
    split.save(path)
    clusters = find_duplicates(ds).cluster_ids([c.case_id for c in ds.cases])
    leaking = set()
    for f in split.folds:  # independent of the audit code: a test case whose cluster is on the training side
        side = {clusters[c] for c in f.train + f.val}
        leaking |= {c for c in f.test if clusters[c] in side}
    assert leaking  # the planted copies make an image-level split leak
    return ds, split, path, leaking


@pytest.mark.slow
def test_rescore_trained_run(naive, tmp_path, capsys):
    _, _, path, leaking = naive
    outcome = run_submission(RunRequest("small_cnn", TINY, path, epochs=1, image_size=32, precision="fp32",
                                        out=tmp_path))
    result = rescore_run(outcome.run_dir)
    assert set(result["leaking_cases"]) == leaking
    assert result["leaking"]["n_cases"] == len(leaking) and result["clean"]["n_cases"] == 45 - len(leaking)
    assert result["all"]["value"] == pytest.approx(outcome.metrics["headline"]["value"])
    assert result["metric"] == "balanced_accuracy" and result["unit"] == "duplicate cluster"
    assert main(["audit", "rescore", str(outcome.run_dir), "--dataset", TINY]) == 0
    text = capsys.readouterr().out
    assert "leaking - clean" in text and "balanced_accuracy" in text


def test_rescore_predictions_only_run_with_known_answer(naive, tmp_path):
    ds, split, path, leaking = naive
    # correct (one-hot) on leaking cases, always "benign" elsewhere: the difference is known from the labels alone
    classes = list(ds.classes)
    rows = []
    for k, fold in enumerate(split.folds):
        for cid in fold.test:
            p = np.zeros(3)
            p[classes.index(ds.case(cid).label) if cid in leaking else classes.index("benign")] = 1.0
            rows.append([cid, k, *p])
    preds = tmp_path / "preds.csv"
    with open(preds, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case_id", "fold", "prob_normal", "prob_benign", "prob_malignant"])
        writer.writerows(rows)
    outcome = evaluate_predictions(EvaluateRequest(predictions=preds, dataset=TINY, splits=path, out=tmp_path))
    result = rescore_run(outcome.run_dir)
    assert result["leaking"]["value"] == pytest.approx(1.0)
    test_ids = {c for f in split.folds for c in f.test}
    present = {ds.case(c).label for c in test_ids - leaking}
    assert result["clean"]["value"] == pytest.approx(1 / len(present))  # only benign recalled
    diff = result["difference"]
    assert diff["value"] == pytest.approx(result["leaking"]["value"] - result["clean"]["value"])
    if diff["ci_low"] is not None:
        assert diff["ci_low"] <= diff["value"] <= diff["ci_high"]


def test_rescore_rejects_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(BusbenchError, match="not a run folder"):
        rescore_run(tmp_path)
