"""Planted duplicates: the transforms that turn an original phantom (and its masks) into a copy.

Like BUSI, about 8% of a set are copies of other images: exact, resized, cropped, flipped, brightness-shifted or
re-encoded. Every transform carries the lesion masks along so they stay aligned with the copied pixels.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from benchmark.data.synthetic.filters import resize


def planted_copy(
    rng: np.random.Generator, kind: str, rgb: np.ndarray, masks: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], str]:
    """Transform an image and its masks into a planted duplicate; return them with the parameters used.

    Args:
        rng: The copy's own generator (it draws the transform's parameters).
        kind: One of :data:`~benchmark.data.synthetic.config.DUPLICATE_KINDS`.
        rgb: The original's RGB ``uint8`` pixels (not changed).
        masks: The original's ``bool`` masks (not changed).

    Returns:
        ``(rgb, masks, detail)``: the copy, its masks and its parameters as ``key=value`` pairs joined by ``;``
        (empty for an exact copy), e.g. ``"scale=0.812;size=406x317"``.

    Raises:
        ValueError: On an unknown kind (a programming error: the plan only deals out known kinds).
    """
    h, w = rgb.shape[:2]
    if kind == "exact":
        return rgb.copy(), [m.copy() for m in masks], ""
    if kind == "flipped":
        return np.ascontiguousarray(rgb[:, ::-1]), [np.ascontiguousarray(m[:, ::-1]) for m in masks], "horizontal"
    if kind == "resized":
        scale = rng.uniform(0.6, 0.9) if rng.random() < 0.75 else rng.uniform(1.1, 1.3)
        nh, nw = max(8, round(h * scale)), max(8, round(w * scale))
        out = np.clip(np.round(resize(rgb, nh, nw, "area" if scale < 1 else "linear")), 0, 255).astype(np.uint8)
        # Masks resampled as 0/1 and cut at half, like the loader's resize, so they stay aligned with the image.
        outm = [resize(m, nh, nw, "linear") >= 0.5 for m in masks]
        return out, outm, f"scale={scale:.3f};size={nw}x{nh}"
    if kind == "cropped":
        t, b = (int(round(rng.uniform(0.03, 0.08) * h)) for _ in range(2))
        lf, rt = (int(round(rng.uniform(0.03, 0.08) * w)) for _ in range(2))
        crop = (slice(t, h - b), slice(lf, w - rt))
        return rgb[crop].copy(), [m[crop].copy() for m in masks], f"top={t};bottom={b};left={lf};right={rt}"
    if kind == "brightness":
        shift = int(rng.integers(10, 26)) * (1 if rng.random() < 0.5 else -1)
        out = np.clip(rgb.astype(np.int16) + shift, 0, 255).astype(np.uint8)
        return out, [m.copy() for m in masks], f"shift={shift:+d}"
    if kind == "reencoded":
        quality = int(rng.integers(75, 91))
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        # Grey images are JPEG-coded as grey so the copy stays grey in all channels, as the original is.
        img = Image.fromarray(rgb[..., 0] if grey else rgb)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        return dec.copy(), [m.copy() for m in masks], f"jpeg_quality={quality}"
    raise ValueError(f"unknown duplicate kind {kind!r}")
