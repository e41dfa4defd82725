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
from dataclasses import dataclass
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
CLASSIFICATION_STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "balanced_accuracy": cls_metrics.balanced_accuracy,
    "accuracy": cls_metrics.accuracy,
    "macro_f1": lambda y, p: cls_metrics.precision_recall_f1(y, p).macro_f1,
    "auc_ovr_macro": cls_metrics.auc_ovr_macro,
    "auc_malignant": cls_metrics.auc_malignant,
    "sensitivity_malignant": cls_metrics.sensitivity_malignant,
    "specificity_malignant": cls_metrics.specificity_malignant,
}
SEGMENTATION_STATISTICS: dict[str, Callable[[seg_metrics.MaskCounts], float]] = {
    "dice": lambda c: seg_metrics.lesion_dice_iou(c)[0],
    "iou": lambda c: seg_metrics.lesion_dice_iou(c)[1],
    "pooled_dice": lambda c: seg_metrics.pooled_dice_iou(c)[0],
    "empty_reference_false_positive_rate": seg_metrics.empty_reference_false_positive_rate,
}
#: Statistics not in ``metrics.json``'s intervals, for readers that bootstrap them (the audit's empty-mask reading).
PAPER_STATISTICS: dict[str, Callable[[seg_metrics.MaskCounts], float]] = {
    "paper_dice": lambda c: seg_metrics.paper_dice_iou(c)[0],
    "paper_iou": lambda c: seg_metrics.paper_dice_iou(c)[1],
}
_FOLD_KEYS = {
    "classification": ("balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant"),
    "segmentation": ("dice", "iou", "pooled_dice", "empty_reference_false_positive_rate"),
}


def resampling_groups(split: SplitFile, case_ids: Sequence[str]) -> tuple[list[str], str]:
    """The bootstrap unit of every case: its group (examination, duplicate cluster, patient, or both united).

    Image-level splits group nothing, so their cases fall back to their duplicate cluster.
    """
    group = split.generator.get("group")
    if group in (None, "none"):
        return [split.cases[c].cluster for c in case_ids], "duplicate cluster"
    unit = {"patient": "patient", "examination": "examination",
            "patient+duplicates": "patient (united with its near-duplicates)"}.get(str(group), "duplicate cluster")
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


@dataclass(frozen=True)
class ScoringInputs:
    """Predictions lined up with the ground truth, in split order, ready for any metric on any resample.

    Attributes:
        task: ``"classification"`` or ``"segmentation"``.
        ids: Case ids, test cases of the scored folds in fold order.
        groups: Bootstrap unit of each case (duplicate cluster or patient).
        unit: Name of that unit.
        fold_of: Fold of each case.
        y: True class indices (classification).
        probs: Predicted probabilities (N, C), one column per class of the split (classification).
        counts: Per-image mask counts (segmentation).
    """

    task: str
    ids: list[str]
    groups: list[str]
    unit: str
    fold_of: np.ndarray
    y: np.ndarray | None = None
    probs: np.ndarray | None = None
    counts: seg_metrics.MaskCounts | None = None

    def statistic(self, name: str) -> Callable[[np.ndarray], float]:
        """The metric ``name`` as a function of case indices (for bootstraps and per-fold figures)."""
        if self.task == "classification":
            f = CLASSIFICATION_STATISTICS[name]
            return lambda idx: f(self.y[idx], self.probs[idx])  # type: ignore[index]
        g = SEGMENTATION_STATISTICS.get(name) or PAPER_STATISTICS[name]
        return lambda idx: g(self.counts.take(idx))  # type: ignore[union-attr]

    def report(self, idx: np.ndarray | None = None) -> dict[str, Any]:
        """The full metrics report on all cases, or on the cases ``idx``."""
        if self.task == "classification":
            y, p = (self.y, self.probs) if idx is None else (self.y[idx], self.probs[idx])  # type: ignore[index]
            return cls_metrics.classification_report(y, p)
        counts = self.counts if idx is None else self.counts.take(idx)  # type: ignore[union-attr]
        return seg_metrics.report_from_counts(counts)  # type: ignore[arg-type]


