"""Explanations of classification submissions (Grad-CAM); the ``busbench explain`` command writes them per case."""

from benchmark.explain.gradcam import (
    ScoreFn,
    default_score,
    find_target_layer,
    grad_cam,
    layer_name,
    submission_score,
    target_layer_for,
)

__all__ = [
    "ScoreFn",
    "default_score",
    "find_target_layer",
    "grad_cam",
    "layer_name",
    "submission_score",
    "target_layer_for",
]
