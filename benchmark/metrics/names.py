"""Human names of the figures a run records (``metrics.json`` keys), for table headers, chart labels and sentences.

No imports beyond typing: the leaderboard's pages and exports name every figure from here.
"""

from __future__ import annotations

from typing import Any

#: Human names of the figures a run records (``metrics.json`` keys), for headers, labels and sentences.
METRIC_NAMES = {
    "balanced_accuracy": "Balanced accuracy", "accuracy": "Accuracy", "macro_f1": "Macro F1",
    "auc_ovr_macro": "AUC (one vs rest, macro)", "auc_malignant": "AUC (malignant vs rest)",
    "sensitivity_malignant": "Sensitivity (malignant)", "specificity_malignant": "Specificity (malignant)",
    "ece": "Calibration error (ECE)", "brier": "Brier score", "dice": "Dice", "iou": "IoU",
    "pooled_dice": "Pooled Dice", "pooled_iou": "Pooled IoU", "paper_dice": "Dice (paper convention)",
    "paper_iou": "IoU (paper convention)", "pixel_accuracy": "Pixel accuracy", "hd95": "HD95 (px)",
    "hd95_median": "HD95 median (px)", "nsd": "NSD (surface Dice)",
    "empty_reference_false_positive_rate": "False lesions on normal images",
    "auc_ovr": "AUC (one vs rest)", "f1": "F1", "precision": "Precision", "recall": "Recall",
    "specificity": "Specificity", "sensitivity": "Sensitivity", "support": "Cases", "predicted": "Predicted",
    "n_cases": "Cases", "fold": "Fold",
}
#: Figures where a lower value is the better one.
LOWER_IS_BETTER = frozenset({"ece", "brier", "hd95", "empty_reference_false_positive_rate"})


def metric_name(key: Any) -> str:
    """The human name of a metric key (``balanced_accuracy`` -> ``Balanced accuracy``); unknown keys de-underscored."""
    text = str(key)
    if text in METRIC_NAMES:
        return METRIC_NAMES[text]
    words = text.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


