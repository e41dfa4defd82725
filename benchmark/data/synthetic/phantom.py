"""One phantom image: tissue and lesions drawn at a working size, shrunk, framed, annotated and coloured.

:func:`render_phantom` is the whole drawing of one image from its own seed; the burnt-in extras BUSI images carry
(a dark frame around the scan, calipers and text, a Doppler-like colour box) are drawn here too.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from benchmark.data.synthetic.filters import resize
from benchmark.data.synthetic.lesions import Lesion, draw_fat_lobules, draw_lesion
from benchmark.data.synthetic.tissue import SITES, draw_tissue, smooth_field, to_bmode

# Longer side at which small phantoms are drawn before shrinking (see render_phantom).
_MIN_WORK_SIDE = 360


def _image_size(rng: np.random.Generator, size: int | None) -> tuple[int, int]:
    """(height, width): BUSI-like when ``size`` is None, else the longer side in about [0.75 size, size]."""
    aspect = rng.uniform(0.72, 0.95)
    if size is None:
        w = int(round(rng.triangular(400, 500, 640)))
        return int(np.clip(round(w * aspect), 300, 560)), w
    w = int(round(rng.uniform(0.75, 1.0) * size))
    return max(8, int(round(w * aspect))), w


def _frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray | None:
    """Where the scan is (True) in images that show a dark background around it: a box or a sector; else None."""
    pick = rng.random()
    if pick < 0.65:
        return None
    if pick < 0.9:  # dark margins around a linear-probe rectangle
        frame = np.zeros((h, w), dtype=bool)
        t, b = int(rng.uniform(0, 0.06) * h), int(rng.uniform(0, 0.07) * h)
        lft, rgt = int(rng.uniform(0.01, 0.08) * w), int(rng.uniform(0.01, 0.08) * w)
        frame[t : h - b, lft : w - rgt] = True
        return frame
    # Sector of a convex probe: apex above the image.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    apex_y, apex_x = -rng.uniform(0.4, 1.0) * h, w / 2 + rng.uniform(-0.03, 0.03) * w
    ang = np.arctan2(xx - apex_x, yy - apex_y)
    rad = np.hypot(xx - apex_x, yy - apex_y)
    half = math.atan2(0.5 * w * rng.uniform(0.85, 1.0), h - apex_y)
    return (np.abs(ang) <= half) & (rad >= -apex_y + rng.uniform(0, 0.04) * h) & (rad <= h - apex_y - 2)


def _annotate(rng: np.random.Generator, grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> str:
    """Burn calipers (across a lesion, or anywhere) and/or text into the image; return what was drawn."""
    h, w = grey.shape
    what = []
    colour = float(rng.uniform(200, 255))
    scale = max(0.25, min(h, w) / 900)
    thick = max(1, int(round(min(h, w) / 400)))
    pick = rng.random()
    if pick < 0.7:
        if boxes:
            y0, x0, y1, x1 = boxes[0]
            ends = [((x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2)), (((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1))]
        else:
            cy, cx = int(rng.uniform(0.3, 0.7) * h), int(rng.uniform(0.3, 0.7) * w)
            d = int(rng.uniform(0.05, 0.15) * w)
            ends = [((cx - d, cy), (cx + d, cy))]
        arm = max(2, int(round(min(h, w) / 70)))
        for (ax, ay), (bx, by) in ends[: 1 + int(rng.random() < 0.6)]:
            for x, y in ((ax, ay), (bx, by)):
                cv2.line(grey, (x - arm, y), (x + arm, y), colour, thick)
                cv2.line(grey, (x, y - arm), (x, y + arm), colour, thick)
            steps = max(2, int(math.hypot(bx - ax, by - ay) / max(3, 2 * arm)))
            for k in range(1, steps):  # dotted measuring line
                x, y = int(ax + (bx - ax) * k / steps), int(ay + (by - ay) * k / steps)
                cv2.circle(grey, (x, y), thick, colour, -1)
        what.append("calipers")
    if pick > 0.4:
        text = str(rng.choice(["RT", "LT", "R 10:00", "L 2:00", "R 3 CM FN", "L 9:30", "BREAST", "L RAD", "R ARAD"]))
        org = (int(rng.uniform(0.03, 0.5) * w), int(rng.uniform(0.06, 0.95) * h))
        cv2.putText(grey, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
        what.append("text")
    return "+".join(what)


def _colour_overlay(rng: np.random.Generator, rgb: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Paint a Doppler-like colour box: a grey outline and red/blue flow blobs inside it (in place)."""
    h, w = rgb.shape[:2]
    y0, x0, y1, x1 = box
    pad = max(2, int(0.05 * w))
    y0, x0, y1, x1 = max(0, y0 - pad), max(0, x0 - pad), min(h - 1, y1 + pad), min(w - 1, x1 + pad)
    cv2.rectangle(rgb, (x0, y0), (x1, y1), (170, 170, 170), 1)
    bh, bw = y1 - y0, x1 - x0
    if bh < 4 or bw < 4:
        return
    flow = smooth_field(rng, (bh, bw), max(2.0, bh / 5), max(2.0, bw / 5))
    red, blue = flow > 1.2, flow < -1.3
    sub = rgb[y0:y1, x0:x1]
    strength = np.clip(np.abs(flow) - 1.0, 0, 1.5) / 1.5
    sub[red] = np.stack([200 + 55 * strength[red], 40 + 160 * strength[red], 20 * np.ones(red.sum())], 1).astype(
        np.uint8
    )
    sub[blue] = np.stack([20 * np.ones(blue.sum()), 60 + 120 * strength[blue], 200 + 55 * strength[blue]], 1).astype(
        np.uint8
    )


