"""Write a tiny dataset in BUS-UCLM's published layout, with the ground truth the files were made from.

The layout follows the release of Vallez et al. (Scientific Data 2025) as its authors' scripts and other readers use
it: ``BUS-UCLM/INFO.csv`` (``Image;Resolution;Label;Doppler;Marks;Combined``), ``BUS-UCLM/images/<PPPP>_<NNN>.png``
and ``BUS-UCLM/masks/<PPPP>_<NNN>.png`` (same name), where ``<PPPP>`` is a four-letter patient code and ``<NNN>``
the zero-padded scan number. Masks are RGB: black background, a green lesion for Benign, a red one for Malignant,
all black for Normal. Options reproduce the ways the real table may be written (separator, BOM, label case).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

COLUMNS = ["Image", "Resolution", "Label", "Doppler", "Marks", "Combined"]
PATIENTS = ("ALWI", "ANFO", "COPE", "ELCO", "FLKA", "MENE")
GREEN = (0, 255, 0)
RED = (255, 0, 0)


@dataclass
class BusuclmFixture:
    """What was written: the ``BUS-UCLM`` folder and, per image file name, the truth the loader must recover."""

    root: Path
    images: list[str]
    patient: dict[str, str]
    label: dict[str, str]
    #: Image file name -> number of lesion (non-black) mask pixels.
    lesion_pixels: dict[str, int] = field(default_factory=dict)
    #: Image file name -> (height, width).
    shape: dict[str, tuple[int, int]] = field(default_factory=dict)


def _label_of(p: int, i: int) -> str:
    """Scan ``i`` of patient ``p``: every third scan normal, the rest benign or malignant by patient parity."""
    if i % 3 == 0:
        return "normal"
    return "benign" if p % 2 == 0 else "malignant"


def write_mask(path: Path, shape: tuple[int, int], colour: tuple[int, int, int] | None,
               box: tuple[int, int, int, int] = (0, 0, 4, 4)) -> int:
    """Write an RGB mask: black, with a ``colour`` rectangle ``box`` = (y, x, h, w) unless ``colour`` is None.

    Returns:
        The number of coloured pixels.
    """
    mask = np.zeros((*shape, 3), dtype=np.uint8)
    if colour is not None:
        y, x, h, w = box
        mask[y:y + h, x:x + w] = colour
    Image.fromarray(mask).save(path)
    return int((mask.max(axis=2) > 0).sum())


def _csv_text(rows: list[list[str]], sep: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def write_busuclm(
    root: Path,
    *,
    n_patients: int = 3,
    images_per_patient: int = 3,
    seed: int = 0,
    sep: str = ";",
    bom: bool = False,
    lower_labels: bool = False,
) -> BusuclmFixture:
    """Write the fixture's ``BUS-UCLM`` folder under ``root`` (created) and return its ground truth.

    Args:
        root: Folder to become the ``BUS-UCLM`` folder.
        n_patients: Patients, coded ``ALWI``, ``ANFO``... (at most 6).
        images_per_patient: Scans per patient, numbered ``000``, ``001``...; scans 0, 3... are normal, the others
            benign (even patients) or malignant (odd patients).
        seed: Seeds pixels, sizes and lesion positions.
        sep: Separator of ``INFO.csv`` (``;`` as released, or ``,``).
        bom: Start ``INFO.csv`` with a UTF-8 byte-order mark.
        lower_labels: Write labels lower-case (``benign``) instead of ``Benign``.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    fx = BusuclmFixture(root, [], {}, {})
    rows = [COLUMNS]
    for p in range(n_patients):
        code = PATIENTS[p]
        for i in range(images_per_patient):
            name = f"{code}_{i:03d}.png"
            label = _label_of(p, i)
            h, w = int(rng.integers(10, 16)), int(rng.integers(12, 18))
            pixels = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / name)
            colour = None if label == "normal" else GREEN if label == "benign" else RED
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
            area = write_mask(root / "masks" / name, (h, w), colour, (y, x, 4, 4))
            shown = label if lower_labels else label.capitalize()
            rows.append([name, f"{w}x{h}", shown, "No", "Yes" if i % 2 else "No", "No"])
            fx.images.append(name)
            fx.patient[name] = code
            fx.label[name] = label
            fx.lesion_pixels[name] = area
            fx.shape[name] = (h, w)
    prefix = "\ufeff" if bom else ""
    (root / "INFO.csv").write_bytes((prefix + _csv_text(rows, sep)).encode("utf-8"))
    return fx
