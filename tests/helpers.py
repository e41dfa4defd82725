"""Small builders for test datasets in the BUSI layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Write an array as PNG (optionally converting to a PIL mode such as '1', 'L', 'RGB', 'RGBA')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if mode is not None:
        img = img.convert(mode)
    img.save(path)
    return path


def tiny_busi(root: Path, per_class: int = 3, size: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    """Write a tiny BUSI-layout dataset of random images with a square lesion (none for normal); return its root."""
    rng = np.random.default_rng(seed)
    base = root / "Dataset_BUSI_with_GT"
    for label in ("normal", "benign", "malignant"):
        for n in range(1, per_class + 1):
            image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            mask = np.zeros(size, dtype=np.uint8)
            if label != "normal":
                mask[4:12, 5:15] = 255
            write_png(base / label / f"{label} ({n}).png", image)
            write_png(base / label / f"{label} ({n})_mask.png", mask)
    return root
