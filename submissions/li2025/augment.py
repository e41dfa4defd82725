"""The training augmentation of Li et al. 2025: flips, rotation, colour jitter and Gaussian blur (L67).

The paper names the transforms but none of their strengths; the values here are common torchvision settings: left-
right and up-down flips with probability 0.5 each, rotation within +-10 degrees (black corners, torchvision's fill),
brightness and contrast factors in 0.8-1.2 (``ColorJitter(0.2, 0.2)``; saturation and hue do nothing to a grey
image) and, on half the images, a Gaussian blur with sigma 0.1-2.0 px at 224 px (``GaussianBlur``'s default range),
scaled with the image side. The operations are :mod:`benchmark.models.augment`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from benchmark.models.augment import (
    adjust_brightness,
    adjust_contrast,
    affine_theta,
    blur_sigmas,
    coin,
    gaussian_blur,
    uniform,
    warp,
)
from benchmark.plugins import TrainBatch

MAX_ANGLE = 10.0  # degrees; not stated
JITTER = 0.2  # not stated
BLUR_SIGMA = (0.1, 2.0)  # px at REFERENCE_SIZE; not stated
BLUR_P = 0.5  # not stated
REFERENCE_SIZE = 224


@dataclass(frozen=True)
class Draw:
    """One batch's random parameters, one value per image.

    Attributes:
        hflip: Left-right flip.
        vflip: Up-down flip.
        angle: Rotation in degrees.
        brightness: Brightness factor.
        contrast: Contrast factor (about the image's mean grey level, as torchvision does).
        sigma: Blur sigma in px at :data:`REFERENCE_SIZE` (0: no blur).
    """

    hflip: torch.Tensor
    vflip: torch.Tensor
    angle: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    sigma: torch.Tensor


def draw(n: int, generator: torch.Generator) -> Draw:
    """Random parameters for ``n`` images, every number from ``generator``."""
    hflip = coin(n, 0.5, generator)
    vflip = coin(n, 0.5, generator)
    angle = uniform(n, -MAX_ANGLE, MAX_ANGLE, generator)
    brightness = uniform(n, 1 - JITTER, 1 + JITTER, generator)
    contrast = uniform(n, 1 - JITTER, 1 + JITTER, generator)
    sigma = blur_sigmas(n, BLUR_P, BLUR_SIGMA, generator)
    return Draw(hflip, vflip, angle, brightness, contrast, sigma)


def paper_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """Flips and rotation (one affine map about the centre), then brightness, contrast and blur."""
    images = batch.images
    d = draw(images.shape[0], generator)
    theta = affine_theta(torch.deg2rad(d.angle), flip_x=d.hflip, flip_y=d.vflip)
    out, masks = warp(images, batch.masks, theta, padding="zeros")
    out = adjust_contrast(adjust_brightness(out, d.brightness), d.contrast)
    out = gaussian_blur(out, d.sigma * images.shape[-1] / REFERENCE_SIZE)
    return replace(batch, images=out.clamp(0, 1), masks=masks)
