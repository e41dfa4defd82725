"""``busbench external``: train on one dataset, score on another (external validation), from one command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.common import add_training_options, fold_list, show_progress, training_hparams
from benchmark.cli.data_cmds import DATASET_HELP


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``external`` command."""
    ext = commands.add_parser("external", help="train on one dataset (its split's folds) and score every case of "
                                               "another, with the generalisation gap")
    ext.add_argument("submission", help="registered classification model (see 'busbench list')")
    ext.add_argument("--dataset", required=True, help=f"the training data. {DATASET_HELP}")
    ext.add_argument("--test-dataset", required=True, help="the data every model predicts")
    ext.add_argument("--splits", type=Path, required=True,
                     help="external split file ('busbench splits external' makes one)")
    ext.add_argument("--train", choices=("folds", "all"), default="folds",
                     help="folds: one model per fold of the training split, their ensemble scored on the test data "
                          "and the gap to the cross-validated score (default); all: one model on the training data "
                          "but fold 0's validation part")
    ext.add_argument("--folds", type=fold_list, help="comma-separated folds to train now (default: all)")
    ext.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    add_training_options(ext)
    ext.set_defaults(run=run_external_cmd)


def run_external_cmd(args: argparse.Namespace) -> int:
    """``busbench external``: exit 0 when every fold completed and was scored, 1 when a fold failed."""
    from benchmark.engine.external import ExternalRequest, run_external  # torch only for commands that train
    from benchmark.evaluation.evaluate import headline_text
    from benchmark.evaluation.training import trained_text
    from benchmark.results.rundir import RunDir

    outcome = run_external(ExternalRequest(
        submission=args.submission, dataset=args.dataset, test_dataset=args.test_dataset, splits=args.splits,
        train=args.train, folds=args.folds, epochs=args.epochs, image_size=args.image_size,
        hparams=training_hparams(args.submission, args.set, args.pretrained), seed=args.seed, device=args.device,
        precision=args.precision, threads=args.threads, out=args.out, results_url=args.results,
        progress=show_progress()))
    print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
    for fold, error in sorted(outcome.failed.items()):
        print(f"fold {fold} failed: {error}", file=sys.stderr)
    if outcome.metrics is not None:
        print(external_text(outcome.metrics))
        internal = outcome.metrics.get("internal")
        if internal is not None:
            print(f"cross-validated on the training data: {headline_text(internal)}")
        run = RunDir(outcome.run_dir).read_run() or {}
        print(f"trained: {trained_text(run, outcome.metrics.get('internal'), outcome.run_dir)}")
    return 1 if outcome.failed else 0


def external_text(metrics: dict) -> str:
    """The external headline and the gap, in two lines."""
    h = metrics["headline"]
    lines = [f"external {h['metric']} on {h['dataset']}: {h['value']:.3f} [{_num(h['ci_low'])}, "
             f"{_num(h['ci_high'])}] ({metrics['ensemble']}; class mapping {metrics['class_mapping']['rule']})"]
    copies = metrics.get("duplicates_of_training") or 0
    if copies:
        lines.append(f"warning: {copies} test image(s) are also in the training data, exactly or nearly (see "
                     "'busbench splits verify'); the models may have trained on them")
    gap = metrics.get("gap")
    if gap is not None:
        lines.append(f"gap ({gap['definition']}): {gap['value']:+.3f} [{_signed(gap['ci_low'])}, "
                     f"{_signed(gap['ci_high'])}]")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