def prepare(task: str, split: SplitFile, dataset: Dataset, predictions: dict[str, tuple[int, Any]], *,
            folds: Sequence[int], where: str = "predictions") -> ScoringInputs:
    """Check coverage and line predictions up with the ground truth (see :func:`score_predictions`)."""
    if task not in HEADLINE:
        raise BusbenchError("--task", f"unknown task {task!r}")
    ids = check_coverage(split, predictions, folds, where)
    groups, unit = resampling_groups(split, ids)
    fold_of = np.array([predictions[c][0] for c in ids])
    try:
        if task == "classification":
            y = np.array([split.classes.index(dataset.case(c).label) for c in ids])
            probs = np.stack([np.asarray(predictions[c][1], dtype=float) for c in ids])
            cls_metrics.check_inputs(y, probs)
            return ScoringInputs(task, ids, groups, unit, fold_of, y=y, probs=probs)
        refs = [dataset.decode(dataset.case(c))[1] for c in ids]
        counts = seg_metrics.mask_counts(refs, [np.asarray(predictions[c][1], dtype=bool) for c in ids])
    except ValueError as exc:
        raise BusbenchError(where, str(exc)) from exc
    return ScoringInputs(task, ids, groups, unit, fold_of, counts=counts)


def score_predictions(task: str, split: SplitFile, dataset: Dataset, predictions: dict[str, tuple[int, Any]], *,
                      folds: Sequence[int], where: str = "predictions") -> dict[str, Any]:
    """Score predictions of the given folds of a split.

    Args:
        task: ``"classification"`` (values: probability rows, one per class of the split: normal, benign,
            malignant, or benign, malignant) or ``"segmentation"`` (values: boolean masks at each image's original
            size).
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
    inputs = prepare(task, split, dataset, predictions, folds=folds, where=where)
    n = len(inputs.ids)
    pooled = inputs.report()
    per_fold_reports = [inputs.report(np.flatnonzero(inputs.fold_of == k)) for k in folds]
    names = CLASSIFICATION_STATISTICS if task == "classification" else SEGMENTATION_STATISTICS
    ci = {name: bootstrap_ci(inputs.statistic(name), n, inputs.groups, n_boot=N_BOOT, seed=0).to_dict()
          for name in names}
    convention = (seg_metrics.SEGMENTATION_CONVENTION if task == "segmentation"
                  else f"{len(split.classes)} classes {'/'.join(split.classes)}, prediction = argmax of the "
                       "probabilities")
    metric = HEADLINE[task]
    per_fold = [{"fold": k, "n_cases": int((inputs.fold_of == k).sum()), **{m: r.get(m) for m in _FOLD_KEYS[task]},
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
        "n_cases": n,
        "bootstrap": {"n_boot": N_BOOT, "unit": inputs.unit, "n_groups": len(set(inputs.groups)), "level": 0.95,
                      "seed": 0},
    }


def constant_prediction(metrics: dict[str, Any]) -> str | None:
    """What a run predicted for every case, when it predicted the same thing for all of them; else ``None``.

    A from-scratch network that never left its starting point predicts one class for every case (classification:
    its accuracy is that class's share, 56% on BUSI for benign, and its balanced accuracy exactly 1/3 with a
    zero-width interval) or an empty mask for every image (segmentation: Dice 0, and yet a paper-compatible Dice of
    17% from the normal images). Reports flag it so that such a number is not read as a trained model's. Read from
    the pooled figures of a ``metrics.json`` document: the per-class ``predicted`` counts, or
    ``n_empty_predictions`` against ``n_images``.

    Args:
        metrics: A ``metrics.json`` document (any task).

    Returns:
        The class name, ``"an empty mask"``, or ``None`` for a run whose predictions vary and for a document
        without those figures (segmentation runs scored before ``n_empty_predictions`` was recorded).
    """
    pooled = metrics.get("pooled") if isinstance(metrics.get("pooled"), dict) else {}
    empty, images = pooled.get("n_empty_predictions"), pooled.get("n_images")
    if _is_count(empty) and _is_count(images):
        return "an empty mask" if empty == images > 0 else None
    per_class = pooled.get("per_class") if isinstance(pooled.get("per_class"), dict) else {}
    counts = {name: row.get("predicted") for name, row in per_class.items() if isinstance(row, dict)}
    if not counts or not all(_is_count(n) for n in counts.values()):
        return None
    predicted = [name for name, n in counts.items() if n > 0]
    return predicted[0] if len(predicted) == 1 else None


def collapse_note(metrics: dict[str, Any]) -> str:
    """``"; predicts benign for every case"`` for a collapsed run (:func:`constant_prediction`), else ``""``."""
    only = constant_prediction(metrics)
    return f"; predicts {only} for every case" if only else ""


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
