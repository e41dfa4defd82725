"""Building blocks of training augmentations: random draws, an affine warp of images and masks, blur, jitter.

The seed papers' augmentations (``submissions/*/augment.py``) and busbench's default one are the same few
operations with different ranges: flips, scaling, rotation and shifts as one affine map about the image centre,
applied to the image and its mask alike, then photometric changes. The blocks here are pure functions of tensors;
every random number comes from the ``generator`` passed to a draw, so a run is reproducible from its seed.

The arithmetic is written exactly as the submissions first wrote it (the order of operations included), so that
moving a submission onto these blocks leaves its output bit-identical: e.g. a magnification ``scale`` divides the
map while a Keras ``zoom`` multiplies it, and the two differ in the last bit, so both are offered.

Conventions: images are float tensors (N, C, H, W) in [0, 1]; masks are (N, 1, H, W) in {0, 1} or ``None``;
per-image parameters are tensors of shape (N,). Affine maps are ``F.affine_grid`` matrices (N, 2, 3) mapping
*output* to *input* coordinates, normalised to [-1, 1] (x to the right, y down, the origin at the image centre).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def uniform(n: int, low: float, high: float, generator: torch.Generator, dtype: torch.dtype | None = None
            ) -> torch.Tensor:
    """``n`` values uniform in [low, high), from ``generator`` (one ``torch.rand`` call)."""
    return torch.rand(n, generator=generator, dtype=dtype) * (high - low) + low


def coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` booleans, each True with probability ``p``, from ``generator`` (one ``torch.rand`` call)."""
    return torch.rand(n, generator=generator) < p


def blur_sigmas(n: int, p: float, sigma: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Per-image blur sigmas: with probability ``p`` uniform in ``sigma``, else 0 (no blur).

    Draws ``n`` coins, then ``n`` sigmas for every image (blurred or not), so the generator advances the same way
    whatever the coins say.
    """
    blurred = coin(n, p, generator)
    return torch.where(blurred, uniform(n, *sigma, generator), torch.zeros(n))


def affine_theta(angle: torch.Tensor, *, scale: torch.Tensor | None = None,
                 zoom: tuple[torch.Tensor, torch.Tensor] | None = None, flip_x: torch.Tensor | None = None,
                 flip_y: torch.Tensor | None = None, shift: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> torch.Tensor:
    """The ``affine_grid`` matrices (N, 2, 3) of flips, scaling, rotation and a shift about the image centre.

    Output pixel ``p`` samples the input at ``R(angle) @ diag(zx * fx, zy * fy) @ p + shift``, where ``f`` is -1
    for a flipped axis: the output is the input flipped, then zoomed, then rotated, then shifted.

    Args:
        angle: Rotation in radians (N,); a positive angle turns the image content counter-clockwise on screen
            (90 degrees is ``torch.rot90(images, 1, dims=(-2, -1))`` on a square image).
        scale: Isotropic magnification (> 1 magnifies): the map is divided by it. Exclusive with ``zoom``.
        zoom: Keras-style zoom factors (x, y), the sampled area's side (< 1 magnifies): the map is multiplied by
            them. Exclusive with ``scale``.
        flip_x: Booleans: flip left-right.
        flip_y: Booleans: flip up-down.
        shift: Shifts (x, y) of the sampled area in normalised coordinates (2 is the image's side).

    Returns:
        The matrices, on ``angle``'s device, in the dtype the arithmetic gives (the warp casts them).
    """
    if scale is not None and zoom is not None:
        raise ValueError("affine_theta: give scale or zoom, not both")
    cos, sin = torch.cos(angle), torch.sin(angle)
    if scale is not None:
        cos, sin = cos / scale, sin / scale
    # first column: what the output's x contributes; second: what its y contributes
    xx, yx, xy, yy = cos, sin, -sin, cos
    if zoom is not None:
        xx, yx, xy, yy = cos * zoom[0], sin * zoom[0], -sin * zoom[1], cos * zoom[1]
    if flip_x is not None:
        sign = torch.where(flip_x, -1.0, 1.0)
        xx, yx = xx * sign, yx * sign
    if flip_y is not None:
        sign = torch.where(flip_y, -1.0, 1.0)
        xy, yy = xy * sign, yy * sign
    if shift is None:
        zeros = torch.zeros(angle.shape[0], dtype=angle.dtype, device=angle.device)
        shift = (zeros, zeros)
    return torch.stack([torch.stack([xx, xy, shift[0]], 1), torch.stack([yx, yy, shift[1]], 1)], 1)


def warp(images: torch.Tensor, masks: torch.Tensor | None, theta: torch.Tensor, padding: str = "zeros"
         ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Warp images and masks with the same affine maps (bilinear sampling); masks are re-thresholded at 0.5.

    Args:
        images: (N, C, H, W) float images.
        masks: (N, 1, H, W) masks, or ``None``.
        theta: ``affine_grid`` matrices (N, 2, 3), output to input coordinates (see :func:`affine_theta`). The
            sampling grid is computed on ``theta``'s device in the images' dtype, then moved to the images.
        padding: ``grid_sample``'s ``padding_mode`` outside the image: "zeros" (black) or "border" (the edge
            repeated, Keras' ``fill_mode='nearest'``).

    Returns:
        The warped images and the warped masks, binary and in their own dtype (``None`` when ``masks`` is).
    """
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False).to(images.device)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    if masks is not None:
        moved = F.grid_sample(masks, grid.to(masks.dtype), mode="bilinear", padding_mode=padding, align_corners=False)
        masks = (moved >= 0.5).to(masks.dtype)  # bilinear sampling blurs the edge: keep the mask binary
    return out, masks


def flip_lr(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Flip left-right the images (N, C, H, W) whose ``flip`` (N,) is True."""
    return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply each image by its ``factor`` (N,) and clip to [0, 1] (torchvision's brightness)."""
    return (images * factor.to(images).view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each image's deviation from its mean grey level by ``factor`` (N,), clipped to [0, 1].

    The mean is over the image's channels and pixels, as torchvision's contrast uses for a grey image.
    """
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * factor.to(images).view(-1, 1, 1, 1) + mean).clamp(0, 1)


def gaussian_blur_image(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of one image (C, H, W), kernel radius 3 sigma (at least 1), reflected borders."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[0]
    out = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out[0]


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (N, C, H, W) with its own ``sigma`` (N,) in pixels; a sigma of 0 leaves the image as is.

    The reflected border needs a kernel radius below the image side, i.e. sigma < side / 3.
    """
    return torch.stack([gaussian_blur_image(img, float(s)) if s > 0 else img
                        for img, s in zip(images, sigma, strict=True)])
