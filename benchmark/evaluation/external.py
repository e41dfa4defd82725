"""Scoring an external-validation run (``busbench external``): the ensemble on the test data, and the gap.

See :mod:`benchmark.engine.external` for the protocol. Every prediction file is read through the strict readers: a
fold's ``predictions.csv`` against the training split, its ``external.csv`` against the test side (with the head's
classes as columns); the head's probabilities become the scored classes' through the split's class mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.evaluation.predictions import read_class_predictions, read_run_predictions
from benchmark.evaluation.score import HEADLINE, prepare, score_predictions
from benchmark.evaluation.version import EVALUATOR_VERSION
from benchmark.metrics.uncertainty import N_BOOT, difference_ci
from benchmark.results.rundir import EXTERNAL_PREDICTIONS, RunDir
from benchmark.splits.external import ExternalSplit


def score_external(rd: RunDir, ext: ExternalSplit, train_data: Dataset, test_data: Dataset, mode: str,
                   n_folds: int) -> dict[str, Any]:
    """The ``metrics.json`` of a completed external run.

    Args:
        rd: The run folder.
        ext: Its verified external split.
        train_data: The training data.
        test_data: The test data.
        mode: ``folds`` (internal score and gap too) or ``all``.
        n_folds: The models trained (the training split's folds, or 1).

    Returns:
        ``headline`` (the external one, with the test dataset's name), ``external`` (the ensemble's full metrics),
        ``per_model`` (each fold model's external headline), ``internal`` and ``gap`` (``None`` for ``all``),
        ``class_mapping``, ``train``, ``ensemble`` and ``duplicates_of_training`` (how many test images are also
        in the training data).
    """
    task = "classification"
    head_side, test_side = ext.test.as_split(ext.mapping.head), ext.test.as_split()
    per_model, stacked = [], []
    for k in range(n_folds):
        read = read_class_predictions(rd.fold_dir(k) / EXTERNAL_PREDICTIONS, head_side, [0])
        probs = ext.mapping.apply(np.stack([read[c][1] for c in ext.test.case_ids]))
        stacked.append(probs)
        alone = score_predictions(task, test_side, test_data, _rows(ext, probs), folds=[0],
                                  where=str(rd.fold_dir(k) / EXTERNAL_PREDICTIONS))
        per_model.append({"fold": k, "headline": alone["headline"]})
    ensemble = _rows(ext, np.mean(stacked, axis=0))
    external = score_predictions(task, test_side, test_data, ensemble, folds=[0], where=str(rd.path))
    metric = HEADLINE[task]
    doc: dict[str, Any] = {"evaluator_version": EVALUATOR_VERSION, "task": task,
                           "headline": {**external["headline"], "dataset": ext.test.dataset_name},
                           "external": external, "per_model": per_model, "class_mapping": ext.mapping.to_json(),
                           "train": mode, "ensemble": f"mean of the {n_folds} fold model(s)' probabilities",
                           "duplicates_of_training": len(ext.test.duplicates_of_training),
                           "internal": None, "gap": None}
    if mode == "folds":
        folds = list(range(n_folds))
        own = read_run_predictions(rd, task, ext.train, folds)  # read once: scored, then bootstrapped for the gap
        internal = score_predictions(task, ext.train, train_data, own, folds=folds)
        a = prepare(task, ext.train, train_data, own, folds=folds)
        b = prepare(task, test_side, test_data, ensemble, folds=[0])
        ci = difference_ci(a.statistic(metric), len(a.ids), a.groups, b.statistic(metric), len(b.ids), b.groups,
                           n_boot=N_BOOT, seed=0)
        doc["internal"] = internal
        doc["gap"] = {"metric": metric, "internal": internal["headline"]["value"],
                      "external": external["headline"]["value"], "value": ci.estimate, "ci_low": ci.low,
                      "ci_high": ci.high, "method": ci.method, "reason": ci.reason,
                      "definition": f"{ext.train.dataset_name} cross-validated {metric} minus "
                                    f"{ext.test.dataset_name} {metric}"}
    return doc


def _rows(ext: ExternalSplit, probs: np.ndarray) -> dict[str, tuple[int, np.ndarray]]:
    return {cid: (0, p) for cid, p in zip(ext.test.case_ids, probs, strict=True)}
