"""The training augmentation of Dajam & Qahmash 2025 (Table II), as Keras' ``ImageDataGenerator`` applies it.

Table II (L239-L247): rotation 5 degrees, width and height shift 0.1, shear 0.05, brightness (1, 1.4), zoom 0.05,
horizontal flip, fill mode 'nearest'. Keras draws, per image: an angle in +-5 degrees, shifts in +-10% of the side,
a shear angle in +-0.05 (read in *degrees* by Keras, although the table says radians), independent x and y zoom
factors in [0.95, 1.05], a flip with probability 0.5 and a brightness factor in [1, 1.4]. It applies rotation,
shift, shear and zoom as one affine map about the image centre (``scipy.ndimage.affine_transform``, order 1, mode
'nearest'; keras_preprocessing's centre is one pixel off the true one, which is used here), then the flip, then the
brightness (through 8-bit PIL, so values clip at white). The operations are :mod:`benchmark.models.augment`'s; the
Keras matrix is built here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from benchmark.models.augment import adjust_brightness, coin, flip_lr, uniform, warp
from benchmark.plugins import TrainBatch


@dataclass(frozen=True)
class TableII:
    """The augmentation parameters of the paper's Table II (Keras ``ImageDataGenerator`` arguments)."""

    rotation_range: float = 5.0
    width_shift_range: float = 0.1
    height_shift_range: float = 0.1
    shear_range: float = 0.05
    brightness_range: tuple[float, float] = (1.0, 1.4)
    zoom_range: float = 0.05
    horizontal_flip: bool = True


@dataclass(frozen=True)
class Draw:
    """One batch's random parameters, one value per image, on Keras' (row, column) axes.

    Attributes:
        angle: Rotation in degrees.
        shift_row: Vertical shift as a fraction of the height (``height_shift_range``).
        shift_col: Horizontal shift as a fraction of the width (``width_shift_range``).
        shear: Shear angle in degrees.
        zoom_row: Vertical zoom factor (> 1 shows more of the image, as in Keras).
        zoom_col: Horizontal zoom factor.
        flip: Whether the image is flipped left-right.
        brightness: Brightness multiplier.
    """

    angle: torch.Tensor
    shift_row: torch.Tensor
    shift_col: torch.Tensor
    shear: torch.Tensor
    zoom_row: torch.Tensor
    zoom_col: torch.Tensor
    flip: torch.Tensor
    brightness: torch.Tensor


def draw(n: int, generator: torch.Generator, table: TableII = TableII()) -> Draw:
    """Random parameters for ``n`` images, every number from ``generator`` (float64, as Keras' numpy draws)."""

    def between(low: float, high: float) -> torch.Tensor:
        return uniform(n, low, high, generator, dtype=torch.float64)

    low, high = table.brightness_range
    return Draw(
        angle=between(-table.rotation_range, table.rotation_range),
        shift_row=between(-table.height_shift_range, table.height_shift_range),
        shift_col=between(-table.width_shift_range, table.width_shift_range),
        shear=between(-table.shear_range, table.shear_range),
        zoom_row=between(1 - table.zoom_range, 1 + table.zoom_range),
        zoom_col=between(1 - table.zoom_range, 1 + table.zoom_range),
        flip=coin(n, 0.5, generator) & table.horizontal_flip,
        brightness=between(low, high),
    )


def affine_matrices(d: Draw) -> torch.Tensor:
    """Keras' ``rotation @ shift @ shear @ zoom`` about the centre as ``F.affine_grid`` matrices, (N, 2, 3).

    Keras builds the map (output -> input coordinates) on (row, column) axes; ``affine_grid`` takes (x, y), i.e.
    (column, row), so the matrix is conjugated by the axis swap. A shift of a fraction ``f`` of the side is ``2 f``
    in the normalised coordinates of ``affine_grid``.
    """
    n = d.angle.shape[0]
    zeros, ones = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)

    def mat(a, b, c, e, f, g):
        return torch.stack([torch.stack([a, b, c], 1), torch.stack([e, f, g], 1),
                            torch.stack([zeros, zeros, ones], 1)], 1)

    theta, shear = torch.deg2rad(d.angle), torch.deg2rad(d.shear)
    rotation = mat(theta.cos(), -theta.sin(), zeros, theta.sin(), theta.cos(), zeros)
    shift = mat(ones, zeros, 2 * d.shift_row, zeros, ones, 2 * d.shift_col)
    shearing = mat(ones, -shear.sin(), zeros, zeros, shear.cos(), zeros)
    zoom = mat(d.zoom_row, zeros, zeros, zeros, d.zoom_col, zeros)
    swap = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return (swap @ rotation @ shift @ shearing @ zoom @ swap)[:, :2]


def keras_augment(batch: TrainBatch, generator: torch.Generator, table: TableII = TableII()) -> TrainBatch:
    """Table II applied to a batch of images in [0, 1]; masks follow the geometry and stay binary."""
    d = draw(batch.images.shape[0], generator, table)
    out, masks = warp(batch.images, batch.masks, affine_matrices(d), padding="border")  # 'nearest' fill
    out = adjust_brightness(flip_lr(out, d.flip), d.brightness)
    return replace(batch, images=out, masks=None if masks is None else flip_lr(masks, d.flip))
