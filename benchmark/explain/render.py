"""Pictures of Grad-CAM maps: the grey image beside the image with a colour heat overlay (pure, no file I/O)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

#: Overlay opacity where the map is 1; it scales with the map, so where the map is 0 the image shows unchanged.
MAX_ALPHA = 0.6


def heat_overlay(grey: np.ndarray, cam: np.ndarray, max_alpha: float = MAX_ALPHA) -> np.ndarray:
    """The grey image with the map blended on top in the JET colour map.

    The opacity is ``max_alpha * cam`` per pixel (rather than one constant), so regions without evidence are not
    tinted blue and the anatomy stays readable under the map.

    Args:
        grey: uint8 (H, W) image.
        cam: float (H, W) map in [0, 1].
        max_alpha: Opacity where the map is 1.

    Returns:
        uint8 (H, W, 3) RGB image.
    """
    if grey.shape != cam.shape:
        raise ValueError(f"image {grey.shape} and map {cam.shape} differ in size")
    levels = np.clip(np.rint(cam * 255), 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB).astype(np.float32)
    base = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    alpha = (max_alpha * np.clip(cam, 0, 1))[..., None].astype(np.float32)
    return np.clip(np.rint(base * (1 - alpha) + heat * alpha), 0, 255).astype(np.uint8)


def side_by_side(grey: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The grey image (as RGB) on the left and :func:`heat_overlay` on the right: uint8 (H, 2W, 3)."""
    return np.concatenate([np.repeat(grey[..., None], 3, axis=2), heat_overlay(grey, cam)], axis=1)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 (H, W, 3) RGB image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()
