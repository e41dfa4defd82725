"""Importer for BUS-BRA (Gómez-Flores et al., Med Phys 2024) in its published layout.

Layout (the unpacked ``BUSBRA`` folder; its parent, with that one folder inside, works too)::

    bus_data.csv      ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX
    Images/bus_0001-l.png ...
    Masks/mask_0001-l.png ...
    5-fold-cv.csv     ID,Pathology,kFold,valid_1,...,valid_5
    10-fold-cv.csv    ID,Pathology,kFold,valid_1,...,valid_10

``ID`` names the image (``Images/<ID>.png``; its mask is ``Masks/mask_<ID without "bus_">.png``), ``Case`` the
patient and ``Pathology`` the biopsy result (benign or malignant; BUS-BRA has no normal images). In a fold file
``kFold`` is the fold in which the image is a test image; column ``valid_j`` holds NaN for the test images of fold
j and, for the other images, 1 (training part) or 0 (inner validation part).

Only cheap checks run at load (columns, labels, file presence); pixels are checked when decoded. The reader is
liberal where the real files plausibly vary: a byte-order mark, non-UTF-8 text, spaces around cells, the case of
column names and of Pathology, NaN written as an empty cell or ``NaN``, and 0/1 written as ``0.0``/``1.0``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchmark.data.case import Case, case_id_from_name
from benchmark.data.csvtable import CsvTable, format_rows, read_csv_table
from benchmark.data.dataset import Dataset
from benchmark.data.source import FileSource, open_source
from benchmark.errors import BusbenchError, list_some

#: Classes of BUS-BRA as loaded: the BUSI order, so that one evaluator scores every dataset (normal stays empty).
BUSBRA_CLASSES = ("normal", "benign", "malignant")
DATA_CSV = "bus_data.csv"
_PATHOLOGIES = ("benign", "malignant")
_ID_PREFIX = "bus_"


@dataclass(frozen=True)
class _Entry:
    line: int
    image_id: str  # the ID cell, e.g. "bus_0001-l"
    patient: str
    pathology: str


def _locate(source: FileSource) -> str | None:
    """Find the prefix (``""`` or ``"<folder>/"``) under which ``bus_data.csv`` and ``Images/`` lie, or ``None``."""
    files, dirs = set(source.files()), set(source.dirs())
    for prefix in ["", *(f"{d}/" for d in sorted(dirs) if "/" not in d)]:
        if f"{prefix}{DATA_CSV}" in files and f"{prefix}Images" in dirs:
            return prefix
    return None


def is_busbra(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` is a BUS-BRA folder: it (or its one sub-folder) holds ``bus_data.csv`` and ``Images/``.

    Only folders are recognised, by a cheap look at two levels; a ``.zip`` of BUS-BRA also loads with
    :func:`load_busbra`, which checks archives itself.
    """
    p = Path(path)
    if not p.is_dir():
        return False

    def holds(folder: Path) -> bool:
        return (folder / DATA_CSV).is_file() and (folder / "Images").is_dir()

    try:
        return holds(p) or any(holds(c) for c in p.iterdir() if c.is_dir() and not c.name.startswith("."))
    except OSError:  # an unreadable folder is not recognisably BUS-BRA; loading it reports the real problem
        return False


def _open(path: str | os.PathLike[str]) -> tuple[FileSource, str]:
    source = open_source(path)
    prefix = _locate(source)
    if prefix is None:
        raise BusbenchError(path, f"is not a BUS-BRA folder (no {DATA_CSV} next to an Images/ folder)")
    return source, prefix


def _table(source: FileSource, rel: str) -> CsvTable:
    return read_csv_table(source.read(rel), source.display(rel), lenient_encoding=True)


def _require(table: CsvTable, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.header]
    if missing:
        raise BusbenchError(
            table.where,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (found: {', '.join(table.header)})",
        )
    if not table.rows:
        raise BusbenchError(table.where, "has a header but no rows")


