"""Score out-of-fold predictions of one split: pooled headline with cluster-bootstrap CIs, and per-fold figures.

The evaluator owns the ground truth: labels and masks come from the verified dataset, never from the submission.
Predictions are keyed by case id, each with the fold it was predicted in; every test case of the scored folds must
be predicted exactly once, in its own fold.

Headlines: balanced accuracy for classification (robust to BUSI's 56% benign majority; accuracy, macro F1 and the
AUCs are reported beside it) and lesion Dice for segmentation (``benchmark.metrics.segmentation`` convention).
Confidence intervals resample the split's groups (duplicate clusters, or patients) rather than images, because
near-duplicate images are not independent evidence. Each metric is computed on all 2,000 resamples at once through its
vectorised form (:data:`CLASSIFICATION_RESAMPLED` and its siblings; see :mod:`benchmark.metrics.uncertainty`), which
gives the numbers one call of the metric per resample gives, bit for bit.

A segmentation score also reports the boundary figures of ``benchmark.metrics.boundary`` beside the headline (HD95
and NSD at 5 px, in the pooled report, the intervals and per fold), and keeps every case's scores under the
``metrics.json`` key ``"cases"`` (:data:`CASE_COLUMNS`, one list per column in split order; see :func:`case_table`),
so that readers (the leaderboard gallery, paired comparison) never decode the masks again. ``busbench results
verify`` recomputes that table with every other figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError, list_some
from benchmark.evaluation.version import EVALUATOR_VERSION
from benchmark.metrics import boundary as bnd_metrics
from benchmark.metrics import classification as cls_metrics
from benchmark.metrics import segmentation as seg_metrics
from benchmark.metrics.uncertainty import N_BOOT, Resamples, VectorisedStatistic, bootstrap_ci, fold_summary
from benchmark.splits.schema import SplitFile

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
#: Boundary statistics of a segmentation run (need :attr:`ScoringInputs.boundary`, that is the masks).
BOUNDARY_STATISTICS: dict[str, Callable[[bnd_metrics.BoundaryScores], float]] = {
    "hd95": bnd_metrics.lesion_hd95,
    "nsd": bnd_metrics.lesion_nsd,
}
#: Statistics not in ``metrics.json``'s intervals, for readers that bootstrap them (the audit's empty-mask reading).
PAPER_STATISTICS: dict[str, Callable[[seg_metrics.MaskCounts], float]] = {
    "paper_dice": lambda c: seg_metrics.paper_dice_iou(c)[0],
    "paper_iou": lambda c: seg_metrics.paper_dice_iou(c)[1],
}
#: The statistics above on every bootstrap resample at once (same values; the evaluator's fast path).
CLASSIFICATION_RESAMPLED: dict[str, Callable[[np.ndarray, np.ndarray, Resamples], np.ndarray]] = {
    "balanced_accuracy": cls_metrics.balanced_accuracy_resampled,
    "accuracy": cls_metrics.accuracy_resampled,
    "macro_f1": cls_metrics.macro_f1_resampled,
    "auc_ovr_macro": cls_metrics.auc_ovr_macro_resampled,
    "auc_malignant": cls_metrics.auc_malignant_resampled,
    "sensitivity_malignant": cls_metrics.sensitivity_malignant_resampled,
    "specificity_malignant": cls_metrics.specificity_malignant_resampled,
}
SEGMENTATION_RESAMPLED: dict[str, Callable[[seg_metrics.MaskCounts, Resamples], np.ndarray]] = {
    "dice": lambda c, r: seg_metrics.lesion_dice_iou_resampled(c, r)[0],
    "iou": lambda c, r: seg_metrics.lesion_dice_iou_resampled(c, r)[1],
    "pooled_dice": lambda c, r: seg_metrics.pooled_dice_iou_resampled(c, r)[0],
    "empty_reference_false_positive_rate": seg_metrics.empty_reference_false_positive_rate_resampled,
    "paper_dice": lambda c, r: seg_metrics.paper_dice_iou_resampled(c, r)[0],
    "paper_iou": lambda c, r: seg_metrics.paper_dice_iou_resampled(c, r)[1],
}
BOUNDARY_RESAMPLED: dict[str, Callable[[bnd_metrics.BoundaryScores, Resamples], np.ndarray]] = {
    "hd95": bnd_metrics.lesion_hd95_resampled,
    "nsd": bnd_metrics.lesion_nsd_resampled,
}
_FOLD_KEYS = {
    "classification": ("balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant"),
    "segmentation": ("dice", "iou", "pooled_dice", "empty_reference_false_positive_rate", "hd95", "nsd"),
}
#: The per-case table of a segmentation ``metrics.json`` (key ``"cases"``): pixel counts at the original size
#: (``pixels``, ``reference_pixels``, ``predicted_pixels``, ``intersection_pixels``: the case's
#: :class:`~benchmark.metrics.segmentation.MaskCounts`), Dice and IoU (``None`` where the reference is empty), HD95
#: in pixels (``None`` where either mask is empty) and NSD (1 where both masks are empty, 0 where exactly one is).
CASE_COLUMNS = ("case_id", "fold", "label", "pixels", "reference_pixels", "predicted_pixels", "intersection_pixels",
                "dice", "iou", "hd95", "nsd")


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
        boundary: Per-image HD95 and NSD (segmentation, when :func:`prepare` was asked for them).
    """

    task: str
    ids: list[str]
    groups: list[str]
    unit: str
    fold_of: np.ndarray
    y: np.ndarray | None = None
    probs: np.ndarray | None = None
    counts: seg_metrics.MaskCounts | None = None
    boundary: bnd_metrics.BoundaryScores | None = None

    def statistic(self, name: str) -> VectorisedStatistic:
        """The metric ``name`` as a function of case indices (for bootstraps and per-fold figures).

        It carries its vectorised form (:data:`CLASSIFICATION_RESAMPLED`, :data:`SEGMENTATION_RESAMPLED`,
        :data:`BOUNDARY_RESAMPLED`), so the bootstraps compute it on all resamples at once; calling it computes the
        metric on the cases at the given indices.
        """
        if self.task == "classification":
            f, fr = CLASSIFICATION_STATISTICS[name], CLASSIFICATION_RESAMPLED[name]
            return VectorisedStatistic(lambda idx: f(self.y[idx], self.probs[idx]),  # type: ignore[index]
                                       lambda rs: fr(self.y, self.probs, rs))  # type: ignore[arg-type]
        if name in BOUNDARY_STATISTICS:
            if self.boundary is None:
                raise ValueError(f"{name} needs the boundary scores (prepare(..., boundary=True))")
            h, hr = BOUNDARY_STATISTICS[name], BOUNDARY_RESAMPLED[name]
            return VectorisedStatistic(lambda idx: h(self.boundary.take(idx)),  # type: ignore[union-attr]
                                       lambda rs: hr(self.boundary, rs))  # type: ignore[arg-type]
        g = SEGMENTATION_STATISTICS.get(name) or PAPER_STATISTICS[name]
        gr = SEGMENTATION_RESAMPLED[name]
        return VectorisedStatistic(lambda idx: g(self.counts.take(idx)),  # type: ignore[union-attr]
                                   lambda rs: gr(self.counts, rs))  # type: ignore[arg-type]

    def report(self, idx: np.ndarray | None = None) -> dict[str, Any]:
        """The full metrics report on all cases, or on the cases ``idx``."""
        if self.task == "classification":
            if self.y is None or self.probs is None:
                raise TypeError("classification inputs without y and probs (see prepare)")
            y, p = (self.y, self.probs) if idx is None else (self.y[idx], self.probs[idx])
            return cls_metrics.classification_report(y, p)
        if self.counts is None:
            raise TypeError("segmentation inputs without counts (see prepare)")
        counts = self.counts if idx is None else self.counts.take(idx)
        report = seg_metrics.report_from_counts(counts)
        if self.boundary is not None:
            extra = bnd_metrics.boundary_report(self.boundary if idx is None else self.boundary.take(idx))
            undefined = {**report.pop("undefined"), **extra.pop("undefined")}
            report.update(extra, undefined=undefined)
        return report


