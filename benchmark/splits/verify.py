"""Checking a split file against the data it is used with: every load goes through :func:`load_split`."""

from __future__ import annotations

import os
from typing import Protocol

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError, list_some
from benchmark.splits.schema import CaseRecord, SplitFile, read_split


def verify_split(split: CaseLedger, dataset: Dataset, where: str) -> None:
    """Check that ``split`` was made from exactly the cases and pixels of ``dataset``.

    Checks, in order: cases of the split missing from the data, cases of the data missing from the split, changed
    labels, changed pixels (image or mask fingerprint), and finally the dataset fingerprint. There is no fallback:
    any difference is an error.

    Args:
        split: A structurally valid split (from ``read_split``), or another record of cases (an external split's
            test side).
        dataset: The data it is to be used with.
        where: The split file's path, for messages.

    Raises:
        BusbenchError: Naming the split file, the kind of mismatch and the cases concerned.
    """
    label = f"{where} (against {dataset.name} at {dataset.source.location})"
    problem = _mismatch(split, dataset)
    if problem is None:
        return
    if split.dataset_name != dataset.name:  # the wrong data altogether, not a changed copy of the right one
        raise BusbenchError(label, f"this split was made for dataset {split.dataset_name!r}, not {dataset.name!r} "
                                   f"({problem})")
    raise BusbenchError(label, problem)


class CaseLedger(Protocol):
    """What a file records about the data it was made from: a split file, or an external split's test side."""

    @property
    def dataset_name(self) -> str: ...  # noqa: D102

    @property
    def dataset_fingerprint(self) -> str: ...  # noqa: D102

    @property
    def classes(self) -> tuple[str, ...]: ...  # noqa: D102

    @property
    def cases(self) -> dict[str, CaseRecord]: ...  # noqa: D102


def _mismatch(split: CaseLedger, dataset: Dataset) -> str | None:
    """The first difference between the file's record of the data and ``dataset``, in words; ``None`` if none."""
    ours = {c.case_id: c for c in dataset.cases}
    missing = set(split.cases) - set(ours)
    if missing:
        return f"{len(missing)} case(s) of the split are missing from the data: {list_some(missing)}"
    # Cases of classes the split does not score (BUSI's normal images in a benign-vs-malignant split) stay out.
    extra = {cid for cid, c in ours.items() if c.label in split.classes} - set(split.cases)
    if extra:
        return f"{len(extra)} case(s) of the data are not in the split: {list_some(extra)}"
    relabelled = [cid for cid, rec in split.cases.items() if ours[cid].label != rec.label]
    if relabelled:
        return f"{len(relabelled)} case(s) changed label: {list_some(relabelled)}"
    facts = dataset.facts()
    changed = [cid for cid, rec in split.cases.items() if facts[cid].fingerprint != rec.fingerprint]
    if changed:
        return (f"{len(changed)} case(s) have other pixels (image or mask) than when the split was made: "
                f"{list_some(changed)}")
    if dataset.fingerprint() != split.dataset_fingerprint:
        return "dataset fingerprint differs (case groups or ids changed) although every case matches"
    return None


def load_split(path: str | os.PathLike[str], dataset: Dataset) -> SplitFile:
    """Read a split file, check its structure and verify it against ``dataset``.

    This is the only way the harness loads a split for use.

    Raises:
        BusbenchError: If the file is malformed or does not match the data.
    """
    split = read_split(path)
    verify_split(split, dataset, str(path))
    return split
