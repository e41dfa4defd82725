"""``busbench tune``: nested tuning. Per outer fold, a study on the fold's train/val parts, then one test score.

For each outer fold ``k`` of the split:

1. an Optuna study (``<study>.fold-<k>``) over the search space; every trial trains on fold ``k``'s ``train`` part
   and is scored on its ``val`` part only (:mod:`benchmark.tuning.objective`), until the study holds the requested
   number of trials, shared by every worker running the same command (:mod:`benchmark.tuning.worker`); when it
   ends, its report (best trials, importances, history; ``busbench tune --show``) goes to ``fold-<k>/tuning.json``;
2. the best trial's parameters are trained once more on the same parts, exactly as ``busbench run`` trains a fold
   (same seeds, epoch selected on ``val``, checkpointed), and that model predicts fold ``k``'s ``test`` part, the
   first and only time any test case of the fold is read; its weights stay as ``fold-<k>/model.pt`` (for
   ``busbench explain``, as after ``busbench run``).

The outer predictions are scored as in ``busbench run`` and the run (kind ``tuned``, flagged ``tuned``) goes to the
results store with the search space, trial count, best parameters per fold and total tuning cost: the summed
duration of every trial of every fold's study, over all workers. Everything a user can get wrong is checked before
anything trains. The same command resumes: finished folds are kept, a study continues where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage

from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute
from benchmark.engine.fold import FoldData, record_fold_result, run_fold
from benchmark.engine.loop import PluginError, derived_seed
from benchmark.engine.options import (
    TrainingOptions,
    check_trainable,
    configured_submission,
    split_and_folds,
    submission_class,
)
from benchmark.engine.plugin_process import PluginProcess
from benchmark.engine.runner import RunOutcome, finish_run
from benchmark.engine.tensors import LabelledImages, images_only, labelled
from benchmark.engine.zygote import warm_up
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_json
from benchmark.plugins.spec import SearchParam
from benchmark.plugins.submission import Submission
from benchmark.results.identity import run_id, run_identity, source_fingerprint
from benchmark.results.rundir import RunDir, config_hash, file_sha256
from benchmark.results.rundoc import new_run_doc, open_run_doc, training_record
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.schema import SplitFile
from benchmark.tuning.objective import make_objective, print_trial
from benchmark.tuning.show import study_report
from benchmark.tuning.space import check_space, read_space_file, space_to_json
from benchmark.tuning.storage import close_storage, default_storage_url, open_storage, open_study, shown_url
from benchmark.tuning.worker import PRUNERS, TrialSeededTPE, finished, make_pruner, run_study

#: Each outer fold's study report (:func:`benchmark.tuning.show.study_report`), written as its study ends.
TUNING_REPORT = "tuning.json"


@dataclass(frozen=True)
class TuneRequest(TrainingOptions):
    """What ``busbench tune`` was asked to do (see ``busbench tune --help``)."""

    submission: str
    dataset: str
    splits: Path
    trials: int
    task: str | None = None
    folds: tuple[int, ...] | None = None
    timeout: float | None = None
    storage: str | None = None
    study: str | None = None
    space: Path | None = None
    pruner: str = "median"
    heartbeat: int = 60


@dataclass
class _Plan:
    """Everything checked and opened before training: what one invocation of ``busbench tune`` works through."""

    req: TuneRequest
    cls: type[Submission]
    base: dict[str, Any]
    space: dict[str, SearchParam]
    size: int
    dataset: Dataset
    split: SplitFile
    folds: list[int]
    compute: ComputeSetup
    storage: RDBStorage
    studies: dict[int, optuna.Study]
    study_name: str
    url: str
    run_dir: RunDir
    doc: dict[str, Any]
    #: The sha256 of the submission's source files (the run's identity; the plugin processes check it).
    code: str


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Best trial, trial counts and cost of a finished study.

    The cost is the time trials spent training (each trial's ``seconds``, recorded after every epoch), summed: a
    trial killed mid-way counts the epochs it trained, never the time until its heartbeat went stale.
    """
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name.lower() for t in trials]
    cost = sum(float(t.user_attrs.get("seconds", 0.0)) for t in trials)
    counts = {s: states.count(s) for s in ("complete", "pruned", "fail", "running", "waiting") if s in states}
    summary: dict[str, Any] = {"study": study.study_name, "trials": counts, "finished": sum(map(finished, trials)),
                               "seconds": round(cost, 2)}
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        best = study.best_trial
        summary.update(best_trial=best.number, best_value=best.value, best_params=best.params)
    return summary


