"""Protocol inflation (``busbench audit protocols``): how much each leaky evaluation protocol inflates a score.

The same submission is trained with the same epochs, image size, hyper-parameters and seeds under each protocol,
and each protocol's pooled test score is reported beside the clean one. The leaky data flows live in the audit only
(this module and its ``protocol_*`` siblings); the leaderboard's engine (:mod:`benchmark.engine.runner`) never sees
them. Every protocol is a small function that turns the data into per-fold (train, selection, test) tensors;
training, prediction and scoring are the engine's own building blocks (``train_fold``, ``predict_probabilities``,
``score_predictions``).

This module runs the audit: it trains the same model under each protocol and writes the outputs. The rest lives
beside it, and its names are re-exported here:

* :mod:`benchmark.audit.protocol_plans`: the protocols (each one's data flow and the seed papers that used it),
  their registry and ``--protocols`` parsing.
* :mod:`benchmark.audit.protocol_data`: the leaky data transformations (mask overlay, augmented copies).
* :mod:`benchmark.audit.protocol_report`: the inflation report (rows, paired differences vs clean, the table).

Outputs, under ``--out``: one run folder per protocol (``run.json`` of kind ``"protocol-audit"`` with
``split.protocol`` set to the protocol name, ``split.json``, ``fold-<k>/``, ``metrics.json``; the lucky split keeps
each draw in ``draw-<i>/``), indexed in the results store, and ``protocols.json`` with the summary table. A
protocol whose folder is complete is reused; an unfinished one resumes fold by fold (and epoch by epoch).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.audit.duplicates import find_duplicates
from benchmark.audit.protocol_data import (
    COPY_MARK,
    OVERLAY_ALPHA,
    augmented_copies,
    concat,
    original_id,
    overlay_masks,
    take,
)
from benchmark.audit.protocol_plans import (
    _BUILDERS,
    ALIASES,
    AUGMENTED_COPIES,
    LUCKY_DRAWS,
    PROTOCOLS,
    VAL_FRACTION,
    AuditContext,
    FoldData,
    ProtocolPlan,
    augment_before_split_protocol,
    clean_protocol,
    lucky_split_draws,
    mask_overlay_protocol,
    naive_split_protocol,
    parse_protocols,
    select_on_test_protocol,
)
from benchmark.audit.protocol_report import SHOWN, _add_comparisons, _entry, format_table, paired_difference
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute
from benchmark.engine.fold import fold_entry, run_folds
from benchmark.engine.loop import PluginError
from benchmark.engine.options import TrainingOptions, check_trainable, configured_submission, submission_class
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import HEADLINE, ScoringInputs, prepare, score_predictions
from benchmark.fileio import atomic_write_json
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.results.rundoc import new_run_doc, now, open_run_doc, training_record
from benchmark.results.store import ResultsStore, default_store_url

# Every public name of the audit, importable from here as before the split into sibling modules.
__all__ = [
    "ALIASES", "AUGMENTED_COPIES", "COPY_MARK", "LUCKY_DRAWS", "OVERLAY_ALPHA", "PROTOCOLS", "SHOWN", "VAL_FRACTION",
    "AuditContext", "AuditRequest", "FoldData", "ProtocolPlan",
    "audit_protocols", "augment_before_split_protocol", "augmented_copies", "clean_protocol", "concat",
    "format_table", "lucky_split_draws", "mask_overlay_protocol", "naive_split_protocol", "original_id",
    "overlay_masks", "paired_difference", "parse_protocols", "run_plan", "select_on_test_protocol", "take",
]


# --- running one protocol -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRequest(TrainingOptions):
    """What ``busbench audit protocols`` was asked to do (see its ``--help``)."""

    submission: str
    dataset: str
    task: str | None = None
    protocols: str | None = None
    k: int = 5
    lucky_draws: int = LUCKY_DRAWS
    #: Audits default to their own folder, apart from the runs of ``busbench run``.
    out: Path = field(default=Path("runs/protocol-audit"), kw_only=True)


def run_plan(plan: ProtocolPlan, rd: RunDir, ctx: AuditContext, epochs: int, compute: ComputeSetup,
             doc: dict[str, Any] | None, progress: bool = False) -> dict[str, Any]:
    """Train and predict the plan's folds with the engine's fold body (finished folds are kept), then score them.

    Args:
        plan: The protocol's folds.
        rd: The run folder (a lucky-split draw's own folder).
        ctx: What every protocol shares.
        epochs: Training epochs.
        compute: Device, precision and threads.
        doc: The run's ``run.json`` document (its fold table is kept current), ``None`` for a lucky-split draw.
        progress: Show a batch progress bar.

    Returns:
        ``{"metrics": metrics.json document, "folds": {fold: result}}``.

    Raises:
        PluginError: If the submission's code fails (the fold is recorded as failed first).
    """
    run_folds(ctx.submission, ctx.dataset, plan.folds, plan.build, epochs=epochs, seed=ctx.seed, compute=compute,
              rd=rd, doc=doc, progress=progress, stop_on_failure=True)
    results = {k: rd.fold_result(k) or {} for k in plan.folds}
    predictions = read_run_predictions(rd, ctx.submission.spec.task, plan.split, plan.folds)
    metrics = score_predictions(ctx.submission.spec.task, plan.split, ctx.dataset, predictions, folds=plan.folds)
    atomic_write_json(rd.metrics_json, metrics)
    return {"metrics": metrics, "folds": results}


def _scoring_inputs(rd: RunDir, plan: ProtocolPlan, ctx: AuditContext) -> ScoringInputs:
    task = ctx.submission.spec.task
    return prepare(task, plan.split, ctx.dataset, read_run_predictions(rd, task, plan.split, plan.folds),
                   folds=plan.folds)


# --- the audit --------------------------------------------------------------------------------------------------------


def _run_doc(rid: str, name: str, ctx: AuditContext, req: AuditRequest, rd: RunDir, plan: ProtocolPlan | None,
             compute: ComputeSetup, identity: dict[str, Any], code: dict[str, Any]) -> dict[str, Any]:
    spec, sub = ctx.submission.spec, ctx.submission
    if plan is None:  # lucky split: each draw keeps its own split.json
        split_doc = {"path": None, "sha256": None, "k": 5, "group": "duplicates", "protocol": name}
        details: dict[str, Any] = {"draws_requested": req.lucky_draws}
    else:
        split_doc = plan.split.provenance("split.json", file_sha256(rd.path / "split.json"), protocol=name)
        details = plan.details
    return new_run_doc(rid, "protocol-audit", task=spec.task, submission=spec.to_json(),
                       training=training_record(sub.hparams, ctx.size, ctx.seed),
                       dataset=ctx.dataset.provenance(req.dataset), split=split_doc, identity=identity, code=code,
                       compute=compute.to_json(), protocol={"name": name, **details})


def _finish(rd: RunDir, doc: dict[str, Any], error: str | None) -> None:
    doc.update({"status": "failed" if error else "completed", "errors": {"protocol": error} if error else {},
                "finished": now()})
    rd.write_run(doc)


def _is_done(rd: RunDir) -> bool:
    doc = rd.read_run()
    return doc is not None and doc.get("status") == "completed" and rd.metrics_json.exists()


def _run_lucky(ctx: AuditContext, req: AuditRequest, rd: RunDir, doc: dict[str, Any], epochs: int,
               compute: ComputeSetup) -> dict[str, Any]:
    """Run every draw in ``draw-<i>/``; copy the best draw's metrics to the run's ``metrics.json``."""
    metric = HEADLINE[ctx.submission.spec.task]
    draws, fold_table = [], {}
    for plan in lucky_split_draws(ctx, req.lucky_draws):
        i = plan.details["draw"]
        draw_rd = RunDir(rd.path / f"draw-{i}")
        atomic_write_json(draw_rd.path / "split.json", plan.split.to_json())
        out = run_plan(plan, draw_rd, ctx, epochs, compute, None, req.progress)
        h = out["metrics"]["headline"]
        draws.append({"draw": i, "split_seed": plan.details["split_seed"], "value": h["value"],
                      "ci_low": h["ci_low"], "ci_high": h["ci_high"], "n_cases": out["metrics"]["n_cases"],
                      "seconds": round(out["folds"][0]["seconds"], 2), "best_epoch": out["folds"][0]["best_epoch"]})
        fold_table[f"draw-{i}"] = fold_entry(out["folds"][0])
    best = max(draws, key=lambda d: -np.inf if d["value"] is None else d["value"])
    shutil.copyfile(rd.path / f"draw-{best['draw']}" / "metrics.json", rd.metrics_json)
    doc["protocol"].update({"draws": draws, "reported_draw": best["draw"], "metric": metric,
                            "reported": "the best draw's test score, as if it were the only split"})
    doc["folds"] = fold_table
    return json.loads(rd.metrics_json.read_text())


def audit_protocols(req: AuditRequest) -> dict[str, Any]:
    """Run each requested protocol (reusing finished ones) and write ``protocols.json`` (see module docstring).

    Returns:
        The ``protocols.json`` document: ``task``, ``metric``, ``rows`` (one per protocol, in report order, with
        value, 95% CI, ``inflation_pp`` over clean and ``paired`` difference vs clean) and the shared settings.

    Raises:
        BusbenchError: On bad input (unknown submission or protocol, task mismatch, data that cannot be split).
    """
    cls = submission_class(req.submission, req.task)
    spec = cls.spec
    names = parse_protocols(req.protocols, spec.task)
    if req.lucky_draws < 1:
        raise BusbenchError("--lucky-draws", f"must be at least 1, got {req.lucky_draws}")
    submission = configured_submission(cls, req)
    epochs = int(submission.hparams["epochs"])
    dataset = open_dataset(req.dataset)
    check_trainable(dataset, spec.task)
    compute = resolve_compute(req.device, req.precision, req.threads)
    ctx = AuditContext(dataset, submission, int(req.image_size or spec.input_size), req.k, req.seed,
                       find_duplicates(dataset, progress=req.progress))
    base = {"submission": spec.name, "task": spec.task, "hparams": submission.hparams, "image_size": ctx.size,
            "dataset": dataset.fingerprint(), "k": req.k, "seed": req.seed}
    code = source_fingerprint(cls)
    metric = HEADLINE[spec.task]
    rows: list[dict[str, Any]] = []
    inputs: dict[str, ScoringInputs] = {}
    for name in names:
        identity = run_identity(
            {**base, "protocol": name, "copies": AUGMENTED_COPIES if name == "augment-before-split" else None,
             "alpha": OVERLAY_ALPHA if name == "mask-overlay" else None,
             "draws": req.lucky_draws if name == "lucky-split" else None}, code, compute)
        rid = run_id(f"{spec.name}-{name}", identity)
        rd = RunDir(req.out / rid)
        plan = None if name == "lucky-split" else _BUILDERS[name](ctx)
        if _is_done(rd):
            print(f"{name}: complete already, kept ({rd.path})", file=sys.stderr)
            metrics = json.loads(rd.metrics_json.read_text())
        else:
            print(f"{name}: training {spec.name}, {epochs} epochs at {ctx.size} px -> {rd.path}", file=sys.stderr)
            if plan is not None:
                atomic_write_json(rd.path / "split.json", plan.split.to_json())
            doc = open_run_doc(rd, partial(_run_doc, rid, name, ctx, req, rd, plan, compute, identity, code),
                               compute.to_json())
            try:
                if plan is None:
                    metrics = _run_lucky(ctx, req, rd, doc, epochs, compute)
                else:
                    metrics = run_plan(plan, rd, ctx, epochs, compute, doc, req.progress)["metrics"]
            except PluginError as exc:
                _finish(rd, doc, str(exc))
                rows.append({"protocol": name, "run_dir": str(rd.path), "status": "failed", "error": str(exc)})
                print(f"{name}: FAILED: {exc}", file=sys.stderr)
                continue
            _finish(rd, doc, None)
        with ResultsStore(req.results_url or default_store_url(req.out)) as store:
            store.index_run(rd.path)
        row = _entry(name, rd, metrics, spec.task)
        if name == "lucky-split":
            row["draws"] = (rd.read_run() or {})["protocol"]["draws"]
        elif plan is not None:
            inputs[name] = _scoring_inputs(rd, plan, ctx)
        rows.append(row)
    _add_comparisons(rows, inputs, metric)
    summary = {"task": spec.task, "metric": metric, "submission": spec.name, "dataset": req.dataset,
               "epochs": epochs, "image_size": ctx.size, "k": req.k, "seed": req.seed,
               "overlay_alpha": OVERLAY_ALPHA, "augmented_copies": AUGMENTED_COPIES, "lucky_draws": req.lucky_draws,
               "rows": rows}
    atomic_write_json(req.out / "protocols.json", summary)
    return summary