def prepare(task: str, split: SplitFile, dataset: Dataset, predictions: dict[str, tuple[int, Any]], *,
            folds: Sequence[int], where: str = "predictions", boundary: bool = False) -> ScoringInputs:
    """Check coverage and line predictions up with the ground truth (see :func:`score_predictions`).

    ``boundary`` also computes every image's HD95 and NSD (segmentation; a few milliseconds per image).
    """
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
        refs = [dataset.decode_mask(dataset.case(c)) for c in ids]
        preds = [np.asarray(predictions[c][1], dtype=bool) for c in ids]
        # a None reference (a case without masks) is rejected by mask_pair with a ValueError naming the image
        counts = seg_metrics.mask_counts(refs, preds)  # type: ignore[arg-type]
        scores = bnd_metrics.boundary_scores(refs, preds) if boundary else None  # type: ignore[arg-type]
    except ValueError as exc:
        raise BusbenchError(where, str(exc)) from exc
    return ScoringInputs(task, ids, groups, unit, fold_of, counts=counts, boundary=scores)


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def case_table(inputs: ScoringInputs, labels: Sequence[str]) -> dict[str, list[Any]]:
    """Every case's scores of a segmentation run, one list per column of :data:`CASE_COLUMNS`, in split order.

    Args:
        inputs: Prepared segmentation inputs with boundary scores (``prepare(..., boundary=True)``).
        labels: Each case's class label, in the order of ``inputs.ids``.

    Returns:
        The table, JSON-ready: ints, floats, strings and ``None`` for an undefined figure.
    """
    counts, scores = inputs.counts, inputs.boundary
    if counts is None or scores is None:
        raise ValueError("the case table needs segmentation inputs with boundary scores")
    dice, iou = counts.per_image_dice_iou()
    return {
        "case_id": list(inputs.ids),
        "fold": [int(k) for k in inputs.fold_of],
        "label": list(labels),
        "pixels": counts.pixels.tolist(),
        "reference_pixels": counts.reference.tolist(),
        "predicted_pixels": counts.predicted.tolist(),
        "intersection_pixels": counts.intersection.tolist(),
        "dice": [_json_float(v) for v in dice],
        "iou": [_json_float(v) for v in iou],
        "hd95": [_json_float(v) for v in scores.hd95],
        "nsd": [float(v) for v in scores.nsd],
    }


