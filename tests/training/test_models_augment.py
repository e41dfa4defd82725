"""The shared augmentation blocks (benchmark.training.augment) against torch, scipy and torchvision references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from benchmark.compat import ensure_torchvision_importable
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

ensure_torchvision_importable()
from torchvision.transforms import functional as TF  # noqa: E402


def _batch(n: int = 3, side: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, side, side, generator=g, dtype=torch.float64)
    masks = torch.zeros(n, 1, side, side, dtype=torch.float64)
    masks[:, :, side // 5: side // 2, side // 3: 3 * side // 4] = 1  # off-centre, so every map moves it
    return images, masks


def _zeros(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.float64)


def test_identity_parameters_give_the_input_back():
    images, masks = _batch()
    out, moved = warp(images, masks, affine_theta(_zeros(3)))
    torch.testing.assert_close(out, images, atol=1e-12, rtol=0)
    assert torch.equal(moved, masks)
    theta = affine_theta(_zeros(3), scale=torch.ones(3, dtype=torch.float64), flip_x=torch.zeros(3, dtype=torch.bool))
    assert torch.equal(theta, affine_theta(_zeros(3)))
    assert warp(images, None, theta)[1] is None


@pytest.mark.parametrize("side", [32, 33])
def test_flips_equal_torch_flip(side):
    images, masks = _batch(side=side)
    flips = torch.tensor([True, False, True])
    for kwargs, dim in ((dict(flip_x=flips), -1), (dict(flip_y=flips), -2)):
        out, moved = warp(images, masks, affine_theta(_zeros(3), **kwargs))
        expected = torch.where(flips.view(-1, 1, 1, 1), images.flip(dim), images)
        torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
        assert torch.equal(moved, torch.where(flips.view(-1, 1, 1, 1), masks.flip(dim), masks))
    assert torch.equal(flip_lr(images, flips), torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images))


def test_rotation_by_90_degrees_equals_rot90():
    images, masks = _batch(side=24)
    out, moved = warp(images, masks, affine_theta(torch.full((3,), math.pi / 2, dtype=torch.float64)))
    # cos(pi/2) is 6e-17, not 0: the sample points miss the pixel centres by a hair
    torch.testing.assert_close(out, torch.rot90(images, 1, dims=(-2, -1)), atol=1e-12, rtol=0)
    assert torch.equal(moved, torch.rot90(masks, 1, dims=(-2, -1)))
    # float32, as the engine uses: the same up to interpolation error
    out32, _ = warp(images.float(), None, affine_theta(torch.full((3,), math.pi / 2)))
    torch.testing.assert_close(out32, torch.rot90(images.float(), 1, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_affine_map_matches_scipy_affine_transform_inside_the_image():
    side, n = 40, 4
    images, _ = _batch(n, side, seed=1)
    g = torch.Generator().manual_seed(2)
    angle = uniform(n, -0.5, 0.5, g, dtype=torch.float64)
    scale = uniform(n, 0.8, 1.5, g, dtype=torch.float64)
    flip = torch.tensor([True, False, False, True])
    shift = (uniform(n, -0.1, 0.1, g, dtype=torch.float64), uniform(n, -0.1, 0.1, g, dtype=torch.float64))
    out, _ = warp(images, None, affine_theta(angle, scale=scale, flip_x=flip, shift=shift))
    centre = (side - 1) / 2
    for i in range(n):
        # the documented map on (x, y): R(angle) @ diag(fx / scale, 1 / scale) @ p + shift; scipy takes (row, col)
        c, s, fx = math.cos(angle[i]), math.sin(angle[i]), -1.0 if flip[i] else 1.0
        xy = np.array([[c, -s], [s, c]]) @ np.diag([fx, 1.0]) / float(scale[i])
        matrix = xy[::-1, ::-1]
        # about the pixel centre; a shift of 2 in normalised coordinates is one side
        offset = centre + np.array([float(shift[1][i]), float(shift[0][i])]) * side / 2 - matrix @ [centre, centre]
        expected = ndimage.affine_transform(images[i, 0].numpy(), matrix, offset, order=1, mode="constant")
        rows, cols = np.mgrid[0:side, 0:side]
        src = np.einsum("ij,jrc->irc", matrix, np.stack([rows, cols])) + offset[:, None, None]
        inside = (src > 0.5).all(0) & (src < side - 1.5).all(0)  # away from the zero padding's edge
        assert inside.sum() > side * side / 4
        np.testing.assert_allclose(out[i, 0].numpy()[inside], expected[inside], atol=1e-9)


def test_scale_and_zoom_are_reciprocal_and_exclusive():
    angle, scale = torch.tensor([0.3, -0.2]), torch.tensor([2.0, 0.8])
    torch.testing.assert_close(affine_theta(angle, scale=scale), affine_theta(angle, zoom=(1 / scale, 1 / scale)))
    with pytest.raises(ValueError, match="not both"):
        affine_theta(angle, scale=scale, zoom=(scale, scale))


@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_masks_stay_binary_in_their_dtype(padding):
    images, masks = _batch(4, 33)
    g = torch.Generator().manual_seed(5)
    theta = affine_theta(uniform(4, -1, 1, g), zoom=(uniform(4, 0.7, 1.3, g), uniform(4, 0.7, 1.3, g)),
                         flip_x=coin(4, 0.5, g), shift=(uniform(4, -0.2, 0.2, g), uniform(4, -0.2, 0.2, g)))
    for mask_dtype in (torch.float32, torch.float64):
        _, moved = warp(images.float(), masks.to(mask_dtype), theta, padding=padding)
        assert moved.dtype == mask_dtype and set(moved.unique().tolist()) <= {0.0, 1.0}
        assert not torch.equal(moved, masks.to(mask_dtype))


def test_gaussian_blur_matches_scipy_and_tiny_sigma_is_identity():
    images, _ = _batch(3, 20, seed=3)
    sigma = torch.tensor([1.0, 0.0, 2.5])
    out = gaussian_blur(images, sigma)
    assert torch.equal(out[1], images[1])  # sigma 0: untouched
    for i in (0, 2):
        s = float(sigma[i])
        radius = max(1, math.ceil(3 * s))  # torch 'reflect' padding is scipy's 'mirror'
        expected = ndimage.gaussian_filter(images[i, 0].numpy(), s, mode="mirror", truncate=radius / s)
        np.testing.assert_allclose(out[i, 0].numpy(), expected, atol=1e-12)
    torch.testing.assert_close(gaussian_blur_image(images[0], 0.05), images[0], atol=1e-12, rtol=0)
    flat = torch.full((2, 3, 16, 16), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, torch.tensor([1.5, 3.0])), flat)


def test_brightness_and_contrast_match_torchvision():
    images, _ = _batch(3, 16, seed=4)
    images = images.float()
    factor = torch.tensor([0.5, 1.0, 1.7])
    bright, contrast = adjust_brightness(images, factor), adjust_contrast(images, factor)
    for i in range(3):
        torch.testing.assert_close(bright[i], TF.adjust_brightness(images[i], float(factor[i])))
        torch.testing.assert_close(contrast[i], TF.adjust_contrast(images[i], float(factor[i])))
    assert torch.equal(bright[1], images[1]) and float(bright.max()) <= 1 and float(contrast.min()) >= 0


def test_draws_take_every_number_from_the_generator():
    def draw_all(seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return [uniform(500, -2.0, 3.0, g), coin(500, 0.3, g), blur_sigmas(500, 0.5, (0.1, 2.0), g),
                uniform(5, 0.0, 1.0, g, dtype=torch.float64)]

    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = draw_all(11)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone
    torch.manual_seed(123)
    assert all(torch.equal(a, b) for a, b in zip(first, draw_all(11), strict=True))
    assert not torch.equal(first[0], draw_all(12)[0])
    values, flags, sigmas, doubles = first
    assert -2.0 <= float(values.min()) and float(values.max()) < 3.0 and float(values.std()) > 1
    assert 0.2 < float(flags.float().mean()) < 0.4 and flags.dtype == torch.bool
    blurred = sigmas > 0
    assert 0.4 < float(blurred.float().mean()) < 0.6 and float(sigmas[blurred].min()) >= 0.1
    assert doubles.dtype == torch.float64


@pytest.mark.parametrize("name", ["augment", "recipes"])
def test_models_modules_re_export_every_public_training_block(name):
    """Committed submissions import ``benchmark.models.augment`` and ``.recipes``: the very objects, every name."""
    import importlib
    import types

    old = importlib.import_module(f"benchmark.models.{name}")
    new = importlib.import_module(f"benchmark.training.{name}")
    public = sorted(n for n, v in vars(new).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)
                    and getattr(v, "__module__", new.__name__) == new.__name__)
    assert sorted(old.__all__) == public
    assert all(getattr(old, n) is getattr(new, n) for n in public)
