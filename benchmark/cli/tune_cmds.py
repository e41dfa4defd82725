"""``busbench tune``: nested Optuna tuning (a study per outer fold on train/val, one test score per fold).

``busbench tune SUBMISSION --dataset D --splits FILE --trials N`` tunes and scores; the same command resumes a
killed tuning, and the same command started on several machines with one ``--storage postgresql://...`` shares the
work. ``busbench tune --show STUDY`` prints a study's best trials, importances and history.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.classes import TASKS
from benchmark.cli.common import fold_list, parse_assignments, print_json, show_progress
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.errors import BusbenchError
from benchmark.plugins import registry

PRUNER_CHOICES = ("median", "hyperband", "none")  # benchmark.tuning.worker.PRUNERS (not imported: keeps --help fast)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``tune`` command."""
    tune = commands.add_parser(
        "tune", help="nested Optuna tuning: per outer fold a study on train/val, then one test score",
        description="For each outer fold: an Optuna study over the submission's search space whose trials train on "
        "the fold's train part and are scored on its val part only; then the best parameters are trained once more "
        "and the fold's test part is predicted once. The outer scores are recorded as a run flagged 'tuned'. Run "
        "the same command again to resume, or on several machines with one --storage to share the trials.")
    tune.add_argument("submission", nargs="?", metavar="SUBMISSION", help="registered model name")
    tune.add_argument("--task", choices=TASKS, help="check that the model is of this task")
    tune.add_argument("--dataset", help=DATASET_HELP)
    tune.add_argument("--splits", type=Path, help="split file (e.g. splits/busi/5fold_grouped.json)")
    tune.add_argument("--trials", type=int, help="finished trials per outer fold's study, over all workers")
    tune.add_argument("--timeout", type=float, metavar="S", help="start no new trial after S seconds per study")
    tune.add_argument("--storage", metavar="URL", help="Optuna storage, any SQLAlchemy URL (default: sqlite file "
                      "OUT/tuning.sqlite); postgresql://user:password@host/db to share a study across machines")
    tune.add_argument("--study", metavar="NAME", help="study name (default: model name + a hash of the settings); "
                      "fold K's study is NAME.fold-K")
    tune.add_argument("--folds", type=fold_list, help="comma-separated outer folds to tune now (default: all)")
    tune.add_argument("--space", type=Path, metavar="FILE", help="search space as JSON (default: the model's own): "
                      '{"lr": {"kind": "float", "low": 1e-4, "high": 1e-2, "log": true}, ...}')
    tune.add_argument("--pruner", choices=PRUNER_CHOICES, default="median",
                      help="stops bad trials early on their per-epoch validation score (default median)")
    tune.add_argument("--heartbeat", type=int, default=60, metavar="S",
                      help="seconds between a trial's heartbeats; a trial silent for 2*S is failed and retried "
                           "(default 60)")
    tune.add_argument("--epochs", type=int, help="override the submission's epoch budget")
    tune.add_argument("--image-size", type=int, help="override the submission's input size (square, pixels)")
    tune.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                      help="fix a hyper-parameter outside the search space (repeatable; VALUE is JSON or a string)")
    tune.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    tune.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    tune.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    tune.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")
    tune.add_argument("--show", metavar="STUDY", help="print a study's best trials, parameter importances and "
                      "optimisation history instead of tuning (STUDY or one fold's STUDY.fold-K)")
    tune.add_argument("--json", action="store_true", help="with --show: print the report as JSON")
    tune.set_defaults(run=run_tune)


def _need(args: argparse.Namespace) -> None:
    missing = [flag for flag, value in (("SUBMISSION", args.submission), ("--dataset", args.dataset),
                                        ("--splits", args.splits), ("--trials", args.trials)) if value is None]
    if missing:
        raise BusbenchError("busbench tune", f"needs {', '.join(missing)} (or --show STUDY)")


def run_show(args: argparse.Namespace) -> int:
    """``busbench tune --show STUDY``."""
    from benchmark.tuning.show import render, show
    from benchmark.tuning.storage import default_storage_url

    reports = show(args.storage or default_storage_url(args.out), args.show)
    if args.json:
        print_json({"studies": reports})
        return 0
    print("\n\n".join(render(r) for r in reports))
    return 0


def run_tune(args: argparse.Namespace) -> int:
    """``busbench tune``: exit 0 when every fold completed, 1 when a fold failed, 2 on bad input."""
    if args.show is not None:
        return run_show(args)
    _need(args)
    # optuna and torch are imported only for commands that tune.
    from benchmark.evaluation.evaluate import headline_text
    from benchmark.tuning.nested import TuneRequest, tune_submission

    hparams = parse_assignments(args.set)
    registry.get(args.submission)  # an unknown model is reported before anything else
    outcome = tune_submission(TuneRequest(
        submission=args.submission, dataset=args.dataset, splits=args.splits, trials=args.trials, task=args.task,
        folds=args.folds, timeout=args.timeout, storage=args.storage, study=args.study, space=args.space,
        pruner=args.pruner, heartbeat=args.heartbeat, epochs=args.epochs, image_size=args.image_size,
        hparams=hparams, seed=args.seed, device=args.device, precision=args.precision, threads=args.threads,
        out=args.out, results_url=args.results, progress=show_progress(),
    ))
    print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
    for fold, error in sorted(outcome.failed.items()):
        print(f"fold {fold} failed: {error}", file=sys.stderr)
    if outcome.metrics is not None:
        print(headline_text(outcome.metrics, outcome.run_dir))
    return 1 if outcome.failed else 0
