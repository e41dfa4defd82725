"""The training augmentation of Baniadam Dizaj & Valizadeh 2021.

The paper names random scaling of the input from 0.5 to 2.0, random left-right flips, random rotation (L83) and
Gaussian blur (L85). The rotation range and the blur strength are not stated: rotation stays within +-10 degrees
(busbench's default) and blur, applied to half the images, has a sigma drawn from 0.1-2.0 px at 512 px
(torchvision's ``GaussianBlur`` default range), scaled with the image side. Scaling is about the image centre; areas
outside the image are black, like the ultrasound background. The operations are :mod:`benchmark.models.augment`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from benchmark.models.augment import affine_theta, blur_sigmas, coin, gaussian_blur, uniform, warp
from benchmark.plugins import TrainBatch

SCALE = (0.5, 2.0)  # L83
MAX_ANGLE = 10.0  # degrees; not stated
BLUR_SIGMA = (0.1, 2.0)  # px at REFERENCE_SIZE; not stated
BLUR_P = 0.5  # not stated
REFERENCE_SIZE = 512  # the paper's input side (L83)


@dataclass(frozen=True)
class Draw:
    """One batch's random parameters, one value per image.

    Attributes:
        flip: Left-right flip.
        scale: Scale factor (> 1 magnifies).
        angle: Rotation in degrees.
        sigma: Blur sigma in px at :data:`REFERENCE_SIZE` (0: no blur).
    """

    flip: torch.Tensor
    scale: torch.Tensor
    angle: torch.Tensor
    sigma: torch.Tensor


def draw(n: int, generator: torch.Generator) -> Draw:
    """Random parameters for ``n`` images, every number from ``generator``."""
    flip = coin(n, 0.5, generator)
    scale = uniform(n, *SCALE, generator)
    angle = uniform(n, -MAX_ANGLE, MAX_ANGLE, generator)
    sigma = blur_sigmas(n, BLUR_P, BLUR_SIGMA, generator)
    return Draw(flip, scale, angle, sigma)


def paper_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """Flip, scale 0.5-2.0 and rotate (one affine map about the centre), then blur half the images."""
    images = batch.images
    d = draw(images.shape[0], generator)
    theta = affine_theta(torch.deg2rad(d.angle), scale=d.scale, flip_x=d.flip)
    out, masks = warp(images, batch.masks, theta, padding="zeros")
    out = gaussian_blur(out, d.sigma * images.shape[-1] / REFERENCE_SIZE)
    return replace(batch, images=out.clamp(0, 1), masks=masks)
