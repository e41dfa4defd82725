"""Write a tiny dataset in BUS-BRA's published layout, with the ground truth the files were made from.

The layout follows Gómez-Flores et al. (Med Phys 2024): ``bus_data.csv``, ``Images/bus_NNNN-s.png``,
``Masks/mask_NNNN-s.png`` and ``<k>-fold-cv.csv`` with ``ID,Pathology,kFold,valid_1..valid_k`` where ``valid_j`` is
NaN for the test images of fold j and 1 (train) or 0 (inner validation) otherwise. Folds are assigned per patient.
Options reproduce the ways the real files may be written (NaN as empty cell or text, floats, padded IDs, BOM).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

COLUMNS = ["ID", "Case", "Histology", "Pathology", "BIRADS", "Device", "Width", "Height", "Side", "BBOX"]


@dataclass
class BusbraFixture:
    """What was written: the folder and, per image ID, the truth the loader must recover."""

    root: Path
    ids: list[str]
    patient: dict[str, str]
    pathology: dict[str, str]
    #: k -> ID -> test fold (1-based).
    test_fold: dict[int, dict[str, int]] = field(default_factory=dict)
    #: k -> ID -> {fold j: 1 (train) or 0 (val)} for the folds where the image is not a test image.
    valid: dict[int, dict[str, dict[int, int]]] = field(default_factory=dict)


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def write_busbra(
    root: Path,
    *,
    n_patients: int = 6,
    images_per_patient: int = 2,
    ks: tuple[int, ...] = (5,),
    seed: int = 0,
    nan_text: str = "",
    float_flags: bool = False,
    pad_ids: bool = False,
    bom: bool = False,
    upper_pathology: bool = False,
) -> BusbraFixture:
    """Write the fixture under ``root`` (created) and return its ground truth.

    Args:
        root: Folder to become the BUS-BRA folder.
        n_patients: Patients (``Case`` 1..n); patients alternate benign/malignant.
        images_per_patient: Images per patient (sides ``l``, ``r``, then ``s1``, ``s2``...).
        ks: Fold files to write (``5`` -> ``5-fold-cv.csv``).
        seed: Seeds pixels and the train/val flags.
        nan_text: How NaN is written in ``valid_j`` (``""`` or ``"NaN"``).
        float_flags: Write 1/0 as ``1.0``/``0.0`` (as pandas does for a column holding NaN).
        pad_ids: Surround IDs with spaces in the fold files.
        bom: Start the CSV files with a UTF-8 byte-order mark.
        upper_pathology: Write Pathology capitalised (``Benign``).
    """
    rng = np.random.default_rng(seed)
    (root / "Images").mkdir(parents=True, exist_ok=True)
    (root / "Masks").mkdir(exist_ok=True)
    sides = ["l", "r"] + [f"s{i}" for i in range(1, images_per_patient)]
    fx = BusbraFixture(root, [], {}, {})
    data_rows = [COLUMNS]
    for p in range(1, n_patients + 1):
        pathology = "benign" if p % 2 else "malignant"
        for side in sides[:images_per_patient]:
            suffix = f"{p:04d}-{side}"
            image_id = f"bus_{suffix}"
            h, w = int(rng.integers(10, 16)), int(rng.integers(12, 18))
            pixels = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "Images" / f"{image_id}.png")
            mask = np.zeros((h, w), dtype=np.uint8)
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
            mask[y:y + 4, x:x + 4] = 255
            Image.fromarray(mask).save(root / "Masks" / f"mask_{suffix}.png")
            shown = pathology.capitalize() if upper_pathology else pathology
            data_rows.append(
                [image_id, str(p), "Fibroadenoma" if pathology == "benign" else "Invasive ductal carcinoma", shown,
                 "3" if pathology == "benign" else "5", "GE", str(w), str(h), "left" if side == "l" else "right",
                 f"[{x}, {y}, 4, 4]"]
            )
            fx.ids.append(image_id)
            fx.patient[image_id] = str(p)
            fx.pathology[image_id] = pathology
    prefix = "\ufeff" if bom else ""
    (root / "bus_data.csv").write_bytes((prefix + _csv_text(data_rows)).encode("utf-8"))

    one, zero = ("1.0", "0.0") if float_flags else ("1", "0")
    for k in ks:
        # Whole patients per test fold, cycling so that every fold gets one when n_patients >= k.
        fold_of_patient = {str(p): (p - 1) % k + 1 for p in range(1, n_patients + 1)}
        # Per fold, about 20% of the non-test patients (at least one) form the inner validation part (flag 0).
        flags: dict[int, dict[str, int]] = {}
        for j in range(1, k + 1):
            rest = [p for p, f in fold_of_patient.items() if f != j]
            val_patients = set(rng.choice(rest, size=max(1, round(0.2 * len(rest))), replace=False).tolist())
            flags[j] = {p: (0 if p in val_patients else 1) for p in rest}
        fx.test_fold[k] = {i: fold_of_patient[fx.patient[i]] for i in fx.ids}
        fx.valid[k] = {i: {j: f[fx.patient[i]] for j, f in flags.items() if fx.patient[i] in f} for i in fx.ids}
        rows = [["ID", "Pathology", "kFold"] + [f"valid_{j}" for j in range(1, k + 1)]]
        for image_id in fx.ids:
            cells = [
                nan_text if j == fx.test_fold[k][image_id] else (one if fx.valid[k][image_id][j] else zero)
                for j in range(1, k + 1)
            ]
            shown_id = f" {image_id} " if pad_ids else image_id
            rows.append([shown_id, fx.pathology[image_id], str(fx.test_fold[k][image_id]), *cells])
        (root / f"{k}-fold-cv.csv").write_bytes((prefix + _csv_text(rows)).encode("utf-8"))
    return fx
