"""Lesions and lesion-like fat lobules, drawn into a tissue echogenicity map.

Benign lesions are mostly oval, circumscribed, wider-than-tall and sometimes enhanced behind; malignant ones mostly
irregular or spiculated, taller-than-wide, heterogeneous and shadowing. The classes overlap on purpose (some benign
lesions irregular, some malignant ones oval, hypoechoic fat lobules with empty masks in normal images), so a
classifier learns something but not everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from benchmark.data.synthetic.filters import gaussian_blur
from benchmark.data.synthetic.tissue import smooth_field, soft_step


@dataclass(frozen=True)
class Lesion:
    """What was drawn, for the ground-truth table."""

    shape: str  # oval, lobulated, irregular, spiculated
    posterior: str  # enhancement, shadow, none


def _outline(rng: np.random.Generator, theta: np.ndarray, shape: str) -> np.ndarray:
    """Relative radius of a lesion outline at angles ``theta``: 1 for an ellipse, bumps and spikes otherwise."""
    r = np.ones_like(theta)
    if shape == "oval":
        harmonics, amp = range(2, 4), 0.03
    elif shape == "lobulated":
        harmonics, amp = range(3, 7), 0.1
    else:  # irregular and spiculated: angular margins at many scales
        harmonics, amp = range(2, 14), 0.22
    for k in harmonics:
        r += amp * rng.uniform(0.3, 1.0) / math.sqrt(k - 1) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    if shape == "spiculated":
        for _ in range(int(rng.integers(5, 11))):
            d = np.angle(np.exp(1j * (theta - rng.uniform(0, 2 * np.pi))))
            r += rng.uniform(0.12, 0.35) * np.exp(-0.5 * (d / rng.uniform(0.05, 0.12)) ** 2)
    if shape != "oval":
        r += 0.04 * np.cos(rng.integers(18, 30) * theta + rng.uniform(0, 2 * np.pi))  # micro-lobulation
    return np.clip(r, 0.45, None)


def _lesion_mask(
    rng: np.random.Generator, h: int, w: int, shape: str, centre: tuple[float, float], radii: tuple[float, float]
) -> np.ndarray:
    """Rasterise one lesion: pixels whose elliptic radius is inside the outline at their angle."""
    cy, cx = centre
    ry, rx = radii
    tilt = rng.uniform(-0.35, 0.35)
    reach = 1.7 * max(rx, ry)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 1)
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    u = dx * math.cos(tilt) + dy * math.sin(tilt)
    v = -dx * math.sin(tilt) + dy * math.cos(tilt)
    rho = np.hypot(u / rx, v / ry)
    inside = rho <= _outline(rng, np.arctan2(v / ry, u / rx), shape)
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask


def draw_lesion(
    rng: np.random.Generator, e: np.ndarray, label: str, px: float, place: tuple[float, float, float, float]
) -> tuple[np.ndarray, Lesion]:
    """Draw a benign- or malignant-looking lesion into echogenicity ``e`` (in place); return its mask and facts.

    Args:
        rng: This image's generator.
        e: Echogenicity, changed in place (the lesion, its margin, spicules and posterior shadow or enhancement).
        label: ``"benign"`` or ``"malignant"``.
        px: Pixel scale, as in :func:`~benchmark.data.synthetic.tissue.draw_tissue`.
        place: ``(top, bottom, left, right)`` limits in pixels for the lesion's extent.

    Returns:
        The lesion's ``bool`` mask (never empty; spicules are not part of it, as in BUSI) and its facts.
    """
    h, w = e.shape
    malignant = label == "malignant"
    # Shape, orientation and posterior features overlap between classes on purpose.
    if malignant:
        shape = str(rng.choice(["oval", "lobulated", "irregular", "spiculated"], p=[0.15, 0.15, 0.4, 0.3]))
        aspect = rng.uniform(0.8, 1.3) if rng.random() < 0.5 else rng.uniform(0.55, 0.9)  # height / width
        posterior = str(rng.choice(["shadow", "none", "enhancement"], p=[0.7, 0.22, 0.08]))
        size = math.exp(rng.uniform(math.log(0.14), math.log(0.34)))  # half-width / image width
    else:
        shape = str(rng.choice(["oval", "lobulated", "irregular", "spiculated"], p=[0.6, 0.22, 0.15, 0.03]))
        aspect = rng.uniform(0.4, 0.8) if rng.random() < 0.85 else rng.uniform(0.8, 1.15)
        posterior = str(rng.choice(["enhancement", "none", "shadow"], p=[0.45, 0.45, 0.1]))
        size = math.exp(rng.uniform(math.log(0.07), math.log(0.22)))
    top, bottom, left, right = place
    rx = size * w
    ry = min(rx * aspect, 0.33 * (bottom - top))
    rx = min(rx, 0.36 * (right - left))
    # Sonographers centre the lesion: near the middle of the allowed box, rarely at its edges.
    cy = float(np.clip(rng.normal(0.45, 0.12) * (top + bottom), top + 1.4 * ry, max(top + 1.4 * ry, bottom - 1.4 * ry)))
    cx = float(np.clip(rng.normal(0.5, 0.1) * (left + right), left + 1.4 * rx, max(left + 1.4 * rx, right - 1.4 * rx)))
    mask = _lesion_mask(rng, h, w, shape, (cy, cx), (ry, rx))
    if not mask.any():  # tiny images: keep at least the centre pixel so the mask is never empty
        mask[int(cy), int(cx)] = True

    # Interior echoes: cyst-like (nearly anechoic, smooth) to solid and heterogeneous.
    level = rng.uniform(0.03, 0.16) if not malignant else rng.uniform(0.06, 0.25)
    hetero = rng.uniform(0.05, 0.2) if not malignant else rng.uniform(0.15, 0.45)
    inner = level * np.exp(hetero * smooth_field(rng, (h, w), 10 * px, 10 * px))
    edge_blur = (0.8 if shape in ("oval", "lobulated") else 2.5) * px  # circumscribed vs indistinct margins
    soft = gaussian_blur(mask, max(edge_blur, 0.3))
    if malignant and rng.random() < 0.4:  # echogenic halo around an infiltrating margin
        halo = gaussian_blur(mask, 6 * px) - soft
        e *= 1 + 0.6 * np.clip(halo, 0, None)
    e[:] = e * (1 - soft) + inner * soft
    if shape == "spiculated":  # dark spicules reaching out of the mass (not part of the mask, as in BUSI)
        ys, xs = np.nonzero(mask)
        my, mx = ys.mean(), xs.mean()
        spikes = np.zeros((h, w), np.float64)
        for _ in range(int(rng.integers(6, 14))):
            ang, length = rng.uniform(0, 2 * np.pi), rng.uniform(1.2, 2.0) * max(rx, ry)
            end = (int(mx + length * math.cos(ang)), int(my + length * math.sin(ang)))
            cv2.line(spikes, (int(mx), int(my)), end, 1.0, max(1, int(round(1.5 * px))), cv2.LINE_AA)
        e *= 1 - 0.5 * np.clip(spikes, 0, 1) * (1 - soft)

    # Posterior features: a column below the lesion, darker (shadow) or brighter (enhancement), fading with depth.
    if posterior != "none":
        cols = cast(np.ndarray, mask.any(axis=0))  # (axis given: an array)
        bottom_row = np.where(cols, h - 1 - np.argmax(mask[::-1], axis=0), 0).astype(np.float64)
        profile = gaussian_blur(cols[None, :], 1.0, max(3 * px, 0.5))[0]
        rows = np.arange(h, dtype=np.float64)[:, None]
        below = np.clip(rows - bottom_row[None, :], 0, None)
        reach = h * (0.6 if posterior == "shadow" else 0.25)
        weight = profile[None, :] * soft_step((rows - bottom_row[None, :]) / (2 * px)) * np.exp(-below / reach)
        if posterior == "shadow":
            e *= 1 - rng.uniform(0.55, 0.85) * weight
        else:
            e *= 1 + rng.uniform(0.4, 0.9) * weight
    return mask, Lesion(shape, posterior)


def draw_fat_lobules(
    rng: np.random.Generator, e: np.ndarray, px: float, fat_top: np.ndarray, fat_end: np.ndarray
) -> None:
    """Darken a few oval fat lobules: hypoechoic, lesion-like, but not lesions (their masks stay empty).

    Args:
        rng: This image's generator.
        e: Echogenicity, changed in place.
        px: Pixel scale (working pixels per 1/450 of the shorter side).
        fat_top: Top of the fat layer per column (pixels).
        fat_end: Bottom of the fat layer per column (pixels).
    """
    h, w = e.shape
    for _ in range(int(rng.integers(1, 3))):
        cx = rng.uniform(0.15, 0.85) * w
        col = int(np.clip(cx, 0, w - 1))
        cy = rng.uniform(fat_top[col], max(fat_top[col] + 1, fat_end[col]))
        rx = rng.uniform(0.04, 0.1) * w
        shape = "oval" if rng.random() < 0.7 else "lobulated"
        lob = _lesion_mask(rng, h, w, shape, (cy, cx), (rx * rng.uniform(0.4, 0.8), rx))
        soft = gaussian_blur(lob, 2 * px)
        e *= 1 - rng.uniform(0.15, 0.45) * soft

