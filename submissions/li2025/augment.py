"""The training augmentation of Li et al. 2025: flips, rotation, colour jitter and Gaussian blur (L67).

The paper names the transforms but none of their strengths; the values here are common torchvision settings: left-
right and up-down flips with probability 0.5 each, rotation within +-10 degrees (black corners, torchvision's fill),
brightness and contrast factors in 0.8-1.2 (``ColorJitter(0.2, 0.2)``; saturation and hue do nothing to a grey
image) and, on half the images, a Gaussian blur with sigma 0.1-2.0 px at 224 px (``GaussianBlur``'s default range),
scaled with the image side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from benchmark.plugins import TrainBatch

MAX_ANGLE = 10.0
JITTER = 0.2
BLUR_SIGMA = (0.1, 2.0)
BLUR_P = 0.5
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

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    hflip = torch.rand(n, generator=generator) < 0.5
    vflip = torch.rand(n, generator=generator) < 0.5
    angle = uniform(-MAX_ANGLE, MAX_ANGLE)
    brightness, contrast = uniform(1 - JITTER, 1 + JITTER), uniform(1 - JITTER, 1 + JITTER)
    blurred = torch.rand(n, generator=generator) < BLUR_P
    sigma = torch.where(blurred, uniform(*BLUR_SIGMA), torch.zeros(n))
    return Draw(hflip, vflip, angle, brightness, contrast, sigma)


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
    """Flips and rotation (one affine map about the centre), then brightness, contrast and blur."""
    images = batch.images
    n, side = images.shape[0], images.shape[-1]
    d = draw(n, generator)
    angle = torch.deg2rad(d.angle)
    sx, sy = torch.where(d.hflip, -1.0, 1.0), torch.where(d.vflip, -1.0, 1.0)
    zeros = torch.zeros(n)
    theta = torch.stack([torch.stack([angle.cos() * sx, -angle.sin() * sy, zeros], 1),
                         torch.stack([angle.sin() * sx, angle.cos() * sy, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False).to(images.device)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = (out * d.brightness.to(out).view(-1, 1, 1, 1)).clamp(0, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * d.contrast.to(out).view(-1, 1, 1, 1) + mean).clamp(0, 1)
    sigmas = d.sigma * side / REFERENCE_SIZE
    out = torch.stack([gaussian_blur(img, float(s)) if s > 0 else img for img, s in zip(out, sigmas, strict=True)])
    masks = batch.masks
    if masks is not None:
        masks = F.grid_sample(masks, grid.to(masks.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
        masks = (masks >= 0.5).to(batch.masks.dtype)
    return replace(batch, images=out.clamp(0, 1), masks=masks)