def _shrink_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Shrink a mask by area averaging and cut at half coverage, keeping at least its best-covered pixel."""
    cover = resize(mask, h, w, "area")
    out = cover >= 0.5
    if not out.any() and mask.any():
        out[np.unravel_index(int(np.argmax(cover)), cover.shape)] = True
    return out


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())


def render_phantom(
    label: str, seed: int | list[int], size: int | None = None, *, colour: bool = False, annotate: bool = False,
    site: str = "a",
) -> tuple[np.ndarray, list[np.ndarray], dict[str, str | int]]:
    """Draw one phantom image.

    Args:
        label: ``"normal"``, ``"benign"`` or ``"malignant"``.
        seed: Seed of this image (anything ``numpy.random.default_rng`` takes).
        size: As :attr:`~benchmark.data.synthetic.config.SyntheticConfig.size`.
        colour: Add a Doppler-like colour overlay.
        annotate: Burn in calipers and/or text.
        site: The scanner look (:data:`~benchmark.data.synthetic.tissue.SITES`).

    Returns:
        ``(rgb, masks, facts)``: RGB ``uint8`` image, one ``bool`` mask per lesion (one empty mask for normal
        images), and facts (``n_lesions``, ``shape``, ``posterior``, ``annotations``, ``colour``).
    """
    rng = np.random.default_rng(seed)
    h, w = _image_size(rng, size)
    # Small images are drawn at a working size and shrunk, so their speckle is averaged the way a downsampled
    # scan's is, instead of being one-pixel noise.
    zoom = max(1.0, _MIN_WORK_SIDE / max(h, w))
    wh, ww = int(round(h * zoom)), int(round(w * zoom))
    px = min(wh, ww) / 450  # pixel scale: textures look the same at every size
    e, skin, fat_end = draw_tissue(rng, wh, ww, px)
    # Normal images get several lesion-like fat lobules; lesion images get some too, so darkness alone is no tell.
    if label == "normal" or rng.random() < 0.25:
        draw_fat_lobules(rng, e, px, skin + 0.02 * wh, fat_end)
    masks: list[np.ndarray] = []
    lesions: list[Lesion] = []
    if label != "normal":
        top, bottom = 0.12 * wh, 0.8 * wh
        # Usually one lesion; sometimes two side by side, each in its own half.
        spans = [(0.12 * ww, 0.88 * ww)] if rng.random() >= 0.06 else [(0.12 * ww, 0.5 * ww), (0.5 * ww, 0.88 * ww)]
        for lo, hi in spans:
            m, les = draw_lesion(rng, e, label, px, (top, bottom, lo, hi))
            masks.append(m)
            lesions.append(les)
    grey = to_bmode(rng, e, px, SITES[site])
    if zoom > 1:
        grey = resize(grey, h, w, "area")
        masks = [_shrink_mask(m, h, w) for m in masks]
    frame = _frame(rng, h, w)
    if frame is not None:
        grey = np.where(frame, grey, rng.uniform(0, 6))
    grey8 = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    boxes = [_box(m) for m in masks]
    annotations = _annotate(rng, grey8, boxes) if annotate else ""
    rgb = np.repeat(grey8[..., None], 3, axis=2)
    if colour:
        box = boxes[0] if boxes else (int(0.3 * h), int(0.3 * w), int(0.6 * h), int(0.7 * w))
        _colour_overlay(rng, rgb, box)
    if not masks:
        masks = [np.zeros((h, w), dtype=bool)]
    facts: dict[str, str | int] = {
        "n_lesions": len(lesions),
        "shape": "+".join(les.shape for les in lesions) or "none",
        "posterior": "+".join(les.posterior for les in lesions) or "none",
        "annotations": annotations or "none",
        "colour": int(colour),
    }
    return rgb, masks, facts

