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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute
from benchmark.engine.fold import clean_fold, run_folds
from benchmark.engine.options import (
    TrainingOptions,
    check_trainable,
    configured_submission,
    split_and_folds,
    submission_class,
)
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import score_predictions
from benchmark.fileio import atomic_write_json, hold_lock
from benchmark.plugins.submission import Submission
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.results.rundoc import new_run_doc, now, open_run_doc, training_record
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
    jobs: int = 1


@dataclass
class RunOutcome:
    """How a run ended: its folder, status (completed, partial or failed), failed folds and metrics."""

    run_dir: Path
    status: str
    failed: dict[int, str]
    metrics: dict[str, Any] | None


@dataclass
class OpenRun:
    """A checked request and its run folder, ready to train (:func:`open_run`).

    Attributes:
        req: The request.
        submission: The configured submission, its head over the split's classes.
        dataset: The data.
        split: The split, verified against the data.
        folds: The folds the request names, sorted.
        size: Input size in pixels.
        epochs: Training epochs.
        compute: Device, precision and threads.
        code: The submission's source fingerprint (:func:`source_fingerprint`).
        rd: The run folder.
        doc: Its ``run.json`` document, as training updates it.
    """

    req: RunRequest
    submission: Submission
    dataset: Dataset
    split: SplitFile
    folds: list[int]
    size: int
    epochs: int
    compute: ComputeSetup
    code: dict[str, Any]
    rd: RunDir
    doc: dict[str, Any]


def open_run(req: RunRequest) -> OpenRun:
    """Check the request and open (or create) its run folder; nothing is trained.

    Raises:
        BusbenchError: On bad input (unknown submission, task mismatch, a split that does not verify, a fold that
            does not exist, a results store that cannot be used), before the run folder is touched.
    """
    cls = submission_class(req.submission, req.task)
    spec = cls.spec
    submission = configured_submission(cls, req)  # bad options fail here, before the data is read
    epochs = int(submission.hparams["epochs"])
    size = int(req.image_size or spec.input_size)
    dataset = open_dataset(req.dataset)
    check_trainable(dataset, spec.task)
    split, folds = split_and_folds(req.splits, dataset, req.folds, spec)
    submission = configured_submission(cls, req, split.classes)  # the head over the split's classes
    compute = resolve_compute(req.device, req.precision, req.threads)
    split_sha = file_sha256(req.splits)
    code = source_fingerprint(cls)
    identity = run_identity({"submission": spec.name, "task": spec.task, "hparams": submission.hparams,
                             "image_size": size, "dataset": dataset.fingerprint(), "split": split_sha,
                             "seed": req.seed}, code, compute)
    rid = run_id(spec.name, identity)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.check()  # a store that cannot be used is found now, not after the last fold trained
    rd = RunDir(req.out / rid)
    doc = open_run_doc(rd, lambda: new_run_doc(
        rid, "trained", task=spec.task, submission=spec.to_json(),
        training=training_record(submission.hparams, size, req.seed), dataset=dataset.provenance(req.dataset),
        split=split.provenance(str(req.splits), split_sha), identity=identity, code=code,
        compute=compute.to_json()), compute.to_json())
    return OpenRun(req, submission, dataset, split, folds, size, epochs, compute, code, rd, doc)


def train_folds(run: OpenRun) -> dict[int, str]:
    """Train the run's folds that have not completed (:func:`benchmark.engine.fold.run_folds`).

    Returns:
        The failed folds' errors.
    """
    spec, compute = run.submission.spec, run.compute
    print(f"run {run.rd.path.name}: {spec.name} on {run.dataset.name}, {len(run.folds)} fold(s), {run.epochs} "
          f"epochs at {run.size} px, {compute.device} ({compute.device_name}), {compute.precision}, "
          f"{compute.threads} threads -> {run.rd.path}", file=sys.stderr)
    dataset, split, size = run.dataset, run.split, run.size
    return run_folds(run.submission, dataset, run.folds, lambda k: clean_fold(dataset, split, k, size),
                     code=run.code["sha256"], epochs=run.epochs, seed=run.req.seed, compute=compute, rd=run.rd,
                     doc=run.doc, progress=run.req.progress, jobs=run.req.jobs)


def index_run(req: RunRequest, run_dir: Path) -> None:
    """Index the run folder in the request's results store."""
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.index_run(run_dir)


def run_submission(req: RunRequest) -> RunOutcome:
    """Train and evaluate a submission fold by fold (see module docstring): open the run, train, finish, index.

    Raises:
        BusbenchError: On bad input (unknown submission, task mismatch, a split that does not verify...). Failures
            of the submission's own code do not raise: the fold is recorded as failed and the outcome says so.
    """
    run = open_run(req)
    failed = train_folds(run)
    outcome = finish_run(run.rd, run.doc, run.split, run.dataset, failed)
    index_run(req, run.rd.path)
    return outcome


def finish_run(rd: RunDir, doc: dict[str, Any], split: SplitFile, dataset: Dataset,
               failed: dict[int, str]) -> RunOutcome:
    """Score the completed folds, write ``metrics.json`` and the final ``run.json`` status.

    Under the run's ``finish`` lock: two processes finishing one run at once (each trained some of its folds) score
    one after the other, and the later one sees every fold the earlier one finished.
    """
    with hold_lock(rd.lock_path("finish")):
        return _finish_run(rd, doc, split, dataset, failed)


def _finish_run(rd: RunDir, doc: dict[str, Any], split: SplitFile, dataset: Dataset,
                failed: dict[int, str]) -> RunOutcome:
    done = [k for k in range(split.k) if rd.fold_completed(k)]
    errors = {str(k): r["error"] for k in range(split.k)
              if (r := rd.fold_result(k)) is not None and r.get("status") == "failed"}
    metrics = None
    if done and not failed:
        predictions = read_run_predictions(rd, doc["task"], split, done)
        metrics = score_predictions(doc["task"], split, dataset, predictions, folds=done)
        atomic_write_json(rd.metrics_json, metrics)
    status = "failed" if errors else ("completed" if len(done) == split.k else "partial")
    doc.update({"status": status, "errors": errors, "finished": now()})
    rd.write_run(doc)
    return RunOutcome(rd.path, status, failed, metrics)
