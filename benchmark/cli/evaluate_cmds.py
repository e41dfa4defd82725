"""``busbench evaluate`` (score predictions made outside busbench as a trained run is scored) and ``compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.classes import TASKS
from benchmark.cli.common import fold_list, print_json
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.evaluation.formats import SEGMENTATION_CSV

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
    ev.add_argument("--folds", type=fold_list, help="comma-separated folds to score (default: all, each required)")
    ev.add_argument("--out", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    ev.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")
    ev.set_defaults(run=run_evaluate)

    cmp = commands.add_parser("compare", help="paired comparison of two completed runs on the same split")
    cmp.add_argument("run_a", type=Path, help="run folder a")
    cmp.add_argument("run_b", type=Path, help="run folder b (the difference is b - a)")
    cmp.add_argument("--dataset", required=True, help=DATASET_HELP)
    cmp.add_argument("--metric", help="metric to compare (default: the task's headline)")
    cmp.add_argument("--json", action="store_true", help="print JSON")
    cmp.set_defaults(run=run_compare)


def run_evaluate(args: argparse.Namespace) -> int:
    """``busbench evaluate``: exit 0 once the predictions are scored and recorded."""
    from benchmark.evaluation.evaluate import EvaluateRequest, evaluate_predictions, headline_text

    outcome = evaluate_predictions(EvaluateRequest(
        predictions=args.predictions, dataset=args.dataset, splits=args.splits, task=args.task, name=args.name,
        folds=args.folds, out=args.out, results_url=args.results,
    ))
    if outcome.reused:
        print(f"{outcome.run_dir}: these predictions were evaluated already; kept as they are", file=sys.stderr)
    print(f"run folder: {outcome.run_dir}  status: {outcome.status}")
    print(headline_text(outcome.metrics, outcome.run_dir))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """``busbench compare``: paired difference (b - a) with its bootstrap CI and the corrected t-test."""
    from benchmark.evaluation.compare import compare_runs

    result = compare_runs(args.run_a, args.run_b, args.dataset, args.metric)
    if args.json:
        print_json(result)
        return 0
    boot, ttest = result["bootstrap"], result["ttest"]
    print(f"{result['metric']}: a {result['a']['value']:.4f} ({result['a']['run_id']}), "
          f"b {result['b']['value']:.4f} ({result['b']['run_id']})")
    if boot["low"] is None:
        print(f"paired bootstrap: undefined ({boot['reason']})")
    else:
        print(f"b - a = {boot['difference']:+.4f} (95% CI {boot['low']:+.4f} to {boot['high']:+.4f}, "
              f"paired cluster bootstrap p = {boot['p_value']:.4f})")
    if "undefined" in ttest:
        print(f"corrected resampled t-test: undefined ({ttest['undefined']})")
    else:
        print(f"corrected resampled t-test across {ttest['k']} folds: t = {ttest['t']:.3f}, df = {ttest['df']}, "
              f"p = {ttest['p_value']:.4f}")
    return 0
