"""One case of a dataset: an image, its label, its mask files and its group."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NON_ID = re.compile(r"[^a-z0-9]+")


def case_id_from_name(stem: str) -> str:
    """Derive the stable case id of a file stem.

    The id is the stem lower-cased, with every run of characters other than ``a-z`` and ``0-9`` replaced by one
    ``-`` and dashes trimmed at both ends: ``"benign (12)"`` -> ``"benign-12"``, ``"bus_0001-l"`` -> ``"bus-0001-l"``.
    It depends on the file name only, so it is the same for the folder, the zip and any copy of the data.

    Args:
        stem: The file name without folder and extension.

    Returns:
        The case id (non-empty for any stem that has a letter or digit).
    """
    return _NON_ID.sub("-", stem.lower()).strip("-")


@dataclass(frozen=True)
class Case:
    """A case as listed by a dataset loader (no pixels: those are read through the dataset).

    Attributes:
        case_id: Stable id, unique within the dataset (see :func:`case_id_from_name`).
        label: Class name, one of the dataset's classes.
        image: Image file, relative to the dataset source root.
        masks: Mask files relative to the root; united into one lesion mask. Empty when the dataset has none.
        group: Patient (or other) group id when the dataset publishes one, else ``None``.
        fold: Predefined test fold of the case when the dataset publishes one, else ``None``.
    """

    case_id: str
    label: str
    image: str
    masks: tuple[str, ...] = ()
    group: str | None = None
    fold: int | None = None
