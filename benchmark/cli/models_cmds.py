"""``busbench list`` and ``busbench run``: the registered models, and training one on a split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.classes import TASKS
from benchmark.cli.common import add_training_options, fold_list, print_json, show_progress, training_hparams
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.plugins import registry


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``list`` and ``run`` commands."""
    lister = commands.add_parser("list", help="registered models (submissions), optionally matching a wildcard")
    lister.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard, e.g. 'resnet*'")
    lister.add_argument("--task", choices=TASKS)
    lister.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    lister.set_defaults(run=run_list)

    run = commands.add_parser("run", help="train and evaluate a submission on every fold of a split")
    run.add_argument("submission", nargs="+", help="registered model name(s) (see 'busbench list'); several make a "
                                                   "grid with the seeds, one run each")
    run.add_argument("--task", choices=TASKS, help="check that the model is of this task")
    run.add_argument("--dataset", required=True, help=DATASET_HELP)
    run.add_argument("--splits", type=Path, required=True, help="split file (e.g. splits/busi/5fold_grouped.json)")
    run.add_argument("--folds", type=fold_list, help="comma-separated folds to run now (default: all)")
    run.add_argument("--seed", type=_seeds, default=(0,), help="run seed (default 0); comma-separated for one run each")
    add_training_options(run)
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="local: on this machine, --workers folds at a time (default); dask: one task per fold on "
                          "a Dask cluster (pip install -e '.[distributed]'; see the README, 'Many machines')")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler to use, e.g. tcp://host:8786 (default: a local cluster on 127.0.0.1)")
    run.add_argument("--workers", type=int, help="local: folds trained at once, each in its own process with CPU "
                                                 "cores / workers threads (default 1); dask: worker processes of the "
                                                 "local cluster (default: CPU cores divided by --threads)")
    run.set_defaults(run=run_run)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip()) or (0,)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a seed or comma-separated seeds, got {text!r}") from exc


def run_list(args: argparse.Namespace) -> int:
    """``busbench list``."""
    specs = registry.specs(args.pattern, args.task)  # from the catalog: no plugin is imported
    if args.json:
        print_json({"models": list(specs.values()), "load_errors": registry.load_errors()})
        return 0
    if not specs:
        print(f"no registered model matches {args.pattern!r}")
    for n, s in specs.items():
        origin = s.get("reference") or "-"
        print(f"{n:<28} {s['task']:<14} {s['input_size']:>4}px {s['in_channels']}ch  "
              f"pretrained: {s.get('pretrained') or 'none':<28} {', '.join(s.get('authors') or ()) or '-'}; {origin}")
    for where, error in registry.load_errors().items():
        print(f"failed to load {where}: {error}", file=sys.stderr)
    return 0


def run_run(args: argparse.Namespace) -> int:
    """``busbench run``: exit 0 when every fold of every run completed, 1 when a fold failed (its error is recorded)."""
    names = list(dict.fromkeys(args.submission))  # a name or seed given twice is one run, not two racing
    for name in names:  # an unknown name fails now, before the engine (torch) is imported
        registry.get(name)
    hparams = {name: training_hparams(name, args.set, args.pretrained) for name in names}
    if args.executor == "local":
        from benchmark.engine.zygote import warm_up

        warm_up()  # the plugin processes' zygote imports torch while this process imports it and opens the run
    from benchmark.engine.executors import ExecutorOptions, run_grid  # torch is imported only for commands that train
    from benchmark.engine.runner import RunRequest
    from benchmark.evaluation.evaluate import headline_text

    requests = []
    for name in names:
        requests += [RunRequest(
            submission=name, dataset=args.dataset, splits=args.splits, task=args.task, folds=args.folds,
            epochs=args.epochs, image_size=args.image_size, hparams=hparams[name], seed=seed, device=args.device,
            precision=args.precision, threads=args.threads, out=args.out, results_url=args.results,
            progress=show_progress() and args.executor == "local",
        ) for seed in dict.fromkeys(args.seed)]
    outcomes = run_grid(requests, ExecutorOptions(args.executor, args.scheduler, args.workers))
    for outcome in outcomes:
        print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
        for fold, error in sorted(outcome.failed.items()):
            print(f"fold {fold} failed: {error}", file=sys.stderr)
        if outcome.metrics is not None:
            print(headline_text(outcome.metrics, outcome.run_dir))
    return 1 if any(outcome.failed for outcome in outcomes) else 0
