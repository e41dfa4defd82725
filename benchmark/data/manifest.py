"""Datasets described by a CSV manifest, and exporting any dataset as one.

A manifest lets any public breast-ultrasound dataset load without new code. It is a UTF-8 CSV file (a byte-order
mark is allowed) with a header row; column names are matched case-insensitively, unknown columns are ignored (so an
exported manifest, which adds ``fingerprint``, loads back) and blank lines are skipped.

=========  ========  ==================================================================================================
column     required  meaning
=========  ========  ==================================================================================================
image      yes       image file, relative to the manifest's folder or absolute
label      yes       ``normal``, ``benign`` or ``malignant`` (any case); busbench scores these three classes and
                     malignant-vs-rest, so any other label is an error
mask       no        lesion mask file(s); several masks of one image are separated by ``;`` and united
group      no        patient (or other) id, recorded as the case's group
fold       no        predefined test fold, a non-negative integer; given for every row or for none
case_id    no        stable id; default ``case_id_from_name(<image file stem>)``
=========  ========  ==================================================================================================

Rules a user should know:

* Empty cells of optional columns mean "none". Row numbers in messages count the header as row 1, as a spreadsheet
  shows them.
* Masks: if no row has a mask the dataset has none (classification only). If any row has one, every benign and
  malignant row needs one; a normal row without a mask gets an empty (all-background) mask, the BUSI convention
  for images without a lesion.
* Files may lie outside the manifest's folder (absolute paths or ``../``): the dataset is then rooted at the
  deepest folder holding the manifest and every file, and only the listed files are ever read.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from benchmark.data.case import Case, case_id_from_name
from benchmark.data.csvtable import format_rows, read_csv_table
from benchmark.data.dataset import Dataset
from benchmark.data.source import DirSource
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_text

#: Classes of every manifest dataset: the BUSI order, all three kept so that every dataset is scored the same way.
MANIFEST_CLASSES = ("normal", "benign", "malignant")
#: Columns written by :func:`write_manifest`, in this order.
EXPORT_COLUMNS = ("case_id", "image", "label", "mask", "group", "fold", "fingerprint")
_REQUIRED = ("image", "label")


class ManifestSource(DirSource):
    """A folder source that lists only the files a manifest names.

    A manifest may point anywhere (its root can be ``/``), so walking the root would be slow and meaningless;
    the identity includes the manifest's path so that two manifests over one folder keep separate caches.
    """

    def __init__(self, root: str | os.PathLike[str], manifest: Path, listed: Sequence[str]):
        super().__init__(root)
        self.manifest = manifest
        self._files = sorted(set(listed))
        self._dirs = sorted({str(parent) for f in self._files for parent in PurePosixPath(f).parents[:-1]})

    @property
    def identity(self) -> str:  # noqa: D102
        return f"{self.location}|manifest={self.manifest}"


class ManifestDataset(Dataset):
    """A dataset from a manifest: normal cases without a mask file get an empty mask when the dataset has masks."""

    def decode(self, case: Case) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: D102
        rgb, mask = super().decode(case)
        if mask is None and self.has_masks:
            mask = np.zeros(rgb.shape[:2], dtype=bool)
        return rgb, mask


@dataclass
class _Row:
    line: int
    case_id: str
    label: str
    image: str  # absolute, normalised
    masks: tuple[str, ...]  # absolute, normalised
    group: str | None
    fold: int | None


def _parse_fold(text: str, where: str, line: int) -> int | None:
    if not text:
        return None
    # pandas writes an integer column holding gaps as floats ("3.0"); accept integral floats.
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0 and value.is_integer()):
        raise BusbenchError(where, f"row {line}: bad fold value {text!r} (expected a non-negative integer)")
    return int(value)


def _resolve(base: Path, text: str) -> str:
    p = Path(text)
    return os.path.normpath(p if p.is_absolute() else base / p)


def load_manifest(path: str | os.PathLike[str]) -> Dataset:
    """Load a dataset from a CSV manifest (format in this module's docstring).

    Args:
        path: The manifest ``.csv`` file.

    Returns:
        The dataset, named after the file stem, kind ``"manifest"``, classes ``normal, benign, malignant``.

    Raises:
        BusbenchError: One line naming the file (and row) for: a missing file, undecodable or malformed CSV, an
            empty manifest, missing required columns, an empty image cell, an unknown label, a missing image or
            mask file, a repeated image, a duplicate case id, a bad or partial fold column, or lesion rows
            without masks in a manifest that has masks.

    """
    csv_path = Path(path).absolute()
    where = str(path)
    if not csv_path.is_file():
        raise BusbenchError(where, "does not exist" if not csv_path.exists() else "is not a file")
    table = read_csv_table(csv_path.read_bytes(), where)
    missing = [c for c in _REQUIRED if c not in table.header]
    if missing:
        raise BusbenchError(
            where,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(table.header) or 'none'})",
        )
    if not table.rows:
        raise BusbenchError(where, "is an empty manifest (a header but no rows)")
    base = csv_path.parent
    rows: list[_Row] = []
    id_row: dict[str, int] = {}
    image_row: dict[str, int] = {}
    for line, cells in table.rows:
        image_text = cells["image"]
        if not image_text:
            raise BusbenchError(where, f"row {line}: the image cell is empty")
        label = cells["label"].lower()
        if label not in MANIFEST_CLASSES:
            raise BusbenchError(
                where, f"row {line}: unknown label {cells['label']!r} (expected {', '.join(MANIFEST_CLASSES)})"
            )
        image = _resolve(base, image_text)
        if not os.path.isfile(image):
            raise BusbenchError(where, f"row {line}: image file not found: {image}")
        if image in image_row:
            raise BusbenchError(where, f"row {line}: image {image_text!r} is already listed in row {image_row[image]}")
        image_row[image] = line
        masks = []
        for part in cells.get("mask", "").split(";"):
            if part.strip():
                mask = _resolve(base, part.strip())
                if not os.path.isfile(mask):
                    raise BusbenchError(where, f"row {line}: mask file not found: {mask}")
                masks.append(mask)
        fold = _parse_fold(cells.get("fold", ""), where, line)
        case_id = cells.get("case_id", "") or case_id_from_name(Path(image_text).stem)
        if not case_id:
            raise BusbenchError(
                where, f"row {line}: no case id can be derived from {image_text!r}; add a case_id column"
            )
        if case_id in id_row:
            hint = "" if cells.get("case_id") else " (derived from the file name; add a case_id column)"
            raise BusbenchError(where, f"row {line}: duplicate case id {case_id!r}, also row {id_row[case_id]}{hint}")
        id_row[case_id] = line
        rows.append(_Row(line, case_id, label, image, tuple(masks), cells.get("group") or None, fold))

    has_masks = any(r.masks for r in rows)
    if has_masks:
        unmasked = [r.line for r in rows if not r.masks and r.label != "normal"]
        if unmasked:
            raise BusbenchError(
                where,
                f"{format_rows(unmasked)}: benign/malignant image without a mask while other rows have masks "
                "(give every lesion image a mask, or leave the mask column empty throughout)",
            )
    with_fold = [r for r in rows if r.fold is not None]
    if with_fold and len(with_fold) < len(rows):
        without = [r.line for r in rows if r.fold is None]
        raise BusbenchError(
            where, f"{format_rows(without)}: fold is empty while other rows give one (give a fold for all or none)"
        )

    files = [f for r in rows for f in (r.image, *r.masks)]
    try:
        root = os.path.commonpath([str(base), *files])
    except ValueError as exc:  # different drives on Windows
        raise BusbenchError(where, f"its files share no common folder ({exc})") from exc

    def rel(p: str) -> str:
        return Path(os.path.relpath(p, root)).as_posix()

    source = ManifestSource(root, csv_path, [rel(f) for f in files])
    cases = [
        Case(r.case_id, r.label, rel(r.image), tuple(rel(m) for m in r.masks), r.group, r.fold) for r in rows
    ]
    return ManifestDataset(csv_path.stem, source, cases, MANIFEST_CLASSES, has_masks=has_masks, kind="manifest")


def manifest_rows(dataset: Dataset) -> list[dict[str, str]]:
    """One manifest row per case, in the dataset's order.

    Args:
        dataset: Any loaded dataset; its pixel fingerprints are computed (or read from the cache).

    Returns:
        Dicts with keys ``EXPORT_COLUMNS``: ``image`` and ``mask`` are relative to the dataset's source root
        (masks ``;``-joined), empty strings stand for no mask, group or fold.

    Raises:
        BusbenchError: If a file is unreadable, or a mask path contains ``;`` (the manifest's mask separator).

    """
    facts = dataset.facts()
    out = []
    for case in dataset.cases:
        for rel in case.masks:
            if ";" in rel:
                raise BusbenchError(dataset.source.display(rel), "a mask path with ';' cannot be written to a manifest")
        out.append(
            {
                "case_id": case.case_id,
                "image": case.image,
                "label": case.label,
                "mask": ";".join(case.masks),
                "group": case.group or "",
                "fold": "" if case.fold is None else str(case.fold),
                "fingerprint": facts[case.case_id].fingerprint,
            }
        )
    return out


def write_manifest(dataset: Dataset, out: str | os.PathLike[str] | None = None, fmt: str = "csv") -> str:
    """Export a dataset as a manifest (``csv``, loadable by :func:`load_manifest`) or as ``json``.

    Paths are relative to the dataset's source root. When ``out`` is given for a folder dataset and lies in another
    folder, paths are rewritten relative to ``out``'s folder so that the written CSV loads from where it is. (A zip
    dataset's paths are archive members: its manifest loads only next to the unpacked archive.)

    Args:
        dataset: The dataset to export.
        out: File to write atomically, or ``None`` to only return the text.
        fmt: ``"csv"`` (columns ``EXPORT_COLUMNS``) or ``"json"`` (an object with the dataset name, kind and
            fingerprint, and ``cases``: the same rows).

    Returns:
        The text written (or that would be written).

    Raises:
        BusbenchError: On an unknown format or an unreadable file.

    """
    if fmt not in ("csv", "json"):
        raise BusbenchError(f"format {fmt!r}", "unknown manifest format (expected csv or json)")
    rows = manifest_rows(dataset)
    if out is not None and isinstance(dataset.source, DirSource):
        out_dir = Path(out).absolute().parent.resolve()  # resolved like the source root, so relpath is exact
        root = dataset.source.location
        if out_dir != root:

            def moved(rel: str) -> str:
                return Path(os.path.relpath(root / rel, out_dir)).as_posix()

            for row in rows:
                row["image"] = moved(row["image"])
                row["mask"] = ";".join(moved(m) for m in row["mask"].split(";") if m)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        doc = {"dataset": dataset.name, "kind": dataset.kind, "fingerprint": dataset.fingerprint(), "cases": rows}
        text = json.dumps(doc, indent=1) + "\n"
    if out is not None:
        atomic_write_text(out, text)
    return text
