"""Protocol inflation (``busbench audit protocols``): how much each leaky evaluation protocol inflates a score.

The same submission is trained with the same epochs, image size, hyper-parameters and seeds under each protocol,
and each protocol's pooled test score is reported beside the clean one. A protocol is one leak or several combined
(:mod:`benchmark.audit.leaks`; ``--protocols papers`` runs every combination that reproduces a published number,
:mod:`benchmark.audit.paper_protocols`). The leaky data flows live in the audit only; the leaderboard's engine
never sees them. Every fold trains through the engine's own fold body (:func:`benchmark.engine.fold.run_folds`),
so an audit run is an engine run that sees different data and nothing else.

This module runs the audit: it trains the same model under each protocol and writes the outputs. The rest lives
beside it, and its names are re-exported here:

* :mod:`benchmark.audit.protocol_plans`: each protocol's data flow (its folds, ready to train) and ``--protocols``
  parsing.
* :mod:`benchmark.audit.protocol_data`: the leaky data transformations (mask overlay, augmented copies).
* :mod:`benchmark.audit.protocol_report`: the inflation report (rows, paired differences vs clean, the table).

Outputs, under ``--out``: one run folder per trained protocol (``run.json`` of kind ``"protocol-audit"`` with
``split.protocol`` set to the protocol name, ``split.json``, ``fold-<k>/``, ``metrics.json``; a lucky split keeps
each draw in ``draw-<i>/``), indexed in the results store, and ``protocols.json`` with the summary table. A
protocol with only a scoring leak (``empty-mask-scored-1``) trains nothing: its row scores the run of the same
protocol without it. A protocol whose folder is complete is reused; an unfinished one resumes fold by fold (and
epoch by epoch).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.audit.leaks import ALIASES, AUGMENTED_COPIES, LEAKS, LUCKY_DRAWS, PROTOCOLS, Protocol, report_order
from benchmark.audit.paper_protocols import PUBLISHED
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
    protocol_plans,
    select_on_test_protocol,
)
from benchmark.audit.protocol_report import (
    SHOWN,
    _add_comparisons,
    _empty_mask_entry,
    _entry,
    format_table,
    paired_difference,
)
from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import find_duplicates
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute
from benchmark.engine.fold import LOCK_POLL_SECONDS, fold_entry, run_folds
from benchmark.engine.loop import PluginError
from benchmark.engine.options import (
    TrainingOptions,
    check_trainable,
    configured_submission,
    submission_class,
)
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import HEADLINE, ScoringInputs, prepare, score_predictions
from benchmark.fileio import atomic_write_json, read_json, try_lock
from benchmark.metrics.classification import CLASSES
from benchmark.plugins.submission import Submission
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.results.rundoc import new_run_doc, now, open_run_doc, training_record
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.verify import load_split

# Every public name of the audit, importable from here as before the split into sibling modules.
__all__ = [
    "ALIASES", "AUGMENTED_COPIES", "COPY_MARK", "LUCKY_DRAWS", "OVERLAY_ALPHA", "PROTOCOLS", "SHOWN", "VAL_FRACTION",
    "AuditContext", "AuditRequest", "FoldData", "Protocol", "ProtocolPlan",
    "audit_protocols", "augment_before_split_protocol", "augmented_copies", "clean_protocol", "concat",
    "format_table", "lucky_split_draws", "mask_overlay_protocol", "naive_split_protocol", "original_id",
    "overlay_masks", "paired_difference", "parse_protocols", "protocol_plans", "run_plan", "select_on_test_protocol",
    "take",
]


# --- running one protocol -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRequest(TrainingOptions):
    """What ``busbench audit protocols`` was asked to do (see its ``--help``)."""

    submission: str
    dataset: str
    task: str | None = None
    protocols: str | None = None
    #: A committed split file whose folds are the clean ones (``None``: a duplicate-grouped split made here).
    splits: Path | None = None
    #: Folds of the split made here (``None``: 5, or the split file's).
    k: int | None = None
    lucky_draws: int = LUCKY_DRAWS
    #: The published-results ledger that ``--protocols papers`` reads.
    published: Path = PUBLISHED
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
    run_folds(ctx.submission, ctx.dataset, plan.folds, plan.build, code=ctx.code, epochs=epochs, seed=ctx.seed,
              compute=compute, rd=rd, doc=doc, progress=progress, stop_on_failure=True)
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


def _run_doc(rid: str, name: str, ctx: AuditContext, req: AuditRequest, rd: RunDir, plans: list[ProtocolPlan],
             lucky: bool, compute: ComputeSetup, identity: dict[str, Any], code: dict[str, Any]) -> dict[str, Any]:
    spec, sub = ctx.submission.spec, ctx.submission
    details = {k: v for k, v in plans[0].details.items() if k not in ("draw", "split_seed")}
    if lucky:  # each draw keeps its own split.json
        split_doc = {"path": None, "sha256": None, "k": 5, "group": plans[0].split.generator.get("group"),
                     "protocol": name}
        details["draws_requested"] = req.lucky_draws
    else:
        split_doc = plans[0].split.provenance("split.json", file_sha256(rd.path / "split.json"), protocol=name)
    if ctx.base is not None:
        details["clean_split"] = {"path": str(req.splits), "sha256": file_sha256(req.splits)}  # type: ignore[arg-type]
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


def _run_lucky(ctx: AuditContext, plans: list[ProtocolPlan], rd: RunDir, doc: dict[str, Any], epochs: int,
               compute: ComputeSetup, progress: bool) -> dict[str, Any]:
    """Run every draw in ``draw-<i>/``; copy the best draw's metrics to the run's ``metrics.json``."""
    metric = HEADLINE[ctx.submission.spec.task]
    draws, fold_table = [], {}
    for plan in plans:
        i = plan.details["draw"]
        draw_rd = RunDir(rd.path / f"draw-{i}")
        atomic_write_json(draw_rd.path / "split.json", plan.split.to_json())
        out = run_plan(plan, draw_rd, ctx, epochs, compute, None, progress)
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
    return read_json(rd.metrics_json)


@dataclass
class _Trained:
    """A trained protocol's run: its folder, metrics, scoring inputs (not for a lucky split) or failure."""

    rd: RunDir
    metrics: dict[str, Any] | None = None
    inputs: ScoringInputs | None = None
    draws: list[dict[str, Any]] | None = None
    error: str | None = None


