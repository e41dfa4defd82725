"""Scoring predictions made outside busbench (``busbench evaluate``): same checks, same scores, same run folder.

The evaluator owns the ground truth; a submission hands over only predictions, keyed by case id, with the fold
each case was predicted in (its test fold in the split). The formats are :mod:`benchmark.evaluation.formats`, and
the rules the predictions must meet are :mod:`benchmark.evaluation.predictions`'s, whose readers check them: every
check runs before anything is written. With ``folds`` given, only those folds are scored.

The result is a run folder of kind ``"predictions"`` (layout of :mod:`benchmark.results.rundir`):
``fold-<k>/predictions.csv`` (probabilities written with full float precision, so re-reading them gives the very
numbers scored) or ``fold-<k>/masks.npz``, ``metrics.json`` from :func:`score_predictions`, and ``run.json`` with
the keys a trained run has. The folder name is the submission name plus a hash of the predictions' sha256, the
dataset fingerprint, the split file's sha256, the task and the scored folds. ``run.json`` is written last, so a
folder without it is an interrupted evaluation and is written again; a folder with a finished ``run.json`` is kept
as it is (scoring is deterministic, so it would come out the same) and only indexed again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.formats import SEGMENTATION_CSV
from benchmark.evaluation.predictions import (
    infer_task,
    predictions_sha256,
    read_class_predictions,
    read_mask_predictions,
)
from benchmark.evaluation.score import constant_prediction, score_predictions
from benchmark.evaluation.training import trained_text
from benchmark.fileio import atomic_write_json, read_json
from benchmark.results.rundir import RunDir, config_hash, file_sha256, write_class_predictions, write_masks
from benchmark.results.rundoc import NOT_TRAINED, new_run_doc, now
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.verify import load_split

#: A submission name that can name the run folder (``--name`` must match it).
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class EvaluateRequest:
    """What ``busbench evaluate`` was asked to do (see ``busbench evaluate --help``)."""

    predictions: Path
    dataset: str
    splits: Path
    task: str | None = None
    name: str | None = None
    folds: tuple[int, ...] | None = None
    out: Path = Path("runs")
    results_url: str | None = None


@dataclass
class EvaluateOutcome:
    """An evaluation's run folder, status (completed or partial), metrics, and whether it was evaluated before."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    reused: bool


def submission_name(req: EvaluateRequest) -> str:
    """The name the results are shown under: ``--name``, else the predictions file (or folder) stem, made safe.

    Raises:
        BusbenchError: When ``--name`` is not a safe folder name.
    """
    if req.name is not None:
        if not _SAFE_NAME.fullmatch(req.name):
            raise BusbenchError("--name", f"{req.name!r} must be letters, digits, '.', '_' or '-' (starting with a "
                                          "letter or digit): it names the run folder")
        return req.name
    stem = req.predictions.resolve().stem if req.predictions.is_file() else req.predictions.resolve().name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "predictions"


def headline_text(metrics: dict[str, Any], run_dir: Path | None = None) -> str:
    """The headline line printed after scoring, as ``busbench run`` prints it: ``"dice: 0.8123 (95% CI ...)"``.

    A classifier that predicted one class for every case gets that said on the same line. Given the run folder of
    a trained run, so do its budget and its convergence flags (:mod:`benchmark.evaluation.training`).
    """
    h = metrics["headline"]

    def num(v: Any) -> str:
        return "undefined" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

    only = constant_prediction(metrics)
    collapsed = f"; the model predicted {only} for every case" if only else ""
    run = RunDir(run_dir).read_run() if run_dir is not None else None
    trained = f"; {trained_text(run, metrics, run_dir)}" if isinstance(run, dict) else ""
    return f"{h['metric']}: {num(h['value'])} (95% CI {num(h['ci_low'])}-{num(h['ci_high'])}){collapsed}{trained}"


def _load_json(path: Path) -> dict[str, Any]:
    return read_json(path)


def evaluate_predictions(req: EvaluateRequest) -> EvaluateOutcome:
    """Check, score and record predictions made outside busbench (see module docstring).

    Returns:
        The outcome; its ``metrics`` are the ``metrics.json`` document.

    Raises:
        BusbenchError: On any problem with the inputs; nothing is written then.
    """
    task = infer_task(req.predictions, req.task)
    name = submission_name(req)
    dataset = open_dataset(req.dataset)
    if task == "segmentation" and not dataset.has_masks:
        raise BusbenchError(dataset.name, "has no masks; segmentation predictions cannot be scored on it")
    split = load_split(req.splits, dataset)
    folds = split.chosen_folds(req.folds)
    if not folds:
        raise BusbenchError("--folds", "names no fold")
    sha = predictions_sha256(req.predictions, task)
    split_sha = file_sha256(req.splits)
    identity = {"kind": "predictions", "task": task, "predictions": sha, "dataset": dataset.fingerprint(),
                "split": split_sha, "folds": folds}
    rd = RunDir(req.out / f"{name}-{config_hash(identity)}")
    url = req.results_url or default_store_url(req.out)
    previous = rd.read_run()
    if previous is not None and previous.get("status") in ("completed", "partial") and rd.metrics_json.exists():
        recorded = (previous.get("predictions") or {}).get("sha256"), (previous.get("split") or {}).get("sha256")
        if recorded != (sha, split_sha):
            raise BusbenchError(rd.run_json, "records other predictions or another split than these; move the "
                                             "folder away to evaluate again")
        metrics = _load_json(rd.metrics_json)
        with ResultsStore(url) as store:
            store.index_run(rd.path)
        return EvaluateOutcome(rd.path, previous["status"], metrics, reused=True)

    if task == "classification":
        predictions = read_class_predictions(req.predictions, split, folds)
    else:
        predictions = read_mask_predictions(req.predictions, split, dataset, folds)
    where = str(req.predictions / SEGMENTATION_CSV if task == "segmentation" else req.predictions)
    metrics = score_predictions(task, split, dataset, predictions, folds=folds, where=where)
    with ResultsStore(url) as store:  # made before the first write: a bad URL leaves nothing behind
        if task == "classification":
            for k in folds:
                write_class_predictions(rd.fold_dir(k) / "predictions.csv",
                                        [(c, f, p) for c, (f, p) in predictions.items() if f == k], split.classes)
        else:
            for k in folds:
                write_masks(rd.fold_dir(k) / "masks.npz", {c: m for c, (f, m) in predictions.items() if f == k})
        atomic_write_json(rd.metrics_json, metrics)
        status = "completed" if metrics["complete"] else "partial"
        doc = new_run_doc(
            rd.path.name, "predictions", task=task, submission={"name": name, "task": task, "source": "predictions"},
            training=NOT_TRAINED, dataset=dataset.provenance(req.dataset),
            split=split.provenance(str(req.splits), split_sha), identity=None, code=None, compute=None,
            predictions={"path": str(req.predictions),
                         "format": "csv" if task == "classification" else f"png masks + {SEGMENTATION_CSV}",
                         "sha256": sha,
                         "n_cases": {str(k): sum(1 for f, _ in predictions.values() if f == k) for k in folds}},
            scored_folds=folds)
        doc.update({"errors": {}, "status": status, "finished": now()})
        # run.json goes last: a folder without it is an interrupted evaluation, written again next time.
        rd.write_run(doc)
        store.index_run(rd.path)
    return EvaluateOutcome(rd.path, status, metrics, reused=False)
