"""Importer for BUS-UCLM (Vallez et al., Scientific Data 2025) in its published layout.

Layout (the unpacked ``BUS-UCLM`` folder; its parent or grandparent, with that one folder inside, works too, as
does a zip of any of them)::

    INFO.csv               Image;Resolution;Label;Doppler;Marks;Combined   (';'-separated)
    images/ALWI_000.png ...
    masks/ALWI_000.png ...                                                  (same file name as the image)

``Image`` names the file in ``images/`` and ``masks/``; a file name is ``<patient>_<scan>.png`` where ``<patient>``
is the anonymised patient code (four letters in the release) and ``<scan>`` a zero-padded number. ``Label`` is
``Normal``, ``Benign`` or ``Malignant``. Masks are RGB: black is normal tissue, green a benign lesion, red a
malignant one (normal images have an all-black mask).

Loading checks the table and the files cheaply (columns, labels, names, file presence, no unlisted file); pixels
are checked when a case is decoded: the mask must have its image's size, every non-black pixel must be green or red,
and the colour must agree with ``Label``. The binary lesion mask is every non-black pixel. The reader is liberal
where the real file plausibly varies: ``;`` or ``,`` as separator, a byte-order mark, non-UTF-8 text, spaces around
cells, and the case of column names and labels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from benchmark.data.case import Case, case_id_from_name
from benchmark.data.csvtable import CsvTable, read_csv_table
from benchmark.data.dataset import Dataset
from benchmark.data.images import decode_image
from benchmark.data.source import FileSource, open_source
from benchmark.errors import BusbenchError, list_some

#: Classes of BUS-UCLM as loaded: the BUSI order, so that one evaluator scores every dataset.
BUSUCLM_CLASSES = ("normal", "benign", "malignant")
INFO_CSV = "INFO.csv"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
#: Mask colour of each lesion class (RGB); black (0, 0, 0) is normal tissue.
MASK_COLOURS = {"benign": "green", "malignant": "red"}
_NAME = re.compile(r"^(?P<patient>[A-Za-z0-9]+)_(?P<scan>[0-9]+)\.png$", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    line: int
    image: str  # the Image cell, e.g. "ALWI_000.png"
    patient: str
    label: str
    shown_label: str  # the Label cell as written, for messages


def _locate(source: FileSource) -> str | None:
    """Find the prefix (``""``, ``"a/"`` or ``"a/b/"``) under which ``INFO.csv`` and ``images/`` lie, or ``None``."""
    files, dirs = set(source.files()), set(source.dirs())
    candidates = ["", *(f"{d}/" for d in sorted(dirs) if d.count("/") <= 1)]
    for prefix in candidates:
        if f"{prefix}{INFO_CSV}" in files and f"{prefix}{IMAGES_DIR}" in dirs:
            return prefix
    return None


def is_busuclm(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` is a BUS-UCLM folder: it, or a folder one or two levels down, holds the layout.

    The layout's signature is ``INFO.csv`` next to an ``images/`` folder. Only folders are recognised, by a cheap
    look at three levels; a ``.zip`` of BUS-UCLM also loads with :func:`load_busuclm`, which checks archives itself.
    """
    p = Path(path)
    if not p.is_dir():
        return False

    def holds(folder: Path) -> bool:
        return (folder / INFO_CSV).is_file() and (folder / IMAGES_DIR).is_dir()

    def subfolders(folder: Path) -> list[Path]:
        return [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")]

    try:
        if holds(p):
            return True
        level1 = subfolders(p)
        return any(holds(c) for c in level1) or any(holds(g) for c in level1 for g in subfolders(c))
    except OSError:  # an unreadable folder is not recognisably BUS-UCLM; loading it reports the real problem
        return False


def _open(path: str | os.PathLike[str]) -> tuple[FileSource, str]:
    source = open_source(path)
    prefix = _locate(source)
    if prefix is None:
        raise BusbenchError(
            path, f"is not a BUS-UCLM folder (no {INFO_CSV} next to an {IMAGES_DIR}/ folder, here or two levels down)"
        )
    return source, prefix


def read_info_table(data: bytes, where: str) -> CsvTable:
    """Parse ``INFO.csv`` (``;``- or ``,``-separated, chosen from the header row) into a :class:`CsvTable`.

    Args:
        data: The file content (UTF-8 with or without a byte-order mark; other bytes are read as Latin-1).
        where: How to name the file in messages.

    Returns:
        The table: lower-cased header names, stripped cells, row numbers counting the header as row 1.

    Raises:
        BusbenchError: If the file is binary, malformed CSV, has no header row, repeats a column name, or has a row
            with more cells than the header.

    """
    text = data.decode("utf-8-sig", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return read_csv_table(data, where, lenient_encoding=True, delimiter=delimiter)


def _read_entries(source: FileSource, prefix: str) -> tuple[str, list[_Entry]]:
    """Rows of ``INFO.csv`` with Image and Label checked; also returns how the file is named in messages."""
    where = source.display(f"{prefix}{INFO_CSV}")
    table = read_info_table(source.read(f"{prefix}{INFO_CSV}"), where)
    missing = [c for c in ("image", "label") if c not in table.header]
    if missing:
        raise BusbenchError(
            where,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(table.header) or 'none'}; BUS-UCLM's header is "
            "Image;Resolution;Label;Doppler;Marks;Combined)",
        )
    if not table.rows:
        raise BusbenchError(where, "has a header but no rows")
    entries: list[_Entry] = []
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        image = cells["image"]
        if not image:
            raise BusbenchError(where, f"row {line}: the Image cell is empty")
        match = _NAME.match(image)
        if match is None:
            raise BusbenchError(
                where, f"row {line}: Image {image!r} does not have the form <patient>_<number>.png (e.g. ALWI_000.png)"
            )
        if image in seen:
            raise BusbenchError(where, f"row {line}: Image {image!r} repeats row {seen[image]}")
        seen[image] = line
        label = cells["label"].lower()
        if label not in BUSUCLM_CLASSES:
            raise BusbenchError(
                where, f"row {line}: unknown Label {cells['label']!r} (expected Normal, Benign or Malignant)"
            )
        entries.append(_Entry(line, image, match.group("patient"), label, cells["label"]))
    ids: dict[str, _Entry] = {}
    for e in entries:  # e.g. "ALWI_000.png" and "alwi_000.png": distinct names, one case id
        case_id = case_id_from_name(PurePosixPath(e.image).stem)
        if case_id in ids:
            raise BusbenchError(
                where,
                f"row {e.line}: Image {e.image!r} gives case id {case_id!r}, already that of row {ids[case_id].line}",
            )
        ids[case_id] = e
    return where, entries


def read_colour_mask(rgb: np.ndarray, where: str) -> tuple[np.ndarray, str, int]:
    """Read a BUS-UCLM colour mask: the binary lesion mask and the class its colour encodes.

    A pixel is lesion when it is not black (any channel above 0). A lesion pixel is green (benign) when its green
    channel exceeds its red one, red (malignant) when its red channel exceeds its green one.

    Args:
        rgb: The mask decoded as canonical RGB ``uint8`` (H, W, 3).
        where: How to name the mask file in messages.

    Returns:
        ``(lesion, label, pixels)``: the ``bool`` (H, W) lesion mask, ``"normal"`` (all black), ``"benign"`` or
        ``"malignant"``, and the number of lesion pixels.

    Raises:
        BusbenchError: If a non-black pixel is neither green nor red, or the mask holds both green and red pixels.

    """
    r = rgb[..., 0].astype(np.int16)
    g = rgb[..., 1].astype(np.int16)
    lesion = rgb.max(axis=2) > 0
    green = lesion & (g > r)
    red = lesion & (r > g)
    other = lesion & ~(green | red)
    if other.any():
        y, x = (int(v[0]) for v in np.nonzero(other))
        shown = tuple(int(v) for v in rgb[y, x])
        raise BusbenchError(
            where,
            f"{int(other.sum())} mask pixel(s) are neither black, green nor red (first at x={x}, y={y}: RGB {shown}); "
            "BUS-UCLM masks are black for normal tissue, green for benign and red for malignant lesions",
        )
    n_green, n_red = int(green.sum()), int(red.sum())
    if n_green and n_red:
        raise BusbenchError(
            where,
            f"mask holds both green (benign, {n_green} px) and red (malignant, {n_red} px) pixels; one image has one "
            "label in BUS-UCLM",
        )
    label = "benign" if n_green else "malignant" if n_red else "normal"
    return lesion, label, n_green + n_red


class BusUclmDataset(Dataset):
    """BUS-UCLM as loaded: decoding turns each RGB colour mask into a binary mask and checks its colour.

    Args:
        source: Where the files are.
        cases: The cases, in ``INFO.csv`` order.
        has_masks: Whether the ``masks/`` folder is there.
        rows: Case id -> its row number in ``INFO.csv`` (for messages).
        shown_labels: Case id -> its Label cell as written (for messages).

    """

    def __init__(
        self,
        source: FileSource,
        cases: Sequence[Case],
        *,
        has_masks: bool,
        rows: Mapping[str, int],
        shown_labels: Mapping[str, str],
    ):
        super().__init__("BUS-UCLM", source, cases, BUSUCLM_CLASSES, has_masks=has_masks, kind="busuclm")
        self._rows = dict(rows)
        self._shown = dict(shown_labels)

    def decode(self, case: Case) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode a case: canonical RGB ``uint8`` image and the binary lesion mask (every non-black mask pixel).

        Raises:
            BusbenchError: One line naming the file if the image or mask is corrupt, the mask's size differs from
                the image's, a mask pixel is neither black, green nor red, or the mask's colour disagrees with the
                case's Label in ``INFO.csv``.
        """
        rgb = decode_image(self.source.read(case.image), self.source.display(case.image))
        if not case.masks:
            return rgb, None
        (rel,) = case.masks
        where = self.source.display(rel)
        colours = decode_image(self.source.read(rel), where)
        if colours.shape[:2] != rgb.shape[:2]:
            raise BusbenchError(
                where,
                f"mask is {colours.shape[1]}x{colours.shape[0]} px but its image {case.image} is "
                f"{rgb.shape[1]}x{rgb.shape[0]} px",
            )
        lesion, colour_label, pixels = read_colour_mask(colours, where)
        if colour_label != case.label:
            said = (
                "mask is all black (normal)" if colour_label == "normal"
                else f"mask colour is {MASK_COLOURS[colour_label]} ({colour_label}, {pixels} px)"
            )
            expected = "all black" if case.label == "normal" else MASK_COLOURS[case.label]
            raise BusbenchError(
                where,
                f"{said} but {INFO_CSV} row {self._rows.get(case.case_id, '?')} labels "
                f"{PurePosixPath(case.image).name} {self._shown.get(case.case_id, case.label)!r} "
                f"(its mask should be {expected})",
            )
        return rgb, lesion


def load_busuclm(path: str | os.PathLike[str]) -> Dataset:
    """Load BUS-UCLM from its folder (or a zip of it).

    Args:
        path: The ``BUS-UCLM`` folder (holding ``INFO.csv``, ``images/`` and ``masks/``), its parent or its
            grandparent (the folder the Mendeley Data zip unpacks to), or a zip of any of them.

    Returns:
        Dataset ``"BUS-UCLM"``, kind ``"busuclm"``, classes ``normal, benign, malignant``, one case per row of
        ``INFO.csv`` in file order: case id ``case_id_from_name(<Image stem>)`` (``ALWI_000.png`` ->
        ``alwi-000``), label from Label, group = the patient code before ``_`` (``ALWI``), mask
        ``masks/<Image>``. Without a ``masks/`` folder the dataset has no masks (classification only).

    Raises:
        BusbenchError: One line naming the file (and row) for a missing column, an empty or malformed Image cell,
            an unknown Label, a repeated Image, a missing image or mask, or an image or mask not listed in
            ``INFO.csv``. Pixel problems (size, colour, colour against Label) are reported when a case is decoded.

    """
    source, prefix = _open(path)
    where, entries = _read_entries(source, prefix)
    images_dir, masks_dir = f"{prefix}{IMAGES_DIR}/", f"{prefix}{MASKS_DIR}/"
    files = source.files()
    images = {f for f in files if f.startswith(images_dir)}
    masks = {f for f in files if f.startswith(masks_dir)}
    has_masks = f"{prefix}{MASKS_DIR}" in source.dirs()
    cases: list[Case] = []
    for e in entries:
        image = f"{images_dir}{e.image}"
        if image not in images:
            raise BusbenchError(where, f"row {e.line}: image not found: {source.display(image)}")
        mask_files: tuple[str, ...] = ()
        if has_masks:
            mask = f"{masks_dir}{e.image}"
            if mask not in masks:
                raise BusbenchError(where, f"row {e.line}: mask not found: {source.display(mask)}")
            mask_files = (mask,)
        cases.append(Case(case_id_from_name(PurePosixPath(e.image).stem), e.label, image, mask_files, group=e.patient))
    listed = {c.image for c in cases} | {m for c in cases for m in c.masks}
    for folder, present in ((images_dir, images), (masks_dir, masks)):
        stray = sorted(present - listed)
        if stray:
            names = [s[len(folder):] for s in stray]
            raise BusbenchError(
                source.display(folder.rstrip("/")),
                f"{len(stray)} file(s) not listed in {INFO_CSV}: {list_some(names, 4)}",
            )
    rows = {c.case_id: e.line for c, e in zip(cases, entries, strict=True)}
    shown = {c.case_id: e.shown_label for c, e in zip(cases, entries, strict=True)}
    return BusUclmDataset(source, cases, has_masks=has_masks, rows=rows, shown_labels=shown)
