"""Re-scoring a finished run on its leaking and its clean test cases (``busbench audit rescore RUN``).

A case "leaks" when, in the fold it was predicted in, its duplicate cluster (detected now, in the run's data) or its
patient has a member among that fold's train and val cases. Each subset gets the task's headline metric with a 95%
cluster-bootstrap interval, resampling the split's groups as the run's own scoring does; the difference (leaking
minus clean) is bootstrapped on the same resamples of all scored cases, so its interval accounts for both subsets
being drawn together. Works for trained and predictions-only runs alike (both keep ``fold-<k>/predictions.csv`` or
``fold-<k>/masks.npz`` and a ``metrics.json`` naming the scored folds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.audit.leakage import fold_leakage
from benchmark.data.duplicates import find_duplicates
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import HEADLINE, N_BOOT, ScoringInputs, prepare
from benchmark.evaluation.stored_run import read_scored_run, run_data
from benchmark.metrics.uncertainty import bootstrap_ci
from benchmark.metrics.undefined import MetricUndefinedError
from benchmark.results.rundir import RunDir
from benchmark.splits.show import patient_keys


def _subset_statistic(inputs: ScoringInputs, metric: str, subset: np.ndarray):
    stat = inputs.statistic(metric)

    def f(idx: np.ndarray) -> float | None:
        if idx.size == 0:
            raise MetricUndefinedError(metric, "no case in this subset")
        return stat(subset[idx])

    return f


def _difference_statistic(inputs: ScoringInputs, metric: str, leaks: np.ndarray):
    stat = inputs.statistic(metric)

    def f(idx: np.ndarray) -> float | None:
        inside, outside = idx[leaks[idx]], idx[~leaks[idx]]
        if inside.size == 0 or outside.size == 0:
            raise MetricUndefinedError(metric, "a subset is empty in this resample")
        inside_value, outside_value = stat(inside), stat(outside)
        if inside_value is None or outside_value is None:  # (not reached: these statistics raise where undefined)
            return None
        return inside_value - outside_value

    return f


def rescore_run(run_dir: Path, dataset_spec: str | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Headline metric of a run on its leaking and its clean test cases, with intervals and their difference.

    Args:
        run_dir: A finished run folder (trained or predictions-only).
        dataset_spec: The data the run was scored on (default: the spec recorded in ``run.json``).
        progress: Show progress while detecting duplicates.

    Returns:
        ``{"run", "run_id", "task", "metric", "unit", "all", "leaking", "clean", "difference", "leaking_cases"}``:
        ``all``/``leaking``/``clean`` each ``{"n_cases", "value", "ci_low", "ci_high", "reason"}``, ``difference``
        the same for leaking minus clean, ``leaking_cases`` the ids.

    Raises:
        BusbenchError: If the folder is no scored run, or the data or split do not match it.
    """
    doc, metrics = read_scored_run(run_dir)
    task = doc["task"]
    dataset, split = run_data(run_dir, doc, dataset_spec)
    folds = [int(k) for k in metrics["folds"]]
    predictions = read_run_predictions(RunDir(run_dir), task, split, folds)
    inputs = prepare(task, split, dataset, predictions, folds=folds, where=str(run_dir))
    clusters = find_duplicates(dataset, progress=progress).cluster_ids([c.case_id for c in dataset.cases])
    patients = patient_keys(dataset)
    leaking: set[str] = set()
    for k in folds:
        f = split.folds[k]
        record = fold_leakage(k, f.train, f.val, f.test, clusters, patients)
        leaking |= set(record["duplicate_partners"]) | set(record["patient_partners"] or {})
    leaks = np.array([c in leaking for c in inputs.ids], dtype=bool)
    groups = np.asarray(inputs.groups)
    metric = HEADLINE[task]

    def interval(stat, n: int, cluster_labels: np.ndarray) -> dict[str, Any]:
        if n == 0:
            return {"n_cases": 0, "value": None, "ci_low": None, "ci_high": None, "reason": "no case"}
        ci = bootstrap_ci(stat, n, cluster_labels, n_boot=N_BOOT, seed=0)
        return {"n_cases": n, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "reason": ci.reason}

    everything = np.arange(len(inputs.ids))
    subsets = {name: everything[mask] for name, mask in (("leaking", leaks), ("clean", ~leaks))}
    out: dict[str, Any] = {
        "run": str(run_dir), "run_id": doc.get("run_id"), "task": task, "metric": metric, "unit": inputs.unit,
        "all": interval(_subset_statistic(inputs, metric, everything), everything.size, groups),
    }
    for name, idx in subsets.items():
        out[name] = interval(_subset_statistic(inputs, metric, idx), idx.size, groups[idx])
    if subsets["leaking"].size and subsets["clean"].size:
        out["difference"] = interval(_difference_statistic(inputs, metric, leaks), everything.size, groups)
    else:
        out["difference"] = {"n_cases": everything.size, "value": None, "ci_low": None, "ci_high": None,
                             "reason": "one subset is empty"}
    out["leaking_cases"] = sorted(leaking & set(inputs.ids))
    return out
