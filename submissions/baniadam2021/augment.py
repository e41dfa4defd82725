"""The training augmentation of Baniadam Dizaj & Valizadeh 2021.

The paper names random scaling of the input from 0.5 to 2.0, random left-right flips, random rotation (L83) and
Gaussian blur (L85). The rotation range and the blur strength are not stated: rotation stays within +-10 degrees
(busbench's default) and blur, applied to half the images, has a sigma drawn from 0.1-2.0 px at 512 px
(torchvision's ``GaussianBlur`` default range), scaled with the image side. Scaling is about the image centre; areas
outside the image are black, like the ultrasound background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

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

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    flip = torch.rand(n, generator=generator) < 0.5
    scale = uniform(*SCALE)
    angle = uniform(-MAX_ANGLE, MAX_ANGLE)
    blurred = torch.rand(n, generator=generator) < BLUR_P
    sigma = torch.where(blurred, uniform(*BLUR_SIGMA), torch.zeros(n))
    return Draw(flip, scale, angle, sigma)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of one image (C, H, W), kernel radius 3 sigma, reflected borders."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[0]
    out = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out[0]


def paper_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """Flip, scale 0.5-2.0 and rotate (one affine map about the centre), then blur half the images."""
    images = batch.images
    n, side = images.shape[0], images.shape[-1]
    d = draw(n, generator)
    angle = torch.deg2rad(d.angle)
    sign = torch.where(d.flip, -1.0, 1.0)
    cos, sin = angle.cos() / d.scale, angle.sin() / d.scale  # output -> input coordinates: rotate, then shrink
    zeros = torch.zeros(n)
    theta = torch.stack([torch.stack([cos * sign, -sin, zeros], 1), torch.stack([sin * sign, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False).to(images.device)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sigmas = d.sigma * side / REFERENCE_SIZE
    out = torch.stack([gaussian_blur(img, float(s)) if s > 0 else img for img, s in zip(out, sigmas, strict=True)])
    masks = batch.masks
    if masks is not None:
        masks = F.grid_sample(masks, grid.to(masks.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
        masks = (masks >= 0.5).to(batch.masks.dtype)
    return replace(batch, images=out.clamp(0, 1), masks=masks)
