"""The augmentation blocks of :mod:`benchmark.training.augment`, re-exported for committed submissions.

The blocks moved to :mod:`benchmark.training.augment` so that the plugin base class can use them without
importing :mod:`benchmark.models`. Committed submissions import them from here, and a submission's source files
are part of its runs' identity (:func:`benchmark.results.identity.source_fingerprint`), so those imports stay and
this module keeps them working. New code imports from :mod:`benchmark.training.augment`.
"""

from __future__ import annotations

from benchmark.training.augment import (
    adjust_brightness,
    adjust_contrast,
    affine_theta,
    blur_sigmas,
    coin,
    flip_lr,
    gaussian_blur,
    gaussian_blur_image,
    uniform,
    warp,
)

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "affine_theta",
    "blur_sigmas",
    "coin",
    "flip_lr",
    "gaussian_blur",
    "gaussian_blur_image",
    "uniform",
    "warp",
]
