"""Indexing a run folder: its ``run.json`` (and ``metrics.json``) checked and turned into one row of the store.

Each run folder (see :mod:`benchmark.results.rundir`) becomes one row keyed by its ``run_id``, holding the
columns the leaderboard filters and sorts on plus the full ``run.json`` and ``metrics.json`` as JSON text, so a
leaderboard can drill down without the files (the table is in :mod:`benchmark.results.store_tables`). A failed run
is recorded with its error and never with scores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmark.errors import BusbenchError
from benchmark.fileio import read_json
from benchmark.results.rundir import RunDir

#: Run statuses written by the engine.
STATUSES = ("running", "completed", "partial", "failed")

#: Statuses whose ``metrics.json`` describes the run as recorded: a running run's metrics may be stale (left by
#: an earlier invocation) and a failed run has no valid scores at all.
_SCORED_STATUSES = ("completed", "partial")


def headline(metrics: dict[str, Any], task: str) -> tuple[str, float | None, float | None, float | None]:
    """The headline score of a run's ``metrics.json``.

    Args:
        metrics: The parsed ``metrics.json``.
        task: ``"classification"`` or ``"segmentation"`` (named in error messages).

    Returns:
        ``(metric name, value, CI low, CI high)`` from ``metrics["headline"]``; ``("", None, None, None)`` when
        there is no headline. Non-finite numbers become ``None``.

    Raises:
        BusbenchError: When ``headline`` is present but is not ``{"metric": str, "value": number, ...}``.
    """
    entry = metrics.get("headline")
    if entry is None:
        return "", None, None, None
    where = f"{task} metrics"
    if not isinstance(entry, dict) or not isinstance(entry.get("metric"), str):
        raise BusbenchError(where, "'headline' must be an object with a 'metric' name")

    def number(key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BusbenchError(where, f"headline {key!r} must be a number, not {value!r}")
        return float(value) if math.isfinite(value) else None

    return entry["metric"], number("value"), number("ci_low"), number("ci_high")


class _RowBuilder:
    """Checks the fields of one ``run.json`` and turns them into a row, naming the file on any problem."""

    def __init__(self, path: Path, doc: dict[str, Any]):
        self.path = path
        self.doc = doc

    def fail(self, problem: str) -> BusbenchError:
        return BusbenchError(self.path, problem)

    def section(self, key: str) -> dict[str, Any]:
        value = self.doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{key!r} must be an object, not {type(value).__name__}")
        return value

    def text(self, value: Any, name: str, *, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise self.fail(f"{name!r} must be a {'non-empty ' if required else ''}string, not {value!r}")
        return value

    def integer(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{name!r} must be an integer, not {value!r}")
        return value

    def flag(self, value: Any, name: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{name!r} must be true or false, not {value!r}")
        return value

    def submission_name(self) -> str:
        value = self.doc.get("submission")
        if isinstance(value, dict):
            return self.text(value.get("name"), "submission.name", required=True)  # type: ignore[return-value]
        return self.text(value, "submission", required=True)  # type: ignore[return-value]

    def wall_seconds(self) -> float | None:
        total, seen = 0.0, False
        for fold, record in self.section("folds").items():
            seconds = record.get("seconds") if isinstance(record, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise self.fail(f"fold {fold} has no number of 'seconds'")
            total, seen = total + float(seconds), True
        return total if seen else None

    def first_error(self) -> str | None:
        errors = self.section("errors")

        def fold_order(key: str) -> tuple[int, str]:
            return (int(key), key) if key.lstrip("-").isdigit() else (1 << 30, key)

        for key in sorted(errors, key=fold_order):
            return f"fold {key}: {errors[key]}"
        message = self.doc.get("error")
        return str(message) if message else None


def _build_row(run_dir: Path) -> dict[str, Any]:
    """Read one run folder and return its index row (see :meth:`ResultsStore.index_run`)."""
    rd = RunDir(run_dir)
    path = rd.run_json
    doc = rd.read_run()
    if doc is None:
        raise BusbenchError(path, "does not exist (not a run folder)")
    if not isinstance(doc, dict):
        raise BusbenchError(path, f"must hold a JSON object, not {type(doc).__name__}")
    b = _RowBuilder(path, doc)
    status = b.text(doc.get("status"), "status", required=True)
    if status not in STATUSES:
        raise b.fail(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    task = b.text(doc.get("task"), "task", required=True)
    dataset, split, compute = b.section("dataset"), b.section("split"), b.section("compute")

    metrics: dict[str, Any] | None = None
    name, value, low, high = None, None, None, None
    # A failed run never carries scores, whatever metrics file an earlier invocation left behind.
    if status in _SCORED_STATUSES and rd.metrics_json.exists():
        metrics = read_json(rd.metrics_json)
        if not isinstance(metrics, dict):
            raise BusbenchError(rd.metrics_json, f"must hold a JSON object, not {type(metrics).__name__}")
        try:
            name, value, low, high = headline(metrics, task)  # type: ignore[arg-type]
        except BusbenchError as exc:
            raise BusbenchError(rd.metrics_json, exc.problem) from exc
        # A segmentation run's per-case table (about 120 KB on BUSI) stays in its folder's metrics.json: the boards
        # read every row's metrics, and only the gallery needs it (leaderboard.gallery.run_case_scores).
        metrics = {k: v for k, v in metrics.items() if k != "cases"}

    return {
        "run_id": b.text(doc.get("run_id"), "run_id", required=True),
        "kind": b.text(doc.get("kind"), "kind", required=True),
        "status": status,
        "task": task,
        "submission": b.submission_name(),
        "dataset": b.text(dataset.get("name"), "dataset.name"),
        "dataset_fingerprint": b.text(dataset.get("fingerprint"), "dataset.fingerprint"),
        "split_sha256": b.text(split.get("sha256"), "split.sha256"),
        "split_group": b.text(split.get("group"), "split.group"),
        "protocol": b.text(split.get("protocol"), "split.protocol"),
        "tuned": b.flag(doc.get("tuned"), "tuned"),
        "pretrained": b.flag(doc.get("pretrained"), "pretrained"),
        "image_size": b.integer(doc.get("image_size"), "image_size"),
        "epochs": b.integer(doc.get("epochs"), "epochs"),
        "seed": b.integer(doc.get("seed"), "seed"),
        "device": b.text(compute.get("device"), "compute.device"),
        "device_name": b.text(compute.get("device_name"), "compute.device_name"),
        "precision": b.text(compute.get("precision"), "compute.precision"),
        "headline_metric": name or None,
        "headline_value": value,
        "headline_ci_low": low,
        "headline_ci_high": high,
        "error": b.first_error() if status == "failed" else None,
        "created": b.text(doc.get("created"), "created"),
        "finished": b.text(doc.get("finished"), "finished"),
        "wall_seconds": b.wall_seconds(),
        "params": b.integer(doc.get("params"), "params"),
        "run_dir": str(Path(run_dir).resolve()),
        "git_commit": b.text(doc.get("git_commit"), "git_commit"),
        "run_json": json.dumps(doc, sort_keys=True),
        "metrics_json": json.dumps(metrics, sort_keys=True) if metrics is not None else None,
    }
