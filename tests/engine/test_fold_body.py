"""The one fold body and the one run document that every training command shares (run, tune, audit, evaluate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmark.engine.fold as engine_fold
from benchmark.audit.protocols import AuditRequest, audit_protocols
from benchmark.data.open import open_dataset
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.results.rundir import RunDir
from benchmark.results.rundoc import KINDS, NOT_TRAINED, new_run_doc, training_record
from benchmark.splits.make import make_split
from tests.helpers import TINY

#: What every run document holds, whatever made it.
COMMON = {"run_id", "kind", "created", "task", "submission", "hparams", "image_size", "epochs", "seed", "tuned",
          "pretrained", "dataset", "split", "folds", "status", "compute", "git_commit", "versions"}


def test_a_run_document_has_every_common_field_and_its_kind_section() -> None:
    doc = new_run_doc("m-123", "protocol-audit", task="classification", submission={"name": "m"},
                      training=training_record({"epochs": 3, "pretrained": True}, 64, 1),
                      dataset={"name": "d", "fingerprint": "f", "spec": "d"},
                      split={"path": "s.json", "sha256": "x", "k": 3, "group": "none", "protocol": "naive-split"},
                      identity={"format": 2}, code={"sha256": "c"}, compute={"device": "cpu"},
                      protocol={"name": "naive-split"})
    assert COMMON <= set(doc) and doc["protocol"] == {"name": "naive-split"}
    assert (doc["epochs"], doc["pretrained"], doc["tuned"], doc["status"]) == (3, True, False, "running")
    predictions = new_run_doc("p-1", "predictions", task="segmentation", submission={"name": "p"},
                              training=NOT_TRAINED, dataset={}, split={}, identity=None, code=None, compute=None)
    assert COMMON <= set(predictions) and "identity" not in predictions and predictions["epochs"] is None
    with pytest.raises(ValueError, match="unknown run kind 'trainedd'"):
        new_run_doc("x", "trainedd", task="classification", submission={}, training=NOT_TRAINED, dataset={},
                    split={}, identity=None, code=None, compute=None)
    assert set(KINDS) == {"trained", "tuned", "protocol-audit", "predictions", "external"}


def test_a_fold_completed_by_another_process_is_kept(tmp_path: Path, capsys) -> None:
    rd = RunDir(tmp_path / "run")
    theirs = {"fold": 0, "status": "completed", "seconds": 1.0}
    rd.write_fold_result(0, theirs)
    kept = engine_fold.record_fold_result(rd, 0, {"fold": 0, "status": "completed", "seconds": 2.0})
    assert kept == theirs and rd.fold_result(0) == theirs
    assert "completed by another process meanwhile" in capsys.readouterr().err
    # a failure never replaces a completed fold either
    assert engine_fold.record_fold_result(rd, 0, {"fold": 0, "status": "failed", "error": "x"}) == theirs


@pytest.mark.slow
def test_run_and_audit_train_through_the_same_fold_body(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple[str, int]] = []
    real = engine_fold.run_fold

    def spy(submission, dataset, k, build, **kw):
        calls.append((kw["rd"].path.name.split("-")[0], k))
        return real(submission, dataset, k, build, **kw)

    monkeypatch.setattr(engine_fold, "run_fold", spy)
    split_path = tmp_path / "split.json"
    make_split(open_dataset(TINY), k=3, seed=0, val_fraction=0.5).save(split_path)
    options = {"epochs": 1, "image_size": 32, "threads": 1}
    run = run_submission(RunRequest("small_cnn", TINY, split_path, out=tmp_path / "runs", **options))
    audit_protocols(AuditRequest("small_cnn", TINY, protocols="clean", k=3, out=tmp_path / "audit", **options))
    assert calls == [("small_cnn", 0), ("small_cnn", 1), ("small_cnn", 2)] * 2
    for doc in (json.loads((run.run_dir / "run.json").read_text()),
                json.loads(next((tmp_path / "audit").glob("small_cnn-clean-*/run.json")).read_text())):
        assert COMMON <= set(doc) and doc["status"] == "completed" and len(doc["folds"]) == 3
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/*/fold-*/result.json"))]
    assert len(results) == 6
    assert all({"selection", "n_train", "n_val", "n_test", "history", "memory"} <= set(r) for r in results)
