"""Healthy breast tissue as a B-mode image: layered echogenicity, speckle, depth attenuation, log compression.

The tissue is skin, subcutaneous fat with Cooper's ligaments, a glandular layer, pectoral muscle and the chest
wall, with wavy boundaries; :func:`draw_tissue` gives its echogenicity (lesions are then drawn into it, see
``lesions``) and :func:`to_bmode` turns that into speckled 8-bit grey levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmark.data.synthetic.filters import gaussian_blur, resize


@dataclass(frozen=True)
class ScannerLook:
    """How a scanner renders tissue: what differs between two sites imaging the same kind of breasts.

    Each range is what one image's value is drawn from.

    Attributes:
        attenuation: Depth fall-off exponent (echo amplitude falls as ``exp(-a * depth)``, depth 0-1).
        lateral_blur: Speckle grain width in pixel-scale units (lateral resolution; wider is blurrier).
        axial_blur: Speckle grain height in the same units (axial resolution).
        speckle_power: Exponent restoring speckle contrast after the blur (lower is smoother speckle).
        dynamic_range_db: Displayed dynamic range (higher is flatter contrast).
        gain: Echo level shown as white (lower is a brighter image).
    """

    attenuation: tuple[float, float]
    lateral_blur: float
    axial_blur: float
    speckle_power: tuple[float, float]
    dynamic_range_db: tuple[float, float]
    gain: tuple[float, float]


#: The scanner looks of the synthetic sites: ``a`` imitates BUSI (the default); ``b`` is another scanner with
#: stronger depth fall-off, coarser and smoother speckle, flatter contrast and more gain, for external validation.
SITES = {
    "a": ScannerLook(attenuation=(0.5, 1.2), lateral_blur=2.0, axial_blur=0.9, speckle_power=(1.6, 2.2),
                     dynamic_range_db=(38, 46), gain=(3.2, 4.6)),
    "b": ScannerLook(attenuation=(1.3, 2.0), lateral_blur=3.4, axial_blur=1.5, speckle_power=(1.2, 1.5),
                     dynamic_range_db=(50, 58), gain=(2.0, 2.8)),
}


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell_y: float, cell_x: float) -> np.ndarray:
    """A smooth random field (zero mean, unit spread) whose features are about ``cell`` pixels across.

    Drawn on a coarse grid and upsampled bicubically: as smooth as a wide Gaussian blur, a fraction of the cost.

    Args:
        rng: This image's generator.
        shape: ``(height, width)`` of the field.
        cell_y: Feature size along rows (pixels); larger than ``cell_x`` gives vertical streaks.
        cell_x: Feature size along columns (pixels).

    Returns:
        A ``float64`` array of ``shape``.
    """
    h, w = shape
    gh, gw = max(2, int(h / max(cell_y, 1.0)) + 2), max(2, int(w / max(cell_x, 1.0)) + 2)
    coarse = rng.standard_normal((gh, gw))
    f = resize(coarse, h, w, "cubic")
    f -= f.mean()
    return f / (f.std() + 1e-6)


def _wave(rng: np.random.Generator, w: int, amp: float, cell: float) -> np.ndarray:
    """A wavy 1-D boundary offset (pixels) across ``w`` columns: a sine plus smooth noise."""
    x = np.arange(w, dtype=np.float64)
    f = rng.uniform(0.5, 2.0) / w
    sine = np.sin(2 * np.pi * f * x + rng.uniform(0, 2 * np.pi))
    noise = smooth_field(rng, (1, w), 1.0, cell)[0]
    return amp * (0.6 * sine + 0.6 * noise)


def soft_step(z: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Soft step 0 -> 1 around ``z = 0`` (logistic, ``1 / (1 + exp(-clip(z, -30, 30)))``), for blending layers.

    Args:
        z: Where to evaluate it.
        overwrite: Compute in ``z``'s own memory (``z`` must be a ``float64`` array the caller no longer needs).
    """
    out = z if overwrite else np.array(z, dtype=np.float64)
    np.clip(out, -30, 30, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.divide(1.0, out, out=out)


def _gauss_line(offset: np.ndarray, width: float) -> np.ndarray:
    """``exp(-(offset / width) ** 2)``, computed in ``offset``'s memory (a fresh array)."""
    offset /= width
    np.square(offset, out=offset)
    np.negative(offset, out=offset)
    return np.exp(offset, out=offset)


def _blend(e: np.ndarray, layer: np.ndarray, z: np.ndarray) -> None:
    """``e += (layer - e) * soft_step(z)`` in place; ``z`` (a fresh array) is used up."""
    step = soft_step(z, overwrite=True)
    diff = np.subtract(layer, e)
    diff *= step
    e += diff


def draw_tissue(rng: np.random.Generator, h: int, w: int, px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Echogenicity of the layered breast (no speckle yet), and the fat layer's top and bottom per column.

    Args:
        rng: This image's generator.
        h: Height of the working image (pixels).
        w: Width of the working image (pixels).
        px: Pixel scale (working pixels per 1/450 of the shorter side), so textures look alike at every size.

    Returns:
        ``(echogenicity, skin, fat_end)``: a ``float64`` ``(h, w)`` map (about 0-1, brighter is more echoic) and
        the skin line and the bottom of the fat layer per column (pixels).
    """
    rows = np.arange(h, dtype=np.float64)[:, None]
    skin = h * rng.uniform(0.03, 0.06) + _wave(rng, w, 2 * px, 120 * px)
    fat_end = skin + h * rng.uniform(0.12, 0.3) + _wave(rng, w, 14 * px, 90 * px)
    gland_end = fat_end + h * rng.uniform(0.2, 0.35) + _wave(rng, w, 18 * px, 80 * px)
    muscle_end = gland_end + h * rng.uniform(0.12, 0.22) + _wave(rng, w, 10 * px, 110 * px)
    soft = 3.0 * px

    near = np.full((h, w), 0.12, np.float64)
    # Fat: hypoechoic lobules separated by bright curved septa (Cooper's ligaments = contour lines of a field).
    septa_field = smooth_field(rng, (h, w), 22 * px, 60 * px)
    fat = 0.24 + 0.04 * smooth_field(rng, (h, w), 40 * px, 40 * px) + 0.3 * np.exp(-((septa_field / 0.09) ** 2))
    # Glandular tissue: brighter, streaky along the skin, with a few dark ducts.
    streaks = smooth_field(rng, (h, w), 3 * px, 45 * px)
    gland = 0.62 + 0.1 * smooth_field(rng, (h, w), 30 * px, 30 * px) + 0.16 * streaks
    gland *= 1 - 0.5 * soft_step((smooth_field(rng, (h, w), 8 * px, 60 * px) - 1.6) * 6)
    # Pectoral muscle: fibres nearly along the skin, bright fascia on top.
    fibres = smooth_field(rng, (h, w), 2.5 * px, 70 * px)
    muscle = 0.42 + 0.14 * fibres
    deep = 0.12 + 0.015 * smooth_field(rng, (h, w), 30 * px, 30 * px)

    # Blended in place (the arithmetic of e = e + (layer - e) * soft_step(z), one layer after another).
    e = near
    _blend(e, fat, (rows - skin) / soft)
    _blend(e, gland, (rows - fat_end) / soft)
    _blend(e, muscle, (rows - gland_end) / soft)
    _blend(e, deep, (rows - muscle_end) / (2 * soft))
    e += 0.9 * _gauss_line(rows - skin, 2.2 * px)  # skin line
    e += 0.5 * _gauss_line(rows - gland_end, 2.5 * px)  # fascia over the muscle
    if rng.random() < 0.5:  # pleura / rib surface far down
        e += 0.45 * _gauss_line(rows - muscle_end - h * 0.06, 3 * px)
    return np.clip(e, 0.02, None, out=e), skin, fat_end



def to_bmode(rng: np.random.Generator, e: np.ndarray, px: float, look: ScannerLook = SITES["a"]) -> np.ndarray:
    """Attenuate with depth, apply multiplicative Rayleigh speckle and log-compress to 8-bit grey.

    Args:
        rng: This image's generator.
        e: Echogenicity (not changed).
        px: Pixel scale, as in :func:`draw_tissue`.
        look: The scanner's rendering (:data:`SITES`).

    Returns:
        Grey levels 0-255 as ``float64`` (rounded later, after any shrinking).
    """
    h, w = e.shape
    depth = np.linspace(0, 1, h, dtype=np.float64)[:, None]
    e = e * np.exp(-rng.uniform(*look.attenuation) * depth)
    e *= 1 - rng.uniform(0, 0.3) * np.abs(np.linspace(-1, 1, w, dtype=np.float64)[None, :]) ** 4
    speckle = rng.rayleigh(1.0, (h, w))
    # Speckle grains are wider than tall (lateral resolution is worse than axial).
    speckle = gaussian_blur(speckle, max(look.axial_blur * px, 0.3), max(look.lateral_blur * px, 0.4))
    speckle /= speckle.mean()
    # The blur tames the contrast; restore a speckle spread.
    np.power(speckle, rng.uniform(*look.speckle_power), out=speckle)
    speckle /= speckle.mean()
    dyn = rng.uniform(*look.dynamic_range_db)
    top = 20 * math.log10(rng.uniform(*look.gain))
    # grey = 255 * clip(1 + (20 log10(e * speckle + 1e-4) - top) / dyn, 0, 1), in the speckle's memory.
    grey = np.multiply(e, speckle, out=speckle)
    grey += 1e-4
    np.log10(grey, out=grey)
    grey *= 20
    grey -= top
    grey /= dyn
    grey += 1
    np.clip(grey, 0, 1, out=grey)
    grey *= 255
    return grey