def _read_entries(source: FileSource, prefix: str) -> list[_Entry]:
    """Rows of ``bus_data.csv`` with ID, patient and pathology checked."""
    table = _table(source, f"{prefix}{DATA_CSV}")
    _require(table, ["id", "case", "pathology"])
    entries: list[_Entry] = []
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        image_id = cells["id"]
        if not image_id:
            raise BusbenchError(table.where, f"row {line}: the ID cell is empty")
        if not image_id.startswith(_ID_PREFIX) or len(image_id) == len(_ID_PREFIX):
            raise BusbenchError(table.where, f"row {line}: ID {image_id!r} does not have the form bus_<number>-<side>")
        if image_id in seen:
            raise BusbenchError(table.where, f"row {line}: ID {image_id!r} repeats row {seen[image_id]}")
        seen[image_id] = line
        if not cells["case"]:
            raise BusbenchError(table.where, f"row {line}: the Case (patient) cell is empty")
        pathology = cells["pathology"].lower()
        if pathology not in _PATHOLOGIES:
            raise BusbenchError(
                table.where, f"row {line}: unknown Pathology {cells['pathology']!r} (expected benign or malignant)"
            )
        entries.append(_Entry(line, image_id, cells["case"], pathology))
    ids = {case_id_from_name(e.image_id): e for e in entries}
    if len(ids) < len(entries):  # e.g. "bus_0001-l" and "BUS_0001-L": distinct IDs, one case id
        clash = next(e for e in entries if ids[case_id_from_name(e.image_id)] is not e)
        raise BusbenchError(table.where, f"row {clash.line}: ID {clash.image_id!r} gives a case id already in use")
    return entries


def load_busbra(path: str | os.PathLike[str]) -> Dataset:
    """Load BUS-BRA from its folder (or a zip of it).

    Args:
        path: The ``BUSBRA`` folder (holding ``bus_data.csv``, ``Images/`` and ``Masks/``) or its parent.

    Returns:
        Dataset ``"BUS-BRA"``, kind ``"busbra"``, classes ``normal, benign, malignant`` (normal empty), one case per
        row of ``bus_data.csv`` in file order: case id ``case_id_from_name(ID)`` (``bus-0001-l``), label from
        Pathology, group = the ``Case`` (patient) cell, mask ``Masks/mask_<suffix>.png``. Without a ``Masks/``
        folder the dataset has no masks (classification only).

    Raises:
        BusbenchError: One line naming the file (and row) for a missing column, an empty or malformed cell, an
            unknown Pathology, a repeated ID, a missing image or mask, or an image or mask not listed in
            ``bus_data.csv``.

    """
    source, prefix = _open(path)
    entries = _read_entries(source, prefix)
    where = source.display(f"{prefix}{DATA_CSV}")
    images_dir, masks_dir = f"{prefix}Images/", f"{prefix}Masks/"
    files = source.files()
    images = {f for f in files if f.startswith(images_dir)}
    masks = {f for f in files if f.startswith(masks_dir)}
    has_masks = f"{prefix}Masks" in source.dirs()
    cases: list[Case] = []
    for e in entries:
        image = f"{images_dir}{e.image_id}.png"
        if image not in images:
            raise BusbenchError(where, f"row {e.line}: image not found: {source.display(image)}")
        mask_files: tuple[str, ...] = ()
        if has_masks:
            mask = f"{masks_dir}mask_{e.image_id[len(_ID_PREFIX):]}.png"
            if mask not in masks:
                raise BusbenchError(where, f"row {e.line}: mask not found: {source.display(mask)}")
            mask_files = (mask,)
        cases.append(Case(case_id_from_name(e.image_id), e.pathology, image, mask_files, group=e.patient))
    listed = {c.image for c in cases} | {m for c in cases for m in c.masks}
    for folder, present in ((images_dir, images), (masks_dir, masks)):
        stray = sorted(present - listed)
        if stray:
            names = [PurePosixPath(s).name for s in stray]
            raise BusbenchError(
                source.display(folder.rstrip("/")),
                f"{len(stray)} file(s) not listed in {DATA_CSV}: {list_some(names, 4)}",
            )
    return Dataset("BUS-BRA", source, cases, BUSBRA_CLASSES, has_masks=has_masks, kind="busbra")


def _parse_valid(text: str) -> float | None:
    """Parse a ``valid_j`` cell: ``None`` for NaN, else 1.0 or 0.0; raise ValueError for anything else."""
    if not text or text.lower() == "nan":
        return None
    value = float(text)
    if value not in (0.0, 1.0):
        raise ValueError(text)
    return value


