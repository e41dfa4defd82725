"""Paired comparison of two runs on the same split, as ``busbench compare`` does (:mod:`benchmark.evaluation.compare`).

The same pieces, with two differences that let it work from published run folders: the split file is found beside
the run or in this checkout (:func:`leaderboard.sources.find_split`, checked by sha256), and for classification the
ground truth is the split file's recorded labels when the dataset itself is not on this machine (the split was
verified against the data when the runs were made; segmentation always needs the dataset's reference masks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import CLASSIFICATION_STATISTICS, HEADLINE, N_BOOT, SEGMENTATION_STATISTICS, prepare
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


def metrics_for(task: str) -> tuple[str, ...]:
    """The figures a paired comparison can use, headline first."""
    names = CLASSIFICATION_STATISTICS if task == "classification" else SEGMENTATION_STATISTICS
    return (HEADLINE[task], *(n for n in names if n != HEADLINE[task]))


def check_pair(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Why two store rows cannot be compared, or ``None`` when they can."""
    if a["run_id"] == b["run_id"]:
        return "pick two different runs"
    for row in (a, b):
        if row["status"] != "completed":
            return f"{row['run_id']} is {row['status']}; only completed runs are compared"
    if a["task"] != b["task"]:
        return "the runs are of different tasks"
    if a["split_sha256"] != b["split_sha256"]:
        return "the runs were made on different split files; a paired test needs the same split"
    if a["dataset_fingerprint"] != b["dataset_fingerprint"]:
        return "the runs were scored on different data"
    return None


def compare(run_a: Path, run_b: Path, task: str, split: SplitFile, truth: Dataset | RecordedLabels,
            metric: str, *, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Paired bootstrap of ``b - a`` and the Nadeau-Bengio corrected t-test over folds.

    Returns:
        ``{"metric", "a", "b", "bootstrap", "ttest"}`` as :func:`benchmark.evaluation.compare.compare_runs` does.

    Raises:
        BusbenchError: When a run's predictions do not cover its split (named by file).
    """
    if metric not in metrics_for(task):
        raise BusbenchError("metric", f"unknown {task} metric {metric!r}")
    folds = list(range(split.k))
    inputs = [prepare(task, split, truth, read_run_predictions(RunDir(r), task, split, folds),  # type: ignore[arg-type]
                      folds=folds, where=str(r)) for r in (run_a, run_b)]
    stat_a, stat_b = (i.statistic(metric) for i in inputs)
    n = len(inputs[0].ids)
    boot = paired_bootstrap(stat_a, stat_b, n, inputs[0].groups, n_boot=n_boot, seed=0)
    per_fold = [[i.statistic(metric)(np.flatnonzero(i.fold_of == k)) for k in folds] for i in inputs]
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
