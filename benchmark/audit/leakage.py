"""Leakage of a split: per fold, the test cases with a duplicate or a same-patient image on their training side.

The training side of a fold is its train and val parts together (both are seen while a model is made). The
duplicate clusters are the ones detected now in the audited data (not those recorded in the split file), so an old
split is audited with the current detector. Patient leakage is reported when the dataset has patient ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from benchmark.audit.external_split import ExternalSplit
from benchmark.splits.schema import SplitFile
from benchmark.splits.show import leaked_cases


def _partners(leaked: Sequence[str], side: Sequence[str], key: dict[str, str]) -> dict[str, list[str]]:
    """For each leaked test case, the training-side cases that share its key."""
    members: dict[str, list[str]] = defaultdict(list)
    for c in side:
        members[key[c]].append(c)
    return {c: sorted(members[key[c]]) for c in leaked}


def fold_leakage(fold: int, train: Sequence[str], val: Sequence[str], test: Sequence[str],
                 clusters: dict[str, str], patients: dict[str, str] | None) -> dict:
    """The leakage record of one fold (see :func:`split_leakage`)."""
    side = tuple(train) + tuple(val)
    dup = leaked_cases(tuple(test), side, clusters)
    record: dict[str, Any] = {
        "fold": fold, "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "duplicate_leaked": len(dup),
        "duplicate_partners": _partners(dup, side, clusters),
        "patient_leaked": None, "patient_partners": None,
    }
    if patients is not None:
        same = leaked_cases(tuple(test), side, patients)
        record["patient_leaked"] = len(same)
        record["patient_partners"] = _partners(same, side, patients)
    any_leak = set(dup) | set(record["patient_partners"] or {})
    record["leaked"] = len(any_leak)
    return record


def split_leakage(split: SplitFile, path: str, clusters: dict[str, str], patients: dict[str, str] | None) -> dict:
    """Leakage of every fold of a busbench split file.

    Returns:
        ``{"source": path, "kind": "busbench", "group": ..., "folds": [fold record...], "total": {...}}``; a fold
        record holds ``n_train``, ``n_val``, ``n_test``, ``duplicate_leaked`` and ``duplicate_partners`` (test case
        -> its training-side duplicates), ``patient_leaked``/``patient_partners`` (``None`` without patient ids)
        and ``leaked`` (test cases leaking either way).
    """
    folds = [fold_leakage(i, f.train, f.val, f.test, clusters, patients) for i, f in enumerate(split.folds)]
    return {"source": path, "kind": "busbench", "group": split.generator.get("group"), "folds": folds,
            "total": _total(folds)}


def external_leakage(ext: ExternalSplit, clusters: dict[str, str], patients: dict[str, str] | None) -> dict:
    """Leakage of a published split (one fold), in the same shape as :func:`split_leakage` plus ``unlisted``."""
    folds = [fold_leakage(0, ext.train, ext.val, ext.test, clusters, patients)]
    return {"source": ext.path, "kind": "csv", "group": None, "folds": folds, "total": _total(folds),
            "unlisted": len(ext.unlisted)}


def _total(folds: list[dict]) -> dict:
    n_test = sum(f["n_test"] for f in folds)
    leaked = sum(f["leaked"] for f in folds)
    return {"n_test": n_test, "leaked": leaked, "duplicate_leaked": sum(f["duplicate_leaked"] for f in folds),
            "patient_leaked": None if folds[0]["patient_leaked"] is None
            else sum(f["patient_leaked"] for f in folds),
            "leaked_fraction": round(leaked / n_test, 4) if n_test else 0.0}
