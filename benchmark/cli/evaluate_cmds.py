"""``busbench evaluate``: score predictions made outside busbench exactly as a trained run is scored."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.cli.models_cmds import _folds
from benchmark.evaluation.predictions import (
    SEGMENTATION_CSV,
    TASKS,
    EvaluateRequest,
    evaluate_predictions,
    headline_text,
)

_DESCRIPTION = f"""\
Score predictions made by your own pipeline on the test folds of a split; the ground truth comes from the dataset.

Classification: PREDICTIONS is a CSV file with the header case_id,fold,prob_normal,prob_benign,prob_malignant,
one row per test case (fold = the split fold it is a test case of; probabilities in [0, 1] summing to 1).

Segmentation: PREDICTIONS is a folder with one binary PNG mask <case_id>.png per test case, at the image's original
size, and a {SEGMENTATION_CSV} with the header case_id,fold.

The result is a run folder <out>/<name>-<hash>/ (kind "predictions"), indexed in the results store like a trained
run. Evaluating the same predictions again finds the same folder and keeps it as it is.
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    ev = commands.add_parser("evaluate", help="score predictions made outside busbench (CSV or folder of masks)",
                             description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("predictions", type=Path, help="classification CSV file, or segmentation folder of PNG masks")
    ev.add_argument("--dataset", required=True, help=DATASET_HELP)
    ev.add_argument("--splits", type=Path, required=True, help="split file the predictions were made on")
    ev.add_argument("--task", choices=TASKS, help="default: classification for a file, segmentation for a folder")
    ev.add_argument("--name", help="submission name shown in results (default: the file or folder name)")
    ev.add_argument("--folds", type=_folds, help="comma-separated folds to score (default: all, each required)")
    ev.add_argument("--out", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    ev.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")
    ev.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """``busbench evaluate``: exit 0 once the predictions are scored and recorded."""
    outcome = evaluate_predictions(EvaluateRequest(
        predictions=args.predictions, dataset=args.dataset, splits=args.splits, task=args.task, name=args.name,
        folds=args.folds, out=args.out, results_url=args.results,
    ))
    if outcome.reused:
        print(f"{outcome.run_dir}: these predictions were evaluated already; kept as they are", file=sys.stderr)
    print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
    print(headline_text(outcome.metrics))
    return 0