def _check_request(req: TuneRequest) -> None:
    if req.trials < 1:
        raise BusbenchError("--trials", f"must be at least 1, not {req.trials}")
    if req.timeout is not None and req.timeout <= 0:
        raise BusbenchError("--timeout", f"must be a positive number of seconds, not {req.timeout}")
    if req.pruner not in PRUNERS:
        raise BusbenchError("--pruner", f"unknown pruner {req.pruner!r} (expected {', '.join(PRUNERS)})")
    if req.epochs is not None and req.epochs < 1:
        raise BusbenchError("--epochs", f"must be at least 1, not {req.epochs}")


def tune_submission(req: TuneRequest) -> RunOutcome:
    """Tune a submission fold by fold and score each outer fold once (see module docstring).

    Raises:
        BusbenchError: On bad input (empty or malformed search space, zero trials, an unreachable storage, a study
            that exists with another search space or split...), always before any training.
    """
    _check_request(req)
    cls = submission_class(req.submission, req.task)
    spec = cls.spec
    base = configured_submission(cls, req).hparams
    space = read_space_file(req.space) if req.space is not None else dict(spec.search_space)
    check_space(space, base, str(req.space) if req.space is not None else f"model {spec.name!r}")
    size = int(req.image_size or spec.input_size)
    dataset = open_dataset(req.dataset)
    check_trainable(dataset, spec.task)
    split, folds = split_and_folds(req.splits, dataset, req.folds, spec)
    compute = resolve_compute(req.device, req.precision, req.threads)
    code = source_fingerprint(cls)
    # A study's trials may run on several machines (other threads): its identity is the search and the code.
    identity = {"format": 2, "submission": spec.name, "task": spec.task, "search_space": space_to_json(space),
                "split_sha256": file_sha256(req.splits), "dataset_fingerprint": dataset.fingerprint(),
                "image_size": size, "hparams": base, "seed": req.seed, "code": code["sha256"]}
    study_name = req.study or f"{spec.name}-{config_hash(identity)}"
    tuned_identity = run_identity({**identity, "study": study_name, "trials": req.trials, "pruner": req.pruner},
                                  code, compute)
    rid = run_id(f"{spec.name}-tuned", tuned_identity)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.check()  # the results store is checked before anything trains, as the study storage is
    url = req.storage or default_storage_url(req.out)
    storage = open_storage(url, req.heartbeat)
    previous_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # busbench prints one line per trial itself
    try:
        # Every fold's study is opened (and its identity checked) before anything trains.
        studies = {k: open_study(storage, f"{study_name}.fold-{k}", {**identity, "outer_fold": k},
                                 TrialSeededTPE(derived_seed(req.seed, k)), make_pruner(req.pruner, base["epochs"]))
                   for k in folds}
        rd = RunDir(req.out / rid)
        doc = open_run_doc(rd, lambda: new_run_doc(
            rid, "tuned", task=spec.task, submission=spec.to_json(),
            training=training_record(base, size, req.seed, tuned=True), dataset=dataset.provenance(req.dataset),
            split=split.provenance(str(req.splits), file_sha256(req.splits)), identity=tuned_identity, code=code,
            compute=compute.to_json(), tuning=_tuning_section(req, space, study_name, url)), compute.to_json())
        plan = _Plan(req, cls, base, space, size, dataset, split, folds, compute, storage, studies, study_name, url,
                     rd, doc, code["sha256"])
        return _run_plan(plan)
    finally:
        optuna.logging.set_verbosity(previous_verbosity)
        close_storage(storage)


def _tuning_section(req: TuneRequest, space: dict[str, SearchParam], study_name: str, url: str) -> dict[str, Any]:
    """A tuned run's ``tuning`` section of ``run.json``, before any fold's study has ended."""
    return {"search_space": space_to_json(space), "trials": req.trials, "study": study_name,
            "storage": shown_url(url), "pruner": req.pruner,
            "sampler": "TPE (constant liar); trial n seeded from (seed, outer fold, n)",
            "objective": "best inner-validation score over epochs (the engine's epoch-selection score)",
            "folds": {}, "seconds": 0.0}


