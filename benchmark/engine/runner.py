"""``busbench run``: train and evaluate a submission on every fold of a committed split, resumably.

A run's folder name is the submission name plus a hash of everything that changes its numbers (hyper-parameters,
image size, dataset fingerprint, split file, seed, the submission's source files, device type, precision, CPU
threads or GPU model; :mod:`benchmark.results.identity`), so the same command finds its own folder again while
nothing of that changed: finished folds are skipped, an interrupted fold continues from its last checkpointed epoch,
and finished results are never rewritten; an edited plugin or another ``--threads`` is another run. Folds may be
run in separate invocations (``--folds``) and accumulate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute, seed_everything
from benchmark.engine.loop import PluginError, TrainSettings, predict_probabilities, save_weights, train_fold
from benchmark.engine.options import (
    TrainingOptions,
    check_trainable,
    configured_submission,
    split_and_folds,
    submission_class,
)
from benchmark.engine.peak_memory import PeakMemory
from benchmark.engine.tensors import images_only, labelled
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import score_predictions
from benchmark.fileio import atomic_write_json
from benchmark.plugins.submission import Submission
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import (
    RunDir,
    file_sha256,
    git_commit,
    package_versions,
    write_class_predictions,
    write_masks,
)
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.schema import SplitFile


@dataclass(frozen=True)
class RunRequest(TrainingOptions):
    """What ``busbench run`` was asked to do (see ``busbench run --help`` for each option)."""

    submission: str
    dataset: str
    splits: Path
    task: str | None = None
    folds: tuple[int, ...] | None = None
    #: False: train the requested folds only, and leave scoring and indexing the run to the caller (a distributed
    #: executor's fold task; see :mod:`benchmark.engine.executors`).
    finish: bool = True


@dataclass
class RunOutcome:
    """How a run ended: its folder, status (completed, partial or failed), failed folds and metrics."""

    run_dir: Path
    status: str
    failed: dict[int, str]
    metrics: dict[str, Any] | None


def predict_test_fold(submission: Submission, model: torch.nn.Module, dataset: Dataset, test_ids: Sequence[str],
                      test_images: torch.Tensor, compute: ComputeSetup, batch_size: int, fold: int,
                      fold_dir: Path) -> None:
    """Predict a fold's test images once and write them: probabilities (CSV) or binary masks at original size."""
    probs = predict_probabilities(submission, model, test_images, compute, batch_size)
    if submission.spec.task == "classification":
        write_class_predictions(fold_dir / "predictions.csv",
                                [(cid, fold, p.numpy()) for cid, p in zip(test_ids, probs, strict=True)])
        return
    facts = dataset.facts()
    masks = {}
    for cid, p in zip(test_ids, probs, strict=True):
        # Predictions are scored at the reference mask's original size.
        h, w = facts[cid].height, facts[cid].width
        full = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        masks[cid] = (full >= 0.5).numpy()
    write_masks(fold_dir / "masks.npz", masks)


