"""Loader for BUSI (Al-Dhabyani et al., Data in Brief 2020) in the layout users download.

Layout: ``[Dataset_BUSI_with_GT/]<class>/<class> (N).png`` with masks beside each image as ``<class> (N)_mask.png``
and extra lesion masks ``_mask_1.png``, ``_mask_2.png`` (united). The folder, its parent, or the downloaded zip
all work. Every image must have at least one mask and every mask an image; normal images have empty masks.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

from benchmark.data.case import Case, case_id_from_name
from benchmark.data.dataset import Dataset
from benchmark.data.source import FileSource, open_source
from benchmark.errors import BusbenchError

BUSI_CLASSES = ("normal", "benign", "malignant")
_MASK = re.compile(r"^(?P<stem>.+?)_mask(?:_(?P<extra>\d+))?$", re.IGNORECASE)
_NUMBER = re.compile(r"\((\d+)\)")


def find_class_root(source: FileSource, classes: tuple[str, ...] = BUSI_CLASSES) -> str:
    """Find the folder (relative, ``""`` for the top) that holds the class folders.

    Looks at the top, then one and two levels down (``Dataset_BUSI_with_GT/``, or a zip that wraps it once more).

    Raises:
        BusbenchError: If no folder holds any of the class folders.
    """
    dirs = set(source.dirs())
    candidates = [""] + sorted(d for d in dirs if d.count("/") <= 1)
    for root in candidates:
        prefix = f"{root}/" if root else ""
        if any(f"{prefix}{c}" in dirs for c in classes):
            return root
    raise BusbenchError(
        source.location, f"no BUSI class folders ({', '.join(classes)}) found here or in Dataset_BUSI_with_GT/"
    )


def _sort_key(stem: str) -> tuple[int, str]:
    m = _NUMBER.search(stem)
    return (int(m.group(1)) if m else 1 << 30, stem)


def load_busi(path: str | os.PathLike[str], name: str = "BUSI") -> Dataset:
    """Load BUSI from a folder or zip archive.

    Args:
        path: The unpacked folder (``Dataset_BUSI_with_GT`` or its parent) or ``Dataset_BUSI_with_GT.zip``.
        name: Dataset name to record (the synthetic phantom set reuses this loader under its own name).

    Returns:
        The dataset with case ids such as ``benign-12`` (see ``case_id_from_name``), classes
        ``normal, benign, malignant`` and one united mask per case.

    Raises:
        BusbenchError: On an unknown class folder, an empty class folder, a stray file, a mask without an image or
            an image without a mask.
    """
    source = open_source(path)
    root = find_class_root(source)
    prefix = f"{root}/" if root else ""
    for d in source.dirs():
        rel = d[len(prefix):] if d.startswith(prefix) else None
        if rel and "/" not in rel and rel not in BUSI_CLASSES:
            raise BusbenchError(source.display(d), f"unknown class folder (expected {', '.join(BUSI_CLASSES)})")
    files = source.files()
    cases: list[Case] = []
    for label in BUSI_CLASSES:
        folder = f"{prefix}{label}/"
        images: dict[str, str] = {}
        masks: dict[str, list[tuple[int, str]]] = {}
        for rel in files:
            if not rel.startswith(folder):
                continue
            name_part = rel[len(folder):]
            if "/" in name_part:
                raise BusbenchError(source.display(rel), "unexpected sub-folder inside a BUSI class folder")
            p = PurePosixPath(name_part)
            if p.suffix.lower() != ".png":
                raise BusbenchError(source.display(rel), "unexpected file in a BUSI class folder (only .png expected)")
            m = _MASK.match(p.stem)
            if m:
                masks.setdefault(m.group("stem"), []).append((int(m.group("extra") or 0), rel))
            else:
                images[p.stem] = rel
        if not images and not masks:
            where = source.display(folder.rstrip("/"))
            if folder.rstrip("/") in source.dirs():
                raise BusbenchError(where, "class folder holds no images")
            raise BusbenchError(where, f"class folder is missing (BUSI has {', '.join(BUSI_CLASSES)})")
        for stem, mask_files in masks.items():
            if stem not in images:
                raise BusbenchError(source.display(mask_files[0][1]), f"mask without an image (no {stem}.png)")
        for stem in sorted(images, key=_sort_key):
            if stem not in masks:
                raise BusbenchError(source.display(images[stem]), "image without a mask (expected <name>_mask.png)")
            mask_paths = tuple(rel for _, rel in sorted(masks[stem]))
            cases.append(Case(case_id_from_name(stem), label, images[stem], mask_paths))
    return Dataset(name, source, cases, BUSI_CLASSES, has_masks=True, kind="busi")
