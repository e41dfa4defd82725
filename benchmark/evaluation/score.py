"""Score out-of-fold predictions of one split: pooled headline with cluster-bootstrap CIs, and per-fold figures.

The evaluator owns the ground truth: labels and masks come from the verified dataset, never from the submission.
Predictions are keyed by case id, each with the fold it was predicted in; every test case of the scored folds must
be predicted exactly once, in its own fold.

Headlines: balanced accuracy for classification (robust to BUSI's 56% benign majority; accuracy, macro F1 and the
AUCs are reported beside it) and lesion Dice for segmentation (``benchmark.metrics.segmentation`` convention).
Confidence intervals resample the split's groups (duplicate clusters, or patients) rather than images, because
near-duplicate images are not independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError, list_some
from benchmark.metrics import classification as cls_metrics
from benchmark.metrics import segmentation as seg_metrics
from benchmark.metrics.uncertainty import bootstrap_ci, fold_summary
from benchmark.splits.schema import SplitFile

N_BOOT = 2000
HEADLINE = {"classification": "balanced_accuracy", "segmentation": "dice"}
_CLASS_CI: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "balanced_accuracy": cls_metrics.balanced_accuracy,
    "accuracy": cls_metrics.accuracy,
    "macro_f1": lambda y, p: cls_metrics.precision_recall_f1(y, p).macro_f1,
    "auc_ovr_macro": cls_metrics.auc_ovr_macro,
    "auc_malignant": cls_metrics.auc_malignant,
    "sensitivity_malignant": cls_metrics.sensitivity_malignant,
    "specificity_malignant": cls_metrics.specificity_malignant,
}
_SEG_CI: dict[str, Callable[[seg_metrics.MaskCounts], float]] = {
    "dice": lambda c: seg_metrics.lesion_dice_iou(c)[0],
    "iou": lambda c: seg_metrics.lesion_dice_iou(c)[1],
    "pooled_dice": lambda c: seg_metrics.pooled_dice_iou(c)[0],
    "empty_reference_false_positive_rate": seg_metrics.empty_reference_false_positive_rate,
}
_FOLD_KEYS = {
    "classification": ("balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant"),
    "segmentation": ("dice", "iou", "pooled_dice", "empty_reference_false_positive_rate"),
}


def resampling_groups(split: SplitFile, case_ids: Sequence[str]) -> tuple[list[str], str]:
    """The bootstrap unit of every case: its group (cluster or patient).

    Image-level splits group nothing, so their cases fall back to their duplicate cluster.
    """
    if split.generator.get("group") in (None, "none"):
        return [split.cases[c].cluster for c in case_ids], "duplicate cluster"
    unit = "patient" if split.generator.get("group") == "patient" else "duplicate cluster"
    return [split.cases[c].group for c in case_ids], unit


def check_coverage(split: SplitFile, predictions: dict[str, tuple[int, Any]], folds: Sequence[int],
                   where: str) -> list[str]:
    """Check that the predictions are exactly the test cases of ``folds``, each in its own fold; return the ids.

    Raises:
        BusbenchError: Naming missing, extra and wrong-fold cases.
    """
    expected = {c: k for k in folds for c in split.folds[k].test}
    missing = sorted(set(expected) - set(predictions))
    extra = sorted(set(predictions) - set(expected))
    wrong = sorted(c for c, (k, _) in predictions.items() if c in expected and expected[c] != k)
    if missing:
        raise BusbenchError(where, f"{len(missing)} test case(s) have no prediction: {list_some(missing)}")
    if extra:
        raise BusbenchError(where, f"{len(extra)} prediction(s) for cases that are not test cases of the scored "
                                   f"folds: {list_some(extra)}")
    if wrong:
        raise BusbenchError(where, f"{len(wrong)} case(s) predicted in another fold than the one they are a test "
                                   f"case of: {list_some(wrong)}")
    return [c for k in folds for c in split.folds[k].test]


def _ci_block(statistics: dict[str, Callable[[np.ndarray], float]], n: int, groups: list[str]) -> dict[str, Any]:
    return {name: bootstrap_ci(stat, n, groups, n_boot=N_BOOT, seed=0).to_dict() for name, stat in statistics.items()}


def score_predictions(task: str, split: SplitFile, dataset: Dataset, predictions: dict[str, tuple[int, Any]], *,
                      folds: Sequence[int], where: str = "predictions") -> dict[str, Any]:
    """Score predictions of the given folds of a split.

    Args:
        task: ``"classification"`` (values: probability rows of 3) or ``"segmentation"`` (values: boolean masks at
            each image's original size).
        split: The verified split.
        dataset: The data it was verified against (the ground truth).
        predictions: case id -> (fold, value).
        folds: The folds being scored (all of them for a complete run).
        where: How to name the predictions in error messages.

    Returns:
        The ``metrics.json`` document: ``headline`` {metric, value, ci_low, ci_high}, ``pooled`` (full report on
        the pooled out-of-fold predictions), ``ci`` (per metric), ``per_fold``, ``fold_summary``, and what was
        scored how.
    """
    ids = check_coverage(split, predictions, folds, where)
    groups, unit = resampling_groups(split, ids)
    fold_of = np.array([predictions[c][0] for c in ids])
    if task == "classification":
        y = np.array([dataset.classes.index(dataset.case(c).label) for c in ids])
        probs = np.stack([np.asarray(predictions[c][1], dtype=float) for c in ids])
        try:
            pooled = cls_metrics.classification_report(y, probs)
        except ValueError as exc:
            raise BusbenchError(where, str(exc)) from exc
        per_fold_reports = [cls_metrics.classification_report(y[fold_of == k], probs[fold_of == k]) for k in folds]
        ci = _ci_block({n: (lambda idx, f=f: f(y[idx], probs[idx])) for n, f in _CLASS_CI.items()}, len(ids), groups)
        convention = "3 classes normal/benign/malignant, prediction = argmax of the probabilities"
    elif task == "segmentation":
        refs = [dataset.decode(dataset.case(c))[1] for c in ids]
        try:
            counts = seg_metrics.mask_counts(refs, [np.asarray(predictions[c][1], dtype=bool) for c in ids])
        except ValueError as exc:
            raise BusbenchError(where, str(exc)) from exc
        pooled = seg_metrics.report_from_counts(counts)
        per_fold_reports = [seg_metrics.report_from_counts(counts.take(np.flatnonzero(fold_of == k))) for k in folds]
        ci = _ci_block({n: (lambda idx, f=f: f(counts.take(idx))) for n, f in _SEG_CI.items()}, len(ids), groups)
        convention = seg_metrics.SEGMENTATION_CONVENTION
    else:
        raise BusbenchError("--task", f"unknown task {task!r}")
    metric = HEADLINE[task]
    per_fold = [{"fold": k, "n_cases": int((fold_of == k).sum()), **{m: r.get(m) for m in _FOLD_KEYS[task]},
                 "undefined": r.get("undefined", {})} for k, r in zip(folds, per_fold_reports, strict=True)]
    return {
        "task": task,
        "convention": convention,
        "headline": {"metric": metric, "value": pooled[metric], "ci_low": ci[metric]["low"],
                     "ci_high": ci[metric]["high"]},
        "pooled": pooled,
        "ci": ci,
        "per_fold": per_fold,
        "fold_summary": {m: fold_summary([f[m] for f in per_fold]) for m in _FOLD_KEYS[task]},
        "folds": list(folds),
        "complete": sorted(folds) == list(range(split.k)),
        "n_cases": len(ids),
        "bootstrap": {"n_boot": N_BOOT, "unit": unit, "n_groups": len(set(groups)), "level": 0.95, "seed": 0},
    }
