"""What the Audit page shows, from files alone: duplicate clusters, cross-class clusters and leakage of split files.

A busbench split file records every case's label and duplicate cluster (found when the split was made), so the
clusters, the clusters whose members carry different labels, and each fold's leakage (test cases with a duplicate
on the training side, :func:`benchmark.audit.leakage.split_leakage`) need no dataset. Thumbnails do.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from benchmark.audit.leakage import split_leakage
from benchmark.errors import BusbenchError
from benchmark.splits.schema import SplitFile, read_split

THUMB_HEIGHT = 110


def read_splits(paths: list[Path]) -> tuple[list[tuple[Path, SplitFile]], list[str]]:
    """Read split files; returns the readable ones and one line per unreadable file."""
    good, bad = [], []
    for path in paths:
        try:
            good.append((path, read_split(path)))
        except BusbenchError as exc:
            bad.append(str(exc))
    return good, bad


def clusters(split: SplitFile) -> list[dict[str, Any]]:
    """Duplicate clusters of more than one case: ``{"id", "members": [(case, label)], "labels", "cross_class"}``.

    Cross-class clusters come first, then larger ones, then by id.
    """
    members: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for case_id, record in sorted(split.cases.items()):
        members[record.cluster].append((case_id, record.label))
    out = []
    for cluster_id, cases in members.items():
        if len(cases) < 2:
            continue
        labels = sorted({label for _, label in cases})
        out.append({"id": cluster_id, "members": cases, "labels": labels, "cross_class": len(labels) > 1})
    return sorted(out, key=lambda c: (not c["cross_class"], -len(c["members"]), c["id"]))


def leakage(splits: list[tuple[Path, SplitFile]], root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per split file a summary row, and per fold a row: test cases with a duplicate on the training side."""
    summary, folds = [], []
    for path, split in splits:
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        doc = split_leakage(split, name, {c: r.cluster for c, r in split.cases.items()}, None)
        total = doc["total"]
        summary.append({"split": name, "dataset": split.dataset_name, "grouping": doc["group"],
                        "protocol": split.protocol, "folds": split.k, "test cases": total["n_test"],
                        "leaked": total["duplicate_leaked"], "leaked share": total["leaked_fraction"]})
        folds += [{"split": name, "fold": f["fold"], "leaked": f["duplicate_leaked"], "n_test": f["n_test"]}
                  for f in doc["folds"]]
    return pd.DataFrame(summary), pd.DataFrame(folds, columns=["split", "fold", "leaked", "n_test"])


def inflation_rows(doc: dict[str, Any]) -> pd.DataFrame:
    """The rows of a ``protocols-*.json`` summary: protocol, value, CI, inflation, paired difference and its CI."""
    rows = []
    for r in doc.get("rows") or []:
        if not isinstance(r, dict):
            continue
        pair = r.get("paired") if isinstance(r.get("paired"), dict) else {}
        rows.append({"protocol": str(r.get("protocol")), "status": r.get("status"), "value": r.get("value"),
                     "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"), "inflation_pp": r.get("inflation_pp"),
                     "paired difference": pair.get("difference"), "paired low": pair.get("low"),
                     "paired high": pair.get("high"), "p value": pair.get("p_value"),
                     "note": pair.get("reason") or "", "cases": r.get("n_cases")})
    return pd.DataFrame(rows)


def thumbnail(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The image scaled to :data:`THUMB_HEIGHT` rows, the mask outline in green."""
    h, w = rgb.shape[:2]
    width = max(1, round(w * THUMB_HEIGHT / h))
    small = np.ascontiguousarray(cv2.resize(rgb, (width, THUMB_HEIGHT), interpolation=cv2.INTER_AREA))
    if mask is not None:
        m = cv2.resize(mask.astype(np.uint8), (width, THUMB_HEIGHT), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(small, contours, -1, (0, 220, 0), 1)
    return small
