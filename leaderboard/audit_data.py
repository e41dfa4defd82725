"""What the Audit page shows, from files alone: duplicate clusters, leakage, and what a dataset audit found.

A busbench split file records every case's label and duplicate cluster (found when the split was made), so the
clusters, the clusters whose members carry different labels, and each fold's leakage (test cases with a duplicate
on the training side, :func:`benchmark.audit.leakage.split_leakage`) need no dataset. Thumbnails do. Mask
conflicts and burnt-in annotations come from a dataset audit: ``busbench audit``'s ``audit.json``, saved in the
results folder as ``audit-<dataset>.json``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from benchmark.audit.leakage import split_leakage
from benchmark.audit.leaks import parse_protocol
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


def shown_path(path: Path, roots: Path | tuple[Path, ...]) -> str:
    """``path`` relative to the first of ``roots`` that holds it; its file name alone when none does.

    The roots are places the user named or knows (the checkout, the results folder), never a path of this machine.
    """
    for root in (roots,) if isinstance(roots, Path) else roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root))
        if path.resolve().is_relative_to(root.resolve()):
            return str(path.resolve().relative_to(root.resolve()))
    return path.name


def dataset_name(spec: Any) -> str:
    """A dataset named without the location it was read from (``../shared/data/BUSI`` -> ``BUSI``).

    ``synthetic:...`` specs are shown as they are: they name generated data, not a place.
    """
    text = str(spec or "").strip()
    if not text:
        return "an unnamed dataset"
    if text == "synthetic" or text.startswith("synthetic:"):
        return text
    return Path(text.rstrip("/")).name or text


def leakage(splits: list[tuple[Path, SplitFile]], root: Path | tuple[Path, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per split file a summary row, and per fold a row: test cases with a duplicate on the training side.

    Split files are named relative to ``root`` (or the first of several roots that holds them).
    """
    summary, folds = [], []
    for path, split in splits:
        name = shown_path(path, root)
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
        pair = pair if isinstance(pair := r.get("paired"), dict) else {}
        protocol = str(r.get("protocol"))
        try:
            what = parse_protocol(protocol).describe()
        except BusbenchError:
            what = "not a protocol busbench knows"
        rows.append({"protocol": protocol, "value": r.get("value"), "ci_low": r.get("ci_low"),
                     "ci_high": r.get("ci_high"), "inflation_pp": r.get("inflation_pp"),
                     "paired difference": pair.get("difference"), "paired low": pair.get("low"),
                     "paired high": pair.get("high"), "p value": pair.get("p_value"), "cases": r.get("n_cases"),
                     "status": r.get("status"), "what it does": what, "note": pair.get("reason") or ""})
    return pd.DataFrame(rows)


def audit_summary(doc: dict[str, Any]) -> str:
    """One line on a dataset audit (``audit.json``): what it covers and what it found."""
    dataset = dataset if isinstance(dataset := doc.get("dataset"), dict) else {}
    dup = dup if isinstance(dup := doc.get("duplicates"), dict) else {}
    burnt = burnt if isinstance(burnt := doc.get("burnt_in"), dict) else {}
    versions = versions if isinstance(versions := doc.get("versions"), dict) else {}
    return (f"{dataset.get('name')}: {dataset.get('n_cases')} cases, audited {doc.get('created')} by busbench "
            f"{versions.get('busbench')}; {dup.get('n_clusters')} duplicate clusters ({dup.get('n_cases_in_clusters')} "
            f"images), {len(doc.get('cross_class') or [])} cross-class, {len(mask_conflict_rows(doc))} mask "
            f"conflicts, {burnt.get('n_annotated')} images with burnt-in annotations, {burnt.get('n_colour')} with a "
            "colour overlay")


def _case_labels(doc: dict[str, Any]) -> dict[str, str]:
    # The audit records labels with the duplicate clusters' members, which every mask-conflict case belongs to.
    clusters = (doc.get("duplicates") or {}).get("clusters") if isinstance(doc.get("duplicates"), dict) else None
    return {str(m.get("case_id")): str(m.get("label")) for c in clusters or [] if isinstance(c, dict)
            for m in c.get("members") or [] if isinstance(m, dict)}


def mask_conflict_rows(doc: dict[str, Any]) -> pd.DataFrame:
    """Mask conflicts of a dataset audit, worst first: the two cases, their labels, how they are related, mask Dice.

    A mask conflict is a pair of the same image (exact, flipped, cropped or near copy) whose lesion masks agree less
    than the audit's threshold (Dice, after aligning the pair).
    """
    section = section if isinstance(section := doc.get("mask_conflicts"), dict) else {}
    labels = _case_labels(doc)
    rows = [{"case a": str(p.get("a")), "label a": labels.get(str(p.get("a")), ""), "case b": str(p.get("b")),
             "label b": labels.get(str(p.get("b")), ""), "relation": str(p.get("relation")),
             "mask Dice": p.get("mask_dice")}
            for p in section.get("pairs") or [] if isinstance(p, dict)]
    return pd.DataFrame(rows, columns=["case a", "label a", "case b", "label b", "relation", "mask Dice"])


def burnt_in_rows(doc: dict[str, Any]) -> pd.DataFrame:
    """Cases of a dataset audit with burnt-in annotations (calipers, text, markers) or a colour overlay.

    Colour overlays first (Doppler flow or colour marks: a classifier can learn them), then by case id.
    """
    section = section if isinstance(section := doc.get("burnt_in"), dict) else {}
    cases = cases if isinstance(cases := section.get("cases"), dict) else {}
    rows = [{"case": str(case_id), "colour overlay": bool(r.get("colour")), "annotated": bool(r.get("annotated")),
             "kinds": ", ".join(str(k) for k in r.get("kinds") or [])}
            for case_id, r in cases.items() if isinstance(r, dict)]
    frame = pd.DataFrame(rows, columns=["case", "colour overlay", "annotated", "kinds"])
    return frame.sort_values(["colour overlay", "case"], ascending=[False, True], ignore_index=True)


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