def run_submission(req: RunRequest) -> RunOutcome:
    """Train and evaluate a submission fold by fold (see module docstring).

    Raises:
        BusbenchError: On bad input (unknown submission, task mismatch, a split that does not verify...). Failures
            of the submission's own code do not raise: the fold is recorded as failed and the outcome says so.
    """
    cls = submission_class(req.submission, req.task)
    spec = cls.spec
    submission = configured_submission(cls, req)
    epochs = int(submission.hparams["epochs"])
    size = int(req.image_size or spec.input_size)
    dataset = open_dataset(req.dataset)
    check_trainable(dataset, spec.task)
    split, folds = split_and_folds(req.splits, dataset, req.folds)
    compute = resolve_compute(req.device, req.precision, req.threads)
    split_sha = file_sha256(req.splits)
    code = source_fingerprint(cls)
    identity = run_identity({"submission": spec.name, "task": spec.task, "hparams": submission.hparams,
                             "image_size": size, "dataset": dataset.fingerprint(), "split": split_sha,
                             "seed": req.seed}, code, compute)
    rid = run_id(spec.name, identity)
    rd = RunDir(req.out / rid)
    doc = rd.read_run() or {
        "run_id": rid, "kind": "trained", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": spec.task, "submission": spec.to_json(), "hparams": submission.hparams, "image_size": size,
        "epochs": epochs, "seed": req.seed, "tuned": False, "pretrained": bool(submission.hparams.get("pretrained")),
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint(), "spec": req.dataset},
        "split": {"path": str(req.splits), "sha256": split_sha, "k": split.k, "group": split.generator.get("group"),
                  "protocol": split.protocol},
        "identity": identity, "code": code, "folds": {}, "status": "running",
    }
    doc.update({"compute": compute.to_json(), "git_commit": git_commit(), "versions": package_versions()})
    rd.write_run(doc)
    print(f"run {rid}: {spec.name} on {dataset.name}, {len(folds)} fold(s), {epochs} epochs at {size} px, "
          f"{compute.device} ({compute.device_name}), {compute.precision}, {compute.threads} threads -> {rd.path}",
          file=sys.stderr)
    failed: dict[int, str] = {}
    batch_size = int(submission.hparams["batch_size"])
    for k in folds:
        previous = rd.fold_result(k)
        if previous is not None and previous.get("status") == "completed":
            print(f"fold {k}: complete already, kept", file=sys.stderr)
            continue
        fold, fold_dir = split.folds[k], rd.fold_dir(k)
        fold_dir.mkdir(parents=True, exist_ok=True)
        started, peak = time.perf_counter(), PeakMemory(compute.device)
        seed_everything(req.seed)
        try:
            train = labelled(dataset, fold.train, size).to(compute.device)
            val = labelled(dataset, fold.val, size).to(compute.device)
            settings = TrainSettings(epochs, batch_size, req.seed, k, req.progress)
            model, best_epoch, history = train_fold(submission, train, val, settings, compute,
                                                    fold_dir / "checkpoint.pt")
            predict_test_fold(submission, model, dataset, fold.test, images_only(dataset, fold.test, size), compute,
                              batch_size * 2, k, fold_dir)
            save_weights(model, fold_dir / "model.pt")
        except PluginError as exc:
            failed[k] = str(exc)
            rd.write_fold_result(k, {"fold": k, "status": "failed", "error": str(exc)})
            print(f"fold {k}: FAILED: {exc}", file=sys.stderr)
            continue
        seconds, memory = time.perf_counter() - started, peak.to_json()
        rd.write_fold_result(k, {"fold": k, "status": "completed", "best_epoch": best_epoch, "history": history,
                                 "seconds": seconds, "memory": memory, "n_train": len(fold.train),
                                 "n_val": len(fold.val), "n_test": len(fold.test)})
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
        doc["folds"][str(k)] = fold_summary(rd.fold_result(k))
        doc["params"] = sum(p.numel() for p in model.parameters())
        rd.write_run(doc)
    if not req.finish:
        return RunOutcome(rd.path, doc["status"], failed, None)
    outcome = finish_run(rd, doc, split, dataset, failed)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.index_run(rd.path)
    return outcome


def fold_summary(result: dict[str, Any]) -> dict[str, Any]:
    """A completed fold's line in ``run.json``'s fold table: its wall time, best epoch and peak memory."""
    summary = {"seconds": round(result["seconds"], 2), "best_epoch": result["best_epoch"]}
    if "memory" in result:  # folds finished before busbench recorded memory have none
        summary["memory"] = result["memory"]
    return summary


def finish_run(rd: RunDir, doc: dict[str, Any], split: SplitFile, dataset: Dataset,
               failed: dict[int, str]) -> RunOutcome:
    """Score the completed folds, write ``metrics.json`` and the final ``run.json`` status."""
    done = [k for k in range(split.k) if (r := rd.fold_result(k)) is not None and r.get("status") == "completed"]
    errors = {str(k): r["error"] for k in range(split.k)
              if (r := rd.fold_result(k)) is not None and r.get("status") == "failed"}
    metrics = None
    if done and not failed:
        predictions = read_run_predictions(rd, doc["task"], split, done)
        metrics = score_predictions(doc["task"], split, dataset, predictions, folds=done)
        atomic_write_json(rd.metrics_json, metrics)
    status = "failed" if errors else ("completed" if len(done) == split.k else "partial")
    doc.update({"status": status, "errors": errors,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    rd.write_run(doc)
    return RunOutcome(rd.path, status, failed, metrics)
