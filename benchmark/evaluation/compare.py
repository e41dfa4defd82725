"""Paired comparison of two runs on the same split and data: the difference of a metric, b minus a.

Two complementary tests (see ``benchmark.metrics.paired``): a paired cluster bootstrap of the pooled out-of-fold
difference (both runs scored on the same resamples of duplicate clusters or patients), and the Nadeau & Bengio
corrected resampled t-test across folds, which accounts for the overlap of training sets between folds.

A segmentation run whose ``metrics.json`` keeps its per-case table (``"cases"``, written at scoring time; see
:mod:`benchmark.evaluation.score`) is read from that table: its pixel counts give every count-based figure exactly as
the masks do, so no mask is decoded. A run scored before busbench kept the table is read from its masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import (
    BOUNDARY_STATISTICS,
    CLASSIFICATION_STATISTICS,
    HEADLINE,
    N_BOOT,
    SEGMENTATION_STATISTICS,
    ScoringInputs,
    inputs_from_cases,
    prepare,
    stored_cases,
)
from benchmark.evaluation.stored_run import run_data
from benchmark.fileio import read_json
from benchmark.metrics.paired import corrected_resampled_ttest, paired_bootstrap
from benchmark.metrics.undefined import MetricUndefinedError
from benchmark.results.rundir import RunDir
from benchmark.splits.schema import SplitFile


class RecordedLabels:
    """The part of a :class:`~benchmark.data.dataset.Dataset` that classification scoring reads, from a split file."""

    def __init__(self, split: SplitFile):
        self.classes = tuple(split.classes)
        self._cases = split.cases

    def case(self, case_id: str) -> Any:
        """The split's record of a case (it has the ``label`` scoring needs)."""
        return self._cases[case_id]


def _finished(run_dir: Path) -> dict[str, Any]:
    doc = RunDir(run_dir).read_run()
    if doc is None:
        raise BusbenchError(run_dir, "is not a run folder (no run.json)")
    if doc.get("status") != "completed":
        raise BusbenchError(run_dir, f"run is {doc.get('status')}; only completed runs can be compared")
    return doc


def compare_runs(run_a: Path, run_b: Path, dataset_spec: str, metric: str | None = None) -> dict[str, Any]:
    """Compare two completed runs of one task on one split (difference = b - a).

    Args:
        run_a: First run folder.
        run_b: Second run folder.
        dataset_spec: The data both were scored on (their ground truth; verified against the split).
        metric: Metric to compare (default: the task's headline).

    Returns:
        ``{"metric", "a", "b", "bootstrap": PairedComparison dict, "ttest": corrected t-test dict, ...}``.

    Raises:
        BusbenchError: If the runs differ in task, split file or data, or the metric is unknown.
    """
    doc_a, doc_b = _finished(run_a), _finished(run_b)
    if doc_a["task"] != doc_b["task"]:
        raise BusbenchError(run_b, f"is a {doc_b['task']} run; {run_a} is a {doc_a['task']} run")
    if doc_a["split"]["sha256"] != doc_b["split"]["sha256"]:
        raise BusbenchError(run_b, f"was made on another split file than {run_a}; paired tests need the same split")
    if doc_a["dataset"]["fingerprint"] != doc_b["dataset"]["fingerprint"]:
        raise BusbenchError(run_b, f"was scored on other data than {run_a}")
    task = doc_a["task"]
    metric = metric or HEADLINE[task]
    known = (CLASSIFICATION_STATISTICS if task == "classification"
             else {**SEGMENTATION_STATISTICS, **BOUNDARY_STATISTICS})
    if metric not in known:
        raise BusbenchError("--metric", f"unknown {task} metric {metric!r} (expected one of {', '.join(known)})")
    dataset, split = run_data(run_a, doc_a, dataset_spec)
    result = paired_comparison(run_a, run_b, task, split, dataset, metric)
    return {
        "metric": metric,
        "a": {"run": str(run_a), "run_id": doc_a["run_id"], **result["a"]},
        "b": {"run": str(run_b), "run_id": doc_b["run_id"], **result["b"]},
        "bootstrap": result["bootstrap"],
        "ttest": result["ttest"],
        "split": doc_a["split"]["path"],
    }


def run_inputs(run_dir: Path, task: str, split: SplitFile, truth: Dataset, folds: list[int], *,
               boundary: bool = False) -> ScoringInputs:
    """A run's predictions lined up with the ground truth, from its stored case table when it keeps one.

    Args:
        run_dir: The run folder.
        task: Its task.
        split: The split it was made on.
        truth: The ground truth (read only where the run has no case table).
        folds: The folds to line up.
        boundary: Whether the boundary figures are needed (computed from the masks for a run without a table).

    Raises:
        BusbenchError: When the predictions (or the case table) do not cover the split (named by file).
    """
    if task == "segmentation":
        path = RunDir(run_dir).metrics_json
        try:
            table = stored_cases(read_json(path))
        except BusbenchError:
            table = None
        if table is not None:
            return inputs_from_cases(split, table, folds=folds, where=str(path))
    return prepare(task, split, truth, read_run_predictions(RunDir(run_dir), task, split, folds), folds=folds,
                   where=str(run_dir), boundary=boundary and task == "segmentation")


def paired_comparison(run_a: Path, run_b: Path, task: str, split: SplitFile, truth: Dataset, metric: str, *,
                      n_boot: int = N_BOOT) -> dict[str, Any]:
    """Paired bootstrap of ``b - a`` and the corrected t-test over folds, for two runs already checked to match.

    Args:
        run_a: First run folder.
        run_b: Second run folder.
        task: The runs' task.
        split: The split file both runs were made on (however the caller found it).
        truth: The ground truth: the dataset, or anything with its ``classes`` and ``case(id).label`` for
            classification (the leaderboard's labels recorded in a split file).
        metric: A metric of ``task`` (checked by the caller).
        n_boot: Bootstrap resamples.

    Returns:
        ``{"metric", "a": {"value", "per_fold"}, "b": {...}, "bootstrap", "ttest", "unit", "n_cases"}``; ``ttest``
        is ``{"undefined": reason}`` where the test cannot be computed.

    Raises:
        BusbenchError: When a run's predictions do not cover its split (named by file).
    """
    folds = list(range(split.k))
    inputs = [run_inputs(r, task, split, truth, folds, boundary=metric in BOUNDARY_STATISTICS)
              for r in (run_a, run_b)]
    stat_a, stat_b = (i.statistic(metric) for i in inputs)
    n = len(inputs[0].ids)
    boot = paired_bootstrap(stat_a, stat_b, n, inputs[0].groups, n_boot=n_boot, seed=0)
    # a float each: the statistics of ScoringInputs raise where undefined, never return None
    per_fold = [[cast(float, i.statistic(metric)(np.flatnonzero(i.fold_of == k))) for k in folds] for i in inputs]
    n_test = float(np.mean([len(f.test) for f in split.folds]))
    try:
        ttest: dict[str, Any] = dict(corrected_resampled_ttest(per_fold[0], per_fold[1], n - n_test, n_test))
    except (MetricUndefinedError, ValueError) as exc:
        ttest = {"undefined": getattr(exc, "reason", str(exc))}
    return {
        "metric": metric,
        "a": {"value": stat_a(np.arange(n)), "per_fold": per_fold[0]},
        "b": {"value": stat_b(np.arange(n)), "per_fold": per_fold[1]},
        "bootstrap": boot.to_dict(),
        "ttest": ttest,
        "unit": inputs[0].unit,
        "n_cases": n,
    }
