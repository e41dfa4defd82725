"""Published numbers beside ours: each row of ``leaderboard/published.csv`` with our clean-protocol figure.

Facts only. A published value is shown as printed, with the protocol flags the ledger records; ours is the pooled
out-of-fold figure of the same metric from the newest completed clean-protocol run of the submission named in the
row's ``busbench_submission`` (never a protocol-audit run), with its 95% interval. Ours is filled in only where the
two name the same figure: accuracy, Dice and IoU (with our paper-compatible Dice/IoU beside ours where the paper
averaged normal images in, scored 1), macro or per-class precision, recall and F1 when the paper says which; a row
whose averaging is not stated gets no number of ours rather than a guess. The difference is published minus ours,
in percentage points, for values printed as fractions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pandas as pd

from benchmark.audit.paper_protocols import flag_words

SAME_NAME = ("accuracy", "iou", "dice")
AVERAGED = ("precision", "recall", "f1")
FLAG_COLUMNS = ("split", "augmentation_timing", "mask_in_input", "selection_on_test", "empty_mask_convention",
                "pretrained", "image_size", "epochs")


def our_metric(metric: str, averaging: str) -> tuple[str, str | None] | None:
    """Where our like-for-like figure sits in ``metrics.json``'s ``pooled``: ``(metric key, class or None)``."""
    if metric in SAME_NAME:
        return metric, None
    if metric in AVERAGED:
        if averaging == "macro":
            return f"macro_{metric}", None
        if averaging.startswith("per-class: "):
            return metric, averaging.removeprefix("per-class: ").strip()
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def our_value(metrics: dict[str, Any], where: tuple[str, str | None]) -> tuple[float | None, float | None,
                                                                              float | None]:
    """Our value of a figure and its 95% CI ends (``None`` where ``metrics.json`` has no such figure)."""
    key, cls = where
    pooled = pooled if isinstance(pooled := metrics.get("pooled"), dict) else {}
    if cls is not None:
        per_class = (pooled.get("per_class") or {}).get(cls) or {}
        return _number(per_class.get(key)), None, None
    ci = (metrics.get("ci") or {}).get(key) or {}
    return _number(pooled.get(key)), _number(ci.get("low")), _number(ci.get("high"))


def fraction(text: str) -> float | None:
    """A published value printed as a fraction in [0, 1], else ``None`` (percentages and counts are not compared)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 1.0 else None


def flags(row: dict[str, str]) -> str:
    """The row's protocol flags in short words (only the ones that make a number optimistic or unverifiable)."""
    return ", ".join(flag_words(row)) or "-"


def measured_runs(frame: pd.DataFrame) -> dict[str, str]:
    """Submission -> run id of its newest completed clean-protocol run (protocol-audit runs excluded)."""
    ours = frame[(frame["status"] == "completed") & (frame["protocol"] == "clean")
                 & (frame["kind"] != "protocol-audit")]
    ours = ours.sort_values(["created", "run_id"], na_position="first")
    return dict(zip(ours["submission"].astype(str), ours["run_id"].astype(str), strict=True))


def comparison(rows: list[dict[str, str]], measured: dict[str, str],
               metrics_of: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The ledger with our figures beside it.

    Args:
        rows: ``published.csv`` rows.
        measured: Submission -> our run id (:func:`measured_runs`).
        metrics_of: Run id -> its ``metrics.json``.
    """
    out = []
    for row in rows:
        name = row.get("busbench_submission", "")
        run_id = measured.get(name) if name else None
        where = our_metric(row.get("metric", ""), row.get("averaging", ""))
        ours = low = high = compatible = None
        status = "no busbench system" if not name else "not yet run" if run_id is None else \
            "no like-for-like figure" if where is None else "measured"
        if run_id is not None and where is not None:
            metrics = metrics_of.get(run_id) or {}
            ours, low, high = our_value(metrics, where)
            pooled = pooled if isinstance(pooled := metrics.get("pooled"), dict) else {}
            if row.get("empty_mask_convention") == "normal_included_iou_1" and where[1] is None:
                compatible = _number((pooled.get("paper_compatible") or {}).get(where[0]))
            if ours is None:
                status = "no like-for-like figure"
        published = fraction(row.get("value", ""))
        out.append({
            "paper": row.get("paper", ""), "model": row.get("model", ""), "condition": row.get("condition", ""),
            "where": row.get("table_or_section", ""), "task": row.get("task", ""), "metric": row.get("metric", ""),
            "averaging": row.get("averaging", ""), "published_text": row.get("value", ""), "published": published,
            "flags": flags(row), **{f: row.get(f, "") for f in FLAG_COLUMNS},
            "busbench_submission": name, "ours": ours, "ours_low": low, "ours_high": high,
            "paper_compatible": compatible,
            "difference_pp": (published - ours) * 100 if published is not None and ours is not None else None,
            "status": status, "run": run_id or "",
            "link": f"submission?run={quote(run_id, safe='')}" if run_id else None,
            "headline": row.get("headline", "") == "1", "citation": row.get("citation", ""),
        })
    return pd.DataFrame(out)
