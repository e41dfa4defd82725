"""Paired comparison of two runs on the same split, as ``busbench compare`` does (:mod:`benchmark.evaluation.compare`).

The same computation (:func:`~benchmark.evaluation.compare.paired_comparison`), with two differences in its inputs
that let it work from published run folders: the split file is found beside the run or in this checkout
(:func:`leaderboard.sources.find_split`, checked by sha256), and for classification the ground truth is the split
file's recorded labels when the dataset itself is not on this machine (the split was verified against the data when
the runs were made; segmentation always needs the dataset's reference masks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.compare import RecordedLabels, paired_comparison
from benchmark.evaluation.score import CLASSIFICATION_STATISTICS, HEADLINE, N_BOOT, SEGMENTATION_STATISTICS
from benchmark.splits.schema import SplitFile


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
        ``{"metric", "a", "b", "bootstrap", "ttest", "unit", "n_cases"}`` from
        :func:`benchmark.evaluation.compare.paired_comparison`, as ``busbench compare`` computes them.

    Raises:
        BusbenchError: When a run's predictions do not cover its split (named by file).
    """
    if metric not in metrics_for(task):
        raise BusbenchError("metric", f"unknown {task} metric {metric!r}")
    return paired_comparison(run_a, run_b, task, split, truth, metric, n_boot=n_boot)  # type: ignore[arg-type]