def _context(req: AuditRequest, submission: Submission, dataset: Dataset, code: str) -> AuditContext:
    """Check the split options and make what every protocol shares (the duplicate report is computed here)."""
    base = load_split(req.splits, dataset) if req.splits is not None else None
    if base is not None:
        if tuple(base.classes) != CLASSES:  # the leaky protocols re-deal folds over all three classes
            raise BusbenchError(str(req.splits), f"scores {' vs '.join(base.classes)}; the audit's protocols are "
                                                 f"dealt over {', '.join(CLASSES)} (use a split of all three)")
    if base is not None and req.k is not None and req.k != base.k:
        raise BusbenchError("--k", f"is {req.k}, but {req.splits} has {base.k} folds; drop --k to use the file's")
    k = base.k if base is not None else (req.k or 5)
    return AuditContext(dataset, submission, int(req.image_size or submission.spec.input_size), k, req.seed,
                        find_duplicates(dataset, progress=req.progress), code, base)


def _identity(protocol: Protocol, req: AuditRequest, compute: ComputeSetup, base: dict[str, Any],
              code: dict[str, Any]) -> dict[str, Any]:
    """What a protocol's run id hashes: the shared settings, the protocol and its leaks' parameters."""
    choices = {**base, "protocol": protocol.name,
               "copies": AUGMENTED_COPIES if protocol.has("augment-before-split") else None,
               "alpha": OVERLAY_ALPHA if protocol.has("mask-overlay") else None,
               "draws": req.lucky_draws if protocol.has("lucky-split") else None}
    if req.splits is not None:
        choices["clean_split"] = file_sha256(req.splits)
    return run_identity(choices, code, compute)


def _train_all(protocols: list[Protocol], ctx: AuditContext, req: AuditRequest, epochs: int,
               compute: ComputeSetup, base: dict[str, Any], code: dict[str, Any]) -> dict[Protocol, _Trained]:
    """Train each protocol, sharing the work with any other process auditing into the same ``--out``.

    A protocol is trained under a lock (``<out>/.locks/<run id>.lock``); one that another process is training is
    left to it and taken up again when that process is done (then it is complete and reused, or it resumes), so the
    same command started twice trains two protocols at a time and never one twice at once.
    """
    runs = {}
    for protocol in protocols:
        identity = _identity(protocol, req, compute, base, code)
        runs[protocol] = (run_id(f"{ctx.submission.spec.name}-{protocol.name}", identity), identity)
    done: dict[Protocol, _Trained] = {}
    told: set[Protocol] = set()
    while len(done) < len(protocols):
        for protocol in protocols:
            if protocol in done:
                continue
            rid, identity = runs[protocol]
            with try_lock(req.out / ".locks" / f"{rid}.lock") as mine:
                if mine:
                    done[protocol] = _train(protocol, ctx, req, epochs, compute, RunDir(req.out / rid), identity,
                                            code)
                elif protocol not in told:
                    told.add(protocol)
                    print(f"{protocol.name}: another process is training it; waiting", file=sys.stderr)
        if len(done) < len(protocols):
            time.sleep(LOCK_POLL_SECONDS)
    return done


