"""Blurring and resizing for the phantom generator, with the same output on every CPU.

OpenCV's ``GaussianBlur`` and ``resize`` pick a SIMD path for the CPU they run on (SSE, AVX2, AVX-512), and on
``float32`` images those paths round differently: phantoms drawn on two machines differed in some pixels, so a
committed split file's pixel fingerprint did not match on the other machine. These filters work in ``float64`` and
sum their taps in a fixed order with plain IEEE additions and multiplications, which round the same everywhere.

* :func:`gaussian_blur` is separable, with a kernel of ``exp(-i^2 / (2 sigma^2))`` for ``|i| <= ceil(4 sigma)``
  normalised to sum 1, and the border reflected without repeating the edge pixel (``dcb|abcd|cba``, OpenCV's
  default). The kernel comes from Python's ``math.exp``; the sums from ``scipy.ndimage.correlate1d``, plain C
  with one fixed order.
* :func:`resize` maps output pixel ``j`` to source position ``(j + 0.5) * n_in / n_out - 0.5`` (pixel centres
  aligned, as OpenCV and PIL do) and the edge pixel is repeated beyond the border:

  - ``"linear"``: the two nearest source pixels, weights ``1 - t`` and ``t``;
  - ``"cubic"``: four pixels with Keys' kernel, ``a = -0.75`` (OpenCV's);
  - ``"area"`` (for shrinking): the mean of the source pixels under the output pixel, each weighted by the
    length it overlaps, so a 0/1 mask becomes its coverage.

What is left CPU-dependent elsewhere in the generator is at the level of one unit in the last place of a ``float64``
(numpy's transcendental functions), far below anything that changes a rounded pixel.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

Method = Literal["linear", "cubic", "area"]


def _kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(4 * sigma))
    k = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    total = math.fsum(k)
    return np.array([v / total for v in k], dtype=np.float64)


def gaussian_blur(img: np.ndarray, sigma_y: float, sigma_x: float | None = None) -> np.ndarray:
    """Blur a 2-D image with a Gaussian.

    Args:
        img: ``(h, w)`` array (any numeric type; bool masks too).
        sigma_y: Standard deviation along rows (pixels), > 0.
        sigma_x: Along columns; ``None``: the same as ``sigma_y``.

    Returns:
        A ``float64`` array of ``img``'s shape.
    """
    from scipy.ndimage import correlate1d  # imported where used: importing the data layer stays cheap

    out = np.asarray(img, dtype=np.float64)
    for axis, sigma in ((0, sigma_y), (1, sigma_y if sigma_x is None else sigma_x)):
        if out.shape[axis] > 1:
            out = correlate1d(out, _kernel(sigma), axis=axis, mode="mirror")
    return out


@lru_cache(maxsize=256)
def _taps(n_in: int, n_out: int, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights, ``(n_out, k)`` each, of one axis (cached, read-only: sizes repeat)."""
    scale = n_in / n_out
    j = np.arange(n_out, dtype=np.float64)
    if method == "area":
        width = math.ceil(scale) + 1
        lo = j * scale
        start = np.floor(lo).astype(np.int64)
        idx = start[:, None] + np.arange(width)[None, :]
        left = np.maximum(idx, lo[:, None])
        right = np.minimum(idx + 1, (lo + scale)[:, None])
        weights = np.clip(right - left, 0, None) / scale
        return np.clip(idx, 0, n_in - 1), weights
    x = (j + 0.5) * scale - 0.5
    base = np.floor(x)
    t = (x - base)[:, None]
    if method == "linear":
        offsets = np.arange(2)
        weights = np.concatenate([1 - t, t], axis=1)
    elif method == "cubic":
        offsets = np.arange(-1, 3)
        d = np.abs(t - offsets[None, :])
        a = -0.75
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        weights = np.where(d <= 1, near, np.where(d < 2, far, 0.0))
    else:
        raise ValueError(f"unknown resize method {method!r}")
    idx = base.astype(np.int64)[:, None] + offsets[None, :]
    return _frozen(np.clip(idx, 0, n_in - 1)), _frozen(weights)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


#: Output rows resized per block: a block's intermediate arrays stay in the CPU cache (about 4x faster on large
#: images than whole-image passes). Every pixel's sum is the same, in the same order, whatever the block size.
_BLOCK_BYTES = 1 << 17


def _resize_axis(img: np.ndarray, n_out: int, axis: int, method: Method) -> np.ndarray:
    idx, weights = _taps(img.shape[axis], n_out, method)
    out_shape = list(img.shape)
    out_shape[axis] = n_out
    out = np.empty(out_shape, dtype=np.float64)
    row_bytes = 8 * math.prod(out_shape[1:])
    step = max(1, _BLOCK_BYTES // row_bytes)
    for r0 in range(0, out_shape[0], step):
        r1 = min(out_shape[0], r0 + step)
        if axis == 0:  # this block's output rows gather their own source rows
            src, block_idx, block_w = img, idx[r0:r1], weights[r0:r1]
        else:  # every output column of these rows gathers from the same rows of the source
            src, block_idx, block_w = img[r0:r1], idx, weights
        shape = [1] * img.ndim
        shape[axis] = block_idx.shape[0]
        acc = out[r0:r1]
        np.take(src, block_idx[:, 0], axis=axis, out=acc)
        acc *= block_w[:, 0].reshape(shape)
        tap = np.empty_like(acc)
        for k in range(1, block_idx.shape[1]):  # one tap at a time, always in this order
            np.take(src, block_idx[:, k], axis=axis, out=tap)
            tap *= block_w[:, k].reshape(shape)
            acc += tap
    return out


def resize(img: np.ndarray, height: int, width: int, method: Method) -> np.ndarray:
    """Resize an image along its first two axes.

    Args:
        img: ``(h, w)`` or ``(h, w, channels)`` array (any numeric type; bool masks too).
        height: Output rows, >= 1.
        width: Output columns, >= 1.
        method: ``"linear"``, ``"cubic"`` or ``"area"`` (see the module's docstring).

    Returns:
        A ``float64`` array of ``(height, width)`` plus ``img``'s channels; callers round.

    Raises:
        ValueError: On an unknown method (a programming error).
    """
    out = np.asarray(img, dtype=np.float64)
    # Columns first: the row pass then gathers whole rows, which is the cheaper copy.
    if out.shape[1] != width:
        out = _resize_axis(out, width, 1, method)
    if out.shape[0] != height:
        out = _resize_axis(out, height, 0, method)
    return out
