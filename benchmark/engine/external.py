"""``busbench external``: train on one dataset, predict every case of another, and measure the gap.

The protocol (issue 17, section 3), from one external split file (:mod:`benchmark.splits.external`):

* ``--train folds`` (the default): each fold of the training split trains on its ``train`` part, selects its epoch
  on its ``val`` part (cases of the training dataset only), and predicts its own ``test`` part *and* every case of
  the test dataset, in one prediction pass. The training dataset's cross-validated score comes from the pooled
  out-of-fold predictions, as ``busbench run`` scores it; the external score from the mean of the fold models'
  probabilities on each external case (their ensemble), through the split's class mapping. Each fold model's own
  external score is recorded too.
* ``--train all``: one model trains on every case of the training dataset except fold 0's validation part, which
  selects its epoch, and predicts the test dataset. There is no cross-validated score, so no gap.

External scores have cluster-bootstrap intervals over the test side's groups (patients and near-duplicate chains
united where the data have patient ids, else duplicate clusters). The gap is the training dataset's cross-validated
headline minus the external headline, with an independent two-sample cluster bootstrap interval
(:func:`benchmark.metrics.uncertainty.difference_ci`): the two scores are on different cases, so nothing pairs them.

The run folder (kind ``external``) resumes like any run; ``metrics.json`` holds ``internal`` (the training
dataset's cross-validated metrics), ``external`` (the ensemble's metrics on the test dataset), ``per_model``,
``gap`` and ``class_mapping``, and its ``headline`` is the external one. Classification only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.device import resolve_compute
from benchmark.engine.fold import FoldData, run_folds
from benchmark.engine.options import (
    TrainingOptions,
    check_class_set,
    check_trainable,
    configured_submission,
    submission_class,
)
from benchmark.engine.tensors import images_only, labelled
from benchmark.errors import BusbenchError
from benchmark.evaluation.external import score_external
from benchmark.fileio import atomic_write_json, hold_lock
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.results.rundoc import new_run_doc, now, open_run_doc, training_record
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.external import ExternalSplit, load_external
from benchmark.splits.schema import Fold

TRAIN_MODES = ("folds", "all")


@dataclass(frozen=True)
class ExternalRequest(TrainingOptions):
    """What ``busbench external`` was asked to do (see ``busbench external --help``)."""

    submission: str
    dataset: str
    test_dataset: str
    splits: Path
    train: str = "folds"
    folds: tuple[int, ...] | None = None


@dataclass
class ExternalOutcome:
    """How an external run ended: its folder, status, failed folds and metrics (``None`` unless completed)."""

    run_dir: Path
    status: str
    failed: dict[int, str]
    metrics: dict[str, Any] | None


def _folds(ext: ExternalSplit, mode: str) -> list[Fold]:
    """The training folds: the split's, or (``all``) one fold on every case but fold 0's validation part."""
    if mode == "folds":
        return list(ext.train.folds)
    val = ext.train.folds[0].val
    held = set(val)
    return [Fold(tuple(c for c in sorted(ext.train.cases) if c not in held), tuple(val), ())]


def run_external(req: ExternalRequest) -> ExternalOutcome:
    """Train on the training dataset, predict the test dataset, and score both and the gap (module docstring).

    Raises:
        BusbenchError: On bad input (a segmentation model, an unknown ``--train``, a split file that does not
            verify against either dataset, a head that cannot score the test side), before anything trains.
    """
    if req.train not in TRAIN_MODES:
        raise BusbenchError("--train", f"must be {' or '.join(TRAIN_MODES)}, not {req.train!r}")
    cls = submission_class(req.submission, None)
    spec = cls.spec
    if spec.task != "classification":
        raise BusbenchError(f"model {spec.name!r}", "is a segmentation model; external validation scores "
                                                    "classification models")
    submission = configured_submission(cls, req)  # bad options fail here, before the data is read
    size = int(req.image_size or spec.input_size)
    train_data, test_data = open_dataset(req.dataset), open_dataset(req.test_dataset)
    check_trainable(train_data, spec.task)
    ext = load_external(req.splits, train_data, test_data)
    check_class_set(ext.train, spec, str(req.splits))
    submission = configured_submission(cls, req, ext.train.classes)
    folds = _folds(ext, req.train)
    chosen = sorted(set(req.folds)) if req.folds is not None else list(range(len(folds)))
    bad = [k for k in chosen if not 0 <= k < len(folds)]
    if bad:
        raise BusbenchError("--folds", f"fold(s) {bad} do not exist; --train {req.train} has folds "
                                       f"0..{len(folds) - 1}")
    compute = resolve_compute(req.device, req.precision, req.threads)
    split_sha = file_sha256(req.splits)
    code = source_fingerprint(cls)
    identity = run_identity({"submission": spec.name, "task": spec.task, "hparams": submission.hparams,
                             "image_size": size, "dataset": train_data.fingerprint(),
                             "test_dataset": test_data.fingerprint(), "split": split_sha, "train": req.train,
                             "seed": req.seed}, code, compute)
    rid = run_id(f"{spec.name}-external", identity)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.check()
    rd = RunDir(req.out / rid)
    doc = open_run_doc(rd, lambda: new_run_doc(
        rid, "external", task=spec.task, submission=spec.to_json(),
        training=training_record(submission.hparams, size, req.seed), dataset=train_data.provenance(req.dataset),
        split=ext.provenance(str(req.splits), split_sha), identity=identity, code=code, compute=compute.to_json(),
        external={"test_dataset": test_data.provenance(req.test_dataset), "train": req.train,
                  "class_mapping": ext.mapping.to_json(), "n_folds": len(folds)}), compute.to_json())
    external_ids = ext.test.case_ids
    print(f"external {rid}: {spec.name} trained on {train_data.name} ({req.train}: {len(chosen)} fold(s)), "
          f"predicting {len(external_ids)} cases of {test_data.name}, {doc['epochs']} epochs at {size} px -> "
          f"{rd.path}", file=sys.stderr)
    classes = ext.train.classes
    external_images: list[torch.Tensor] = []  # decoded once, on the first fold that trains, and shared by the rest

    def build(k: int) -> FoldData:
        fold = folds[k]
        train, select = (labelled(train_data, part, size, classes) for part in (fold.train, fold.val))
        if fold.test:
            test = images_only(train_data, fold.test, size)
        else:  # --train all: no test part of the training data
            test = torch.empty((0, 1, size, size), dtype=torch.uint8)
        if not external_images:
            external_images.append(images_only(test_data, external_ids, size))
        return FoldData(k, train, select, "val", tuple(fold.test), test, external_ids=external_ids,
                        external_images=external_images[0])

    failed = run_folds(submission, train_data, chosen, build, code=code["sha256"], epochs=int(doc["epochs"]),
                       seed=req.seed, compute=compute, rd=rd, doc=doc, progress=req.progress)
    with hold_lock(rd.lock_path("finish")):
        outcome = _finish(rd, doc, ext, train_data, test_data, len(folds), failed)
    if outcome.metrics is not None:
        with ResultsStore(req.results_url or default_store_url(req.out)) as store:
            store.index_run(rd.path)
    return outcome


def _finish(rd: RunDir, doc: dict[str, Any], ext: ExternalSplit, train_data: Dataset, test_data: Dataset,
            n_folds: int, failed: dict[int, str]) -> ExternalOutcome:
    done = [k for k in range(n_folds) if rd.fold_completed(k)]
    errors = {str(k): r["error"] for k in range(n_folds)
              if (r := rd.fold_result(k)) is not None and r.get("status") == "failed"}
    complete = len(done) == n_folds and not failed and not errors
    metrics = None
    if complete:
        metrics = score_external(rd, ext, train_data, test_data, doc["external"]["train"], n_folds)
        atomic_write_json(rd.metrics_json, metrics)
    status = "failed" if errors else ("completed" if complete else "partial")
    doc.update({"status": status, "errors": errors, "finished": now()})
    rd.write_run(doc)
    return ExternalOutcome(rd.path, status, failed, metrics)