def _train(protocol: Protocol, ctx: AuditContext, req: AuditRequest, epochs: int, compute: ComputeSetup,
           rd: RunDir, identity: dict[str, Any], code: dict[str, Any]) -> _Trained:
    """Train one protocol into its run folder (reused when complete, resumed when not) and index it."""
    name, spec = protocol.name, ctx.submission.spec
    plans = protocol_plans(ctx, protocol, req.lucky_draws)
    lucky = protocol.has("lucky-split")
    if _is_done(rd):
        print(f"{name}: complete already, kept ({rd.path})", file=sys.stderr)
        metrics = read_json(rd.metrics_json)
    else:
        print(f"{name}: training {spec.name}, {epochs} epochs at {ctx.size} px -> {rd.path}", file=sys.stderr)
        if not lucky:
            atomic_write_json(rd.path / "split.json", plans[0].split.to_json())
        doc = open_run_doc(rd, partial(_run_doc, rd.path.name, name, ctx, req, rd, plans, lucky, compute, identity,
                                       code), compute.to_json())
        try:
            if lucky:
                metrics = _run_lucky(ctx, plans, rd, doc, epochs, compute, req.progress)
            else:
                metrics = run_plan(plans[0], rd, ctx, epochs, compute, doc, req.progress)["metrics"]
        except PluginError as exc:
            _finish(rd, doc, str(exc))
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            return _Trained(rd, error=str(exc))
        _finish(rd, doc, None)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.index_run(rd.path)
    if lucky:
        return _Trained(rd, metrics, draws=(rd.read_run() or {})["protocol"]["draws"])
    return _Trained(rd, metrics, _scoring_inputs(rd, plans[0], ctx))


def audit_protocols(req: AuditRequest) -> dict[str, Any]:
    """Run each requested protocol (reusing finished ones) and write ``protocols.json`` (see module docstring).

    Returns:
        The ``protocols.json`` document: ``task``, ``metric``, ``rows`` (one per protocol, in report order, with
        value, 95% CI, ``inflation_pp`` over clean and ``paired`` difference vs clean) and the shared settings.

    Raises:
        BusbenchError: On bad input (unknown submission or protocol, task mismatch, a split file that does not
            verify, data that cannot be split), before anything trains.
    """
    cls = submission_class(req.submission, req.task)
    spec = cls.spec
    protocols = parse_protocols(req.protocols, spec.task, req.published)
    if req.lucky_draws < 1:
        raise BusbenchError("--lucky-draws", f"must be at least 1, got {req.lucky_draws}")
    submission = configured_submission(cls, req, CLASSES)  # the audit's protocols are dealt over three classes
    epochs = int(submission.hparams["epochs"])
    dataset = open_dataset(req.dataset)
    check_trainable(dataset, spec.task)
    compute = resolve_compute(req.device, req.precision, req.threads)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.check()  # a store that cannot be used is found now, not after the last protocol trained
    code = source_fingerprint(cls)
    ctx = _context(req, submission, dataset, code["sha256"])
    for protocol in protocols:  # every plan is made (and checked) before anything trains
        protocol_plans(ctx, protocol, 1)
    base = {"submission": spec.name, "task": spec.task, "hparams": submission.hparams, "image_size": ctx.size,
            "dataset": dataset.fingerprint(), "k": ctx.k, "seed": req.seed}
    metric = HEADLINE[spec.task]
    # A protocol with a scoring-only leak is scored from the run of its training protocol, trained once.
    shown = report_order([*protocols, *(p.training for p in protocols)])
    trained = _train_all([p for p in shown if not p.scoring_only], ctx, req, epochs, compute, base, code)
    rows: list[dict[str, Any]] = []
    inputs: dict[str, ScoringInputs] = {}
    for protocol in shown:
        run = trained[protocol.training]
        if run.error is not None:
            rows.append({"protocol": protocol.name, "run_dir": str(run.rd.path), "status": "failed",
                         "error": run.error})
            continue
        if protocol.scoring_only:
            if run.inputs is None:
                raise BusbenchError("--protocols", f"{protocol.name}: a lucky split's draws cannot be rescored")
            row = _empty_mask_entry(protocol.name, run.rd, run.inputs)
            inputs[protocol.name] = run.inputs
        else:
            row = _entry(protocol.name, run.rd, run.metrics, spec.task)  # type: ignore[arg-type]
            if run.draws is not None:
                row["draws"] = run.draws
            if run.inputs is not None:
                inputs[protocol.name] = run.inputs
        row["leaks"] = [leak for leak in LEAKS if protocol.has(leak)]
        rows.append(row)
    _add_comparisons(rows, inputs, metric)
    summary = {"task": spec.task, "metric": metric, "submission": spec.name, "dataset": req.dataset,
               "epochs": epochs, "image_size": ctx.size, "k": ctx.k, "seed": req.seed,
               "pretrained": bool(submission.hparams.get("pretrained")),
               "clean_split": None if req.splits is None else str(req.splits),
               "overlay_alpha": OVERLAY_ALPHA, "augmented_copies": AUGMENTED_COPIES, "lucky_draws": req.lucky_draws,
               "rows": rows}
    atomic_write_json(req.out / "protocols.json", summary)
    return summary
