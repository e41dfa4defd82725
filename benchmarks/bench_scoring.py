"""Scoring a committed BUSI run with every confidence interval (target: classification, 780 cases, <= 0.5 s).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scoring.py [--run RUN_ID] [--seg-run RUN_ID]
        [--repeats 5] [--generic] [--dataset PATH]

Reads a committed classification run's out-of-fold predictions (default ``small_cnn-eac1e7bc61fe``: 780 BUSI cases
in 599 duplicate clusters, 5 folds) once, then times, ``--repeats`` times each, with the median:

* **scoring**: :func:`benchmark.evaluation.score.score_predictions`, the whole ``metrics.json`` (pooled report,
  per-fold figures, and the 2,000-resample cluster bootstrap interval of each of the 7 classification metrics);
* **intervals**: those 7 intervals alone (:func:`benchmark.metrics.uncertainty.bootstrap_ci` on the evaluator's
  statistics, the resamples drawn afresh each repeat);
* **segmentation intervals**: the 6 intervals of a committed segmentation run (default ``unet_resnet18-e932453047f6``),
  from its stored per-case table (no mask is decoded, so this is the bootstrap's cost alone).

``--generic`` times the intervals through the generic path instead (each metric's scalar function called once per
resample, as busbench did before the vectorised fast path); the numbers it gives are the same. The data is found
through the run's recorded spec, or ``--dataset``. Prints the machine's core count and load average: on a loaded
machine the times are longer than on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.evaluation.predictions import read_run_predictions  # noqa: E402
from benchmark.evaluation.score import (  # noqa: E402
    BOUNDARY_STATISTICS,
    CLASSIFICATION_STATISTICS,
    N_BOOT,
    SEGMENTATION_STATISTICS,
    inputs_from_cases,
    prepare,
    score_predictions,
    stored_cases,
)
from benchmark.evaluation.stored_run import read_scored_run, run_data  # noqa: E402
from benchmark.evaluation.verify import expected_folds  # noqa: E402
from benchmark.metrics import uncertainty  # noqa: E402
from benchmark.results.rundir import RunDir  # noqa: E402

RESULTS = REPO / "leaderboard" / "results"


def times(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        uncertainty.clear_resample_cache()  # every repeat draws its resamples afresh, as one scoring does
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def intervals(inputs, names, generic: bool) -> dict[str, object]:
    """The evaluator's intervals of ``names`` (through the generic path with ``generic``)."""
    out = {}
    for name in names:
        stat = inputs.statistic(name)
        if generic:
            stat = stat.scalar
        out[name] = uncertainty.bootstrap_ci(stat, len(inputs.ids), inputs.groups, n_boot=N_BOOT, seed=0)
    return out


def show(label: str, values: list[float], rows: dict[str, object] | None = None) -> None:
    """Print the median and range of some timings (and keep them in ``rows`` under ``label`` when given)."""
    if rows is not None:
        rows[label.strip()] = {"median": statistics.median(values), "times": values}
    print(f"  {label:<34}{statistics.median(values):8.3f} s median of {len(values)}  "
          f"[{min(values):.3f}, {max(values):.3f}]", flush=True)


def main() -> int:
    """Run the benchmark; print the machine, each median and its range."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="small_cnn-eac1e7bc61fe", help="committed classification run id")
    parser.add_argument("--seg-run", default="unet_resnet18-e932453047f6", help="committed segmentation run id")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--generic", action="store_true", help="time the intervals through the generic path")
    parser.add_argument("--dataset", default=None, help="the BUSI data (default: the run's recorded spec)")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()

    os.chdir(REPO)  # runs name their split and data relative to the repository
    run_dir = RESULTS / args.run
    doc, _ = read_scored_run(run_dir)
    dataset, split = run_data(run_dir, doc, args.dataset)
    folds = expected_folds(doc, split)
    predictions = read_run_predictions(RunDir(run_dir), "classification", split, folds)
    inputs = prepare("classification", split, dataset, predictions, folds=folds)
    seg_dir = RESULTS / args.seg_run
    seg_doc, seg_metrics = read_scored_run(seg_dir)
    _, seg_split = run_data(seg_dir, seg_doc, args.dataset)
    seg_inputs = inputs_from_cases(seg_split, stored_cases(seg_metrics), folds=expected_folds(seg_doc, seg_split))

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), python "
          f"{platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load average {load}")
    print(f"{args.run}: {len(inputs.ids)} cases in {len(set(inputs.groups))} {inputs.unit}s, folds {folds}; "
          f"{args.seg_run}: {len(seg_inputs.ids)} images; {N_BOOT} resamples; "
          f"{'generic' if args.generic else 'evaluator'} path for the intervals alone")
    score_predictions("classification", split, dataset, predictions, folds=folds)  # warm-up (lazy imports)
    rows: dict[str, object] = {}
    show("scoring (score_predictions)", times(
        lambda: score_predictions("classification", split, dataset, predictions, folds=folds), args.repeats), rows)
    show("classification intervals (7)", times(
        lambda: intervals(inputs, CLASSIFICATION_STATISTICS, args.generic), args.repeats), rows)
    show("segmentation intervals (6)", times(
        lambda: intervals(seg_inputs, {**SEGMENTATION_STATISTICS, **BOUNDARY_STATISTICS}, args.generic),
        args.repeats), rows)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        doc = {"run": args.run, "seg_run": args.seg_run, "cases": len(inputs.ids), "resamples": N_BOOT,
               "path": "generic" if args.generic else "evaluator", "repeats": args.repeats, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
