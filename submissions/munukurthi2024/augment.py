"""The training augmentation of Munukurthi & Gayathri 2024 (L83), as Keras' ``ImageDataGenerator`` applies it.

L83: horizontal flips, rotation up to 15 degrees, width and height shifts within [-10, 10] (pixels, at the paper's
128 px: scaled with the image side here) and zoom in [0.80, 1.00]. Keras draws per image an angle, two shifts, and
independent x and y zoom factors (below 1 magnifies), applies them as one affine map about the centre with its
default ``fill_mode='nearest'`` (the border repeated), and flips with probability 0.5. Masks follow the geometry and
are re-thresholded at 0.5, so they stay binary. Every random number comes from the engine's generator. The
operations are :mod:`benchmark.models.augment`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from benchmark.models.augment import affine_theta, coin, uniform, warp
from benchmark.plugins import TrainBatch

ROTATION = 15.0  # degrees
SHIFT_PX = 10.0  # at REFERENCE_SIZE
REFERENCE_SIZE = 128
ZOOM = (0.8, 1.0)


@dataclass(frozen=True)
class Draw:
    """One batch's random parameters, one value per image.

    Attributes:
        flip: Left-right flip.
        angle: Rotation in degrees.
        dx: Horizontal shift in ``affine_grid`` coordinates (the image's side is 2).
        dy: Vertical shift, likewise.
        zx: Horizontal zoom factor (the sampled area's side: below 1 magnifies, as in Keras).
        zy: Vertical zoom factor.
    """

    flip: torch.Tensor
    angle: torch.Tensor
    dx: torch.Tensor
    dy: torch.Tensor
    zx: torch.Tensor
    zy: torch.Tensor


def draw(n: int, generator: torch.Generator) -> Draw:
    """Random parameters for ``n`` images, every number from ``generator``."""
    flip = coin(n, 0.5, generator)
    angle = uniform(n, -ROTATION, ROTATION, generator)
    shift = SHIFT_PX / REFERENCE_SIZE * 2  # relative to the side (any --image-size); grid coordinates span 2
    dx, dy = uniform(n, -shift, shift, generator), uniform(n, -shift, shift, generator)
    zx, zy = uniform(n, *ZOOM, generator), uniform(n, *ZOOM, generator)
    return Draw(flip, angle, dx, dy, zx, zy)


def keras_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """Flip, rotate, shift and zoom a batch of images in [0, 1] (and its masks) with the ranges of L83."""
    d = draw(batch.images.shape[0], generator)
    # output -> input coordinates: flip, zoom (the sampled area's side), rotate, shift
    theta = affine_theta(d.angle * math.pi / 180, zoom=(d.zx, d.zy), flip_x=d.flip, shift=(d.dx, d.dy))
    out, masks = warp(batch.images, batch.masks, theta, padding="border")
    return replace(batch, images=out.clamp(0, 1), masks=masks)
