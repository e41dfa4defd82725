"""The training augmentation of Munukurthi & Gayathri 2024 (L83), as Keras' ``ImageDataGenerator`` applies it.

L83: horizontal flips, rotation up to 15 degrees, width and height shifts within [-10, 10] (pixels, at the paper's
128 px: scaled with the image side here) and zoom in [0.80, 1.00]. Keras draws per image an angle, two shifts, and
independent x and y zoom factors (below 1 magnifies), applies them as one affine map about the centre with its
default ``fill_mode='nearest'`` (the border repeated), and flips with probability 0.5. Masks follow the geometry and
are re-thresholded at 0.5, so they stay binary. Every random number comes from the engine's generator.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from benchmark.plugins import TrainBatch

ROTATION = 15.0  # degrees
SHIFT_PX = 10.0  # at REFERENCE_SIZE
REFERENCE_SIZE = 128
ZOOM = (0.8, 1.0)


def keras_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """Flip, rotate, shift and zoom a batch of images in [0, 1] (and its masks) with the ranges of L83."""
    images = batch.images
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    angle = uniform(-ROTATION, ROTATION) * math.pi / 180
    shift = SHIFT_PX / REFERENCE_SIZE * 2  # relative to the side (any --image-size); grid coordinates span 2
    dx, dy = uniform(-shift, shift), uniform(-shift, shift)
    zx, zy = uniform(*ZOOM), uniform(*ZOOM)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> input coordinates: flip, zoom (the sampled area's side), rotate, shift
    theta = torch.stack([torch.stack([cos * zx * flip, -sin * zy, dx], 1),
                         torch.stack([sin * zx * flip, cos * zy, dy], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False).to(images.device)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    masks = batch.masks
    if masks is not None:
        moved = F.grid_sample(masks, grid.to(masks.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        masks = (moved >= 0.5).to(masks.dtype)
    return replace(batch, images=out.clamp(0, 1), masks=masks)