def read_busbra_folds(path: str | os.PathLike[str], k: int) -> list[tuple[list[str], list[str], list[str]]]:
    """Read BUS-BRA's predefined ``k``-fold cross-validation partition from ``<k>-fold-cv.csv``.

    Args:
        path: The BUS-BRA folder (as for :func:`load_busbra`).
        k: Number of folds: 5 and 10 are published.

    Returns:
        For folds 1..k, ``(train, val, test)`` lists of case ids (as :func:`load_busbra` names them) in the fold
        file's row order: test = images whose ``kFold`` is the fold, train = ``valid_j`` 1, val = ``valid_j`` 0.

    Raises:
        BusbenchError: One line naming the file, row and problem if the file is missing, a column is missing, an
            ID is empty, repeated or not in ``bus_data.csv``, a ``bus_data.csv`` image is absent, kFold is not in
            1..k, a ``valid_j`` cell is not 0/1/NaN, NaN disagrees with kFold, Pathology disagrees with
            ``bus_data.csv``, or a fold has no test or no training images.

    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise BusbenchError(f"k={k!r}", "the number of BUS-BRA folds must be an integer of at least 2")
    source, prefix = _open(path)
    entries = {e.image_id: e for e in _read_entries(source, prefix)}
    rel = f"{prefix}{k}-fold-cv.csv"
    if rel not in set(source.files()):
        found = sorted(
            PurePosixPath(f).name for f in source.files() if f.startswith(prefix) and f.endswith("-fold-cv.csv")
        )
        raise BusbenchError(source.display(rel), f"does not exist (fold files found: {', '.join(found) or 'none'})")
    table = _table(source, rel)
    where = table.where
    valid_cols = [f"valid_{j}" for j in range(1, k + 1)]
    _require(table, ["id", "kfold", *valid_cols])
    beyond = sorted(c for c in table.header if c.startswith("valid_") and c not in valid_cols)
    if beyond:
        raise BusbenchError(where, f"has column {beyond[0]} but the file is named for {k} folds")
    folds: list[tuple[list[str], list[str], list[str]]] = [([], [], []) for _ in range(k)]
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        image_id = cells["id"]
        if not image_id:
            raise BusbenchError(where, f"row {line}: the ID cell is empty")
        if image_id in seen:
            raise BusbenchError(where, f"row {line}: ID {image_id!r} repeats row {seen[image_id]}")
        seen[image_id] = line
        if image_id not in entries:
            raise BusbenchError(where, f"row {line}: ID {image_id!r} is not in {DATA_CSV}")
        pathology = cells.get("pathology", "")
        if pathology and pathology.lower() != entries[image_id].pathology:
            raise BusbenchError(
                where,
                f"row {line}: Pathology {pathology!r} disagrees with {DATA_CSV} row {entries[image_id].line} "
                f"({entries[image_id].pathology})",
            )
        try:
            test_fold = float(cells["kfold"])
        except ValueError:
            test_fold = float("nan")
        if not (math.isfinite(test_fold) and test_fold.is_integer() and 1 <= test_fold <= k):
            raise BusbenchError(where, f"row {line}: kFold is {cells['kfold']!r} (expected an integer 1..{k})")
        test_fold_int = int(test_fold)
        case_id = case_id_from_name(image_id)
        for j, col in enumerate(valid_cols, start=1):
            try:
                value = _parse_valid(cells[col])
            except ValueError:
                raise BusbenchError(where, f"row {line}: {col} is {cells[col]!r} (expected 1, 0 or NaN)") from None
            if (value is None) != (j == test_fold_int):
                shown = "NaN" if value is None else cells[col]
                raise BusbenchError(
                    where,
                    f"row {line}: {col} is {shown} but kFold is {test_fold_int} (NaN marks exactly the test fold)",
                )
            train, val, test = folds[j - 1]
            (test if value is None else train if value == 1.0 else val).append(case_id)
    absent = [e.line for e in entries.values() if e.image_id not in seen]
    if absent:
        names = [e.image_id for e in entries.values() if e.image_id not in seen]
        raise BusbenchError(
            where, f"lacks {len(absent)} image(s) of {DATA_CSV} ({format_rows(absent)} there: {list_some(names, 4)})"
        )
    for j, (train, _val, test) in enumerate(folds, start=1):
        if not test or not train:
            raise BusbenchError(where, f"fold {j} has no {'test' if not test else 'training'} images")
    return folds