def stored_cases(metrics: dict[str, Any]) -> dict[str, list[Any]] | None:
    """The per-case table a segmentation ``metrics.json`` keeps (:data:`CASE_COLUMNS`), or ``None``.

    ``None`` for a document without one (classification, or a run scored before busbench kept it) and for a table
    whose columns are missing or of unequal length.
    """
    table = metrics.get("cases") if isinstance(metrics, dict) else None
    if not isinstance(table, dict) or not all(isinstance(table.get(c), list) for c in CASE_COLUMNS):
        return None
    if len({len(table[c]) for c in CASE_COLUMNS}) != 1:
        return None
    return table


def inputs_from_cases(split: SplitFile, table: dict[str, list[Any]], *, folds: Sequence[int],
                      where: str = "metrics.json") -> ScoringInputs:
    """Segmentation inputs rebuilt from a stored case table instead of the masks (no mask is decoded).

    The pixel counts are the table's, so every count-based figure (Dice, IoU, pooled Dice, false-positive rate) comes
    out exactly as from the masks; boundary figures come from the stored HD95 and NSD.

    Args:
        split: The split the run was scored on.
        table: The run's stored case table (:func:`stored_cases`).
        folds: The folds to score.
        where: How to name the table in error messages.

    Raises:
        BusbenchError: If the table's cases are not exactly the test cases of ``folds``, each in its own fold.
    """
    rows = {c: i for i, c in enumerate(table["case_id"])}
    predictions = {c: (int(table["fold"][i]), None) for c, i in rows.items()}
    if len(rows) != len(table["case_id"]):
        raise BusbenchError(where, "the case table names a case more than once")
    ids = check_coverage(split, predictions, folds, where)
    groups, unit = resampling_groups(split, ids)
    order = np.array([rows[c] for c in ids], dtype=np.int64)

    def column(name: str, dtype: Any) -> np.ndarray:
        values = np.array([np.nan if v is None else v for v in table[name]], dtype=dtype)
        return values[order]

    counts = seg_metrics.MaskCounts(column("intersection_pixels", np.int64), column("reference_pixels", np.int64),
                                    column("predicted_pixels", np.int64), column("pixels", np.int64))
    scores = bnd_metrics.BoundaryScores(column("hd95", np.float64), column("nsd", np.float64), counts.lesion)
    return ScoringInputs("segmentation", ids, groups, unit, column("fold", np.int64), counts=counts, boundary=scores)


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
        scored how. A segmentation document adds the boundary figures (``hd95``, ``nsd`` and their convention, in
        ``pooled``, ``ci`` and ``per_fold``) and the per-case table ``cases`` (:func:`case_table`).
    """
    inputs = prepare(task, split, dataset, predictions, folds=folds, where=where, boundary=True)
    n = len(inputs.ids)
    pooled = inputs.report()
    per_fold_reports = [inputs.report(np.flatnonzero(inputs.fold_of == k)) for k in folds]
    names = (CLASSIFICATION_STATISTICS if task == "classification"
             else {**SEGMENTATION_STATISTICS, **BOUNDARY_STATISTICS})
    ci = {name: bootstrap_ci(inputs.statistic(name), n, inputs.groups, n_boot=N_BOOT, seed=0).to_dict()
          for name in names}
    convention = (seg_metrics.SEGMENTATION_CONVENTION if task == "segmentation"
                  else f"{len(split.classes)} classes {'/'.join(split.classes)}, prediction = argmax of the "
                       "probabilities")
    metric = HEADLINE[task]
    per_fold = [{"fold": k, "n_cases": int((inputs.fold_of == k).sum()), **{m: r.get(m) for m in _FOLD_KEYS[task]},
                 "undefined": r.get("undefined", {})} for k, r in zip(folds, per_fold_reports, strict=True)]
    document = {
        "evaluator_version": EVALUATOR_VERSION,
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
    if task == "segmentation":
        document["cases"] = case_table(inputs, [dataset.case(c).label for c in inputs.ids])
    return document


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
    pooled = pooled if isinstance(pooled := metrics.get("pooled"), dict) else {}
    empty, images = pooled.get("n_empty_predictions"), pooled.get("n_images")
    if _is_count(empty) and _is_count(images):
        return "an empty mask" if empty == images > 0 else None
    per_class = per_class if isinstance(per_class := pooled.get("per_class"), dict) else {}
    counts: dict[str, Any] = {name: row.get("predicted") for name, row in per_class.items() if isinstance(row, dict)}
    if not counts or not all(_is_count(n) for n in counts.values()):
        return None
    predicted = [name for name, n in counts.items() if n > 0]
    return predicted[0] if len(predicted) == 1 else None


def collapse_note(metrics: dict[str, Any]) -> str:
    """``"; predicts benign for every case"`` for a collapsed run (:func:`constant_prediction`), else ``""``."""
    only = constant_prediction(metrics)
    return f"; predicts {only} for every case" if only else ""


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
