"""busbench's standardized evaluator: pure metric functions of arrays (numpy/scipy only, no I/O, no torch).

* :mod:`~benchmark.metrics.classification`: accuracy, balanced accuracy, precision/recall/F1, AUCs, malignant
  sensitivity/specificity, calibration, log loss, and :func:`classification_report`.
* :mod:`~benchmark.metrics.segmentation`: Dice/IoU under the headline convention, pooled and paper-compatible
  variants, and :func:`segmentation_report`.
* :mod:`~benchmark.metrics.boundary`: HD95 and normalised surface distance per image, with their empty-mask
  conventions, and :func:`~benchmark.metrics.boundary.boundary_report`.
* :mod:`~benchmark.metrics.uncertainty`: cluster bootstrap intervals, fold summaries, out-of-fold check.
* :mod:`~benchmark.metrics.paired`: paired bootstrap and the corrected resampled t-test.

An undefined figure raises :class:`MetricUndefinedError` from the metric functions and is ``None`` (with a reason
under ``"undefined"``) in the reports.
"""

from benchmark.metrics.boundary import NSD_TOLERANCE_PX, BoundaryScores, boundary_report, boundary_scores
from benchmark.metrics.classification import CLASSES, MALIGNANT, classification_report
from benchmark.metrics.paired import PairedComparison, corrected_resampled_ttest, paired_bootstrap
from benchmark.metrics.segmentation import SEGMENTATION_CONVENTION, MaskCounts, mask_counts, segmentation_report
from benchmark.metrics.uncertainty import (
    ConfidenceInterval,
    bootstrap_ci,
    check_out_of_fold,
    difference_ci,
    fold_summary,
)
from benchmark.metrics.undefined import MetricUndefinedError

__all__ = [
    "CLASSES",
    "MALIGNANT",
    "NSD_TOLERANCE_PX",
    "SEGMENTATION_CONVENTION",
    "ConfidenceInterval",
    "MaskCounts",
    "MetricUndefinedError",
    "PairedComparison",
    "BoundaryScores",
    "bootstrap_ci",
    "boundary_report",
    "boundary_scores",
    "difference_ci",
    "check_out_of_fold",
    "classification_report",
    "corrected_resampled_ttest",
    "fold_summary",
    "mask_counts",
    "paired_bootstrap",
    "segmentation_report",
]
