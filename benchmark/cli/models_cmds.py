"""``busbench list`` and ``busbench run``: the registered models, and training one on a split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmark.cli.common import print_json, show_progress
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.errors import BusbenchError
from benchmark.plugins import registry
from benchmark.plugins.spec import TASKS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``list`` and ``run`` commands."""
    lister = commands.add_parser("list", help="registered models (submissions), optionally matching a wildcard")
    lister.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard, e.g. 'resnet*'")
    lister.add_argument("--task", choices=TASKS)
    lister.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    lister.set_defaults(run=run_list)

    run = commands.add_parser("run", help="train and evaluate a submission on every fold of a split")
    run.add_argument("submission", help="registered model name (see 'busbench list')")
    run.add_argument("--task", choices=TASKS, help="check that the model is of this task")
    run.add_argument("--dataset", required=True, help=DATASET_HELP)
    run.add_argument("--splits", type=Path, required=True, help="split file (e.g. splits/busi/5fold_grouped.json)")
    run.add_argument("--folds", type=_folds, help="comma-separated folds to run now (default: all)")
    run.add_argument("--epochs", type=int, help="override the submission's epoch budget")
    run.add_argument("--image-size", type=int, help="override the submission's input size (square, pixels)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a hyper-parameter (repeatable; VALUE is JSON or a string)")
    run.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                     help="start from pretrained weights found locally (never downloaded); default: the model's")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    run.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    run.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    run.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")
    run.set_defaults(run=run_run)


def _folds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated fold numbers, got {text!r}") from exc


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> dict; VALUE parsed as JSON when it is JSON, else kept as a string."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BusbenchError("--set", f"expected NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def run_list(args: argparse.Namespace) -> int:
    """``busbench list``."""
    names = registry.list_models(args.pattern, args.task)
    models = registry.available()
    if args.json:
        print_json({"models": [models[n].spec.to_json() for n in names], "load_errors": registry.load_errors()})
        return 0
    if not names:
        print(f"no registered model matches {args.pattern!r}")
    for n in names:
        s = models[n].spec
        origin = s.reference or "-"
        print(f"{n:<28} {s.task:<14} {s.input_size:>4}px {s.in_channels}ch  pretrained: {s.pretrained or 'none':<28}"
              f" {', '.join(s.authors) or '-'}; {origin}")
    for where, error in registry.load_errors().items():
        print(f"failed to load {where}: {error}", file=sys.stderr)
    return 0


def run_run(args: argparse.Namespace) -> int:
    """``busbench run``: exit 0 when every fold completed, 1 when a fold failed (its error is recorded)."""
    from benchmark.engine.runner import RunRequest, run_submission  # torch is imported only for commands that train
    from benchmark.evaluation.predictions import headline_text

    hparams = parse_assignments(args.set)
    if args.pretrained is not None:
        if "pretrained" in registry.get(args.submission).spec.hparams():
            hparams["pretrained"] = args.pretrained
        elif args.pretrained:
            raise BusbenchError(f"model {args.submission!r}", "has no pretrained weights; drop --pretrained")
    outcome = run_submission(RunRequest(
        submission=args.submission, dataset=args.dataset, splits=args.splits, task=args.task, folds=args.folds,
        epochs=args.epochs, image_size=args.image_size, hparams=hparams, seed=args.seed, device=args.device,
        precision=args.precision, threads=args.threads, out=args.out, results_url=args.results,
        progress=show_progress(),
    ))
    print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
    for fold, error in sorted(outcome.failed.items()):
        print(f"fold {fold} failed: {error}", file=sys.stderr)
    if outcome.metrics is not None:
        print(headline_text(outcome.metrics))
    return 1 if outcome.failed else 0