def _run_plan(plan: _Plan) -> RunOutcome:
    req, rd, doc = plan.req, plan.run_dir, plan.doc
    print(f"tune {rd.path.name}: {plan.cls.spec.name} on {plan.dataset.name}, {len(plan.folds)} outer fold(s), "
          f"{req.trials} trials each over {', '.join(sorted(plan.space))}; studies {plan.study_name}.fold-K in "
          f"{shown_url(plan.url)} -> {rd.path}", file=sys.stderr)
    failed: dict[int, str] = {}
    if not all(rd.fold_completed(k) for k in plan.folds):
        warm_up()  # the zygote imports torch while the first fold's data is built; none when all are done
    for k in plan.folds:
        if rd.fold_completed(k):
            print(f"fold {k}: complete already, kept", file=sys.stderr)
            continue
        fold = plan.split.folds[k]
        train = labelled(plan.dataset, fold.train, plan.size, plan.split.classes)
        val = labelled(plan.dataset, fold.val, plan.size, plan.split.classes)
        # One plugin process runs every trial of this fold's study (it starts with the first trial, if any).
        with PluginProcess(plan.cls, plan.code, plan.compute) as plugin:
            plugin.load(train, val)
            objective = make_objective(plan.cls, plan.base, plan.space, plugin, fold=k, seed=req.seed,
                                       n_trials=req.trials, progress=req.progress)
            ended = run_study(plan.studies[k], plan.storage, objective, req.trials, timeout=req.timeout,
                              on_trial=print_trial(k))
        summary = {**study_summary(plan.studies[k]), "ended": ended}
        # The study's history travels with the run folder: a published run cannot reach the study storage.
        atomic_write_json(rd.fold_dir(k) / TUNING_REPORT, study_report(plan.studies[k]))
        doc["tuning"]["folds"][str(k)] = summary
        doc["tuning"]["seconds"] = round(sum(f["seconds"] for f in doc["tuning"]["folds"].values()), 2)
        error = _final_fold(plan, k, train, val, summary)
        if error is not None:
            failed[k] = error
            print(f"fold {k}: FAILED: {error}", file=sys.stderr)
        rd.write_run(doc)
    outcome = finish_run(rd, doc, plan.split, plan.dataset, failed)
    with ResultsStore(req.results_url or default_store_url(req.out)) as store:
        store.index_run(rd.path)
    return outcome


def _final_fold(plan: _Plan, k: int, train: LabelledImages, val: LabelledImages,
                summary: dict[str, Any]) -> str | None:
    """Train the best parameters on fold ``k`` and predict its test part once; the error, or ``None``."""
    rd, fold, req = plan.run_dir, plan.split.folds[k], plan.req
    if "best_params" not in summary:
        rd.fold_dir(k).mkdir(parents=True, exist_ok=True)
        error = f"no trial of study {summary['study']} completed ({summary['trials']})"
        record_fold_result(rd, k, {"fold": k, "status": "failed", "error": error, "tuning": summary})
        return error
    hparams = {**plan.base, **summary["best_params"]}
    print(f"fold {k}: best trial {summary['best_trial']} (validation {summary['best_value']:.4f}); training its "
          f"parameters and predicting the {len(fold.test)} test cases once", file=sys.stderr)
    # The first and only read of this fold's test cases: pixels only, after the study has ended.
    def build() -> FoldData:
        return FoldData(k, train, val, "val", tuple(fold.test), images_only(plan.dataset, fold.test, plan.size))

    try:
        # A scratch checkpoint: workers sharing --out may train the same fold at once (it is one trial's cost).
        run = run_fold(plan.cls(hparams), plan.dataset, k, build, code=plan.code, epochs=int(hparams["epochs"]),
                       seed=req.seed, compute=plan.compute, rd=rd, progress=req.progress, resumable=False,
                       extra={"hparams": hparams, "best_params": summary["best_params"], "tuning": summary})
    except PluginError as exc:
        return str(exc)
    seconds = run.result["seconds"]
    # A fold's cost is its whole study plus the final training, so the store's wall time is the tuned cost; its
    # memory is the final training's (a trial trains the same model on the same data).
    plan.doc["folds"][str(k)] = {"seconds": round(summary["seconds"] + seconds, 2),
                                 "best_epoch": run.result["best_epoch"], "tuning_seconds": summary["seconds"],
                                 "retrain_seconds": round(seconds, 2), "best_params": summary["best_params"],
                                 "memory": run.result["memory"]}
    plan.doc["params"] = run.params
    return None
