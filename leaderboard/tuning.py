"""A tuned run's studies for the Submission page: each outer fold's ``fold-K/tuning.json``, as tables.

``busbench tune`` writes that file as each outer fold's study ends: the report ``busbench tune --show STUDY --json``
prints for the fold's study (:func:`benchmark.tuning.show.study_report`: best trials, parameter importances and the
optimisation history), so a run folder, published ones included, carries its tuning history without the study
storage. Runs tuned before the file existed have none; their history is only in the storage, and
:func:`show_command` says how to print it there. Nothing here uses Streamlit (:mod:`leaderboard.data` caches it).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.results.rundir import RunDir

#: The per-fold report file (``benchmark.tuning.nested.TUNING_REPORT``; not imported: that module loads torch).
TUNING_FILE = "tuning.json"
HISTORY_COLUMNS = ["number", "state", "value", "best_so_far", "epochs", "seconds", "params", "note"]


def is_tuned(run_json: dict[str, Any]) -> bool:
    """Whether a run came from ``busbench tune`` (kind ``tuned`` with its ``tuning`` record)."""
    return run_json.get("kind") == "tuned" and isinstance(run_json.get("tuning"), dict)


def tuned_folds(run_json: dict[str, Any]) -> list[int]:
    """Outer folds whose study ended (recorded in ``run.json``), else every fold the run recorded."""
    recorded = (run_json.get("tuning") or {}).get("folds") or run_json.get("folds") or {}
    return sorted(int(k) for k in recorded if str(k).isdigit())


def read_reports(run_dir: Path, folds: Sequence[int]) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """The study reports of ``folds`` found in the run folder, and why any present one could not be read.

    A fold without the file is in neither mapping (the run was tuned before busbench wrote it, or its study
    has not ended yet).
    """
    reports: dict[int, dict[str, Any]] = {}
    problems: dict[int, str] = {}
    for k in folds:
        path = RunDir(run_dir).fold_dir(k) / TUNING_FILE
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems[k] = f"fold-{k}/{TUNING_FILE}: cannot be read ({exc})"
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("history"), list):
            problems[k] = f"fold-{k}/{TUNING_FILE}: is not a study report (no history)"
            continue
        reports[k] = doc
    return reports, problems


def show_command(run_json: dict[str, Any], fold: int | None = None) -> str:
    """``busbench tune --show STUDY --storage URL`` for the run's study (one fold's study when ``fold`` is given)."""
    doc = run_json.get("tuning") or {}
    study = str(doc.get("study") or "STUDY") + (f".fold-{fold}" if fold is not None else "")
    return f"busbench tune --show {shlex.quote(study)} --storage {shlex.quote(str(doc.get('storage') or 'URL'))}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def history_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per trial: number, state, value (missing for pruned/failed), best so far, epochs, seconds, params."""
    rows = [{**{c: h.get(c) for c in HISTORY_COLUMNS}, "params": _params_text(h.get("params") or {})}
            for h in report.get("history") or []]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for column in ("value", "best_so_far", "seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def best_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The report's best trials, best first: trial number, value, then one column per parameter."""
    best = report.get("best") or []
    names = sorted({p for b in best for p in b.get("params") or {}})
    return pd.DataFrame([{"trial": b.get("number"), "value": b.get("value"),
                          **{p: (b.get("params") or {}).get(p) for p in names}} for b in best],
                        columns=["trial", "value", *names])


def importance_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Parameter importances, most important first (empty when the report has none)."""
    values = report.get("importances") or {}
    frame = pd.DataFrame(sorted(values.items(), key=lambda kv: -kv[1]), columns=["parameter", "importance"])
    frame["importance"] = frame["importance"].astype(float)
    return frame


def overview(run_json: dict[str, Any], reports: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per tuned outer fold: trial counts, best trial and value, study cost, how it ended, history file."""
    recorded = (run_json.get("tuning") or {}).get("folds") or {}
    rows = []
    for k in tuned_folds(run_json):
        summary = recorded.get(str(k)) or {}
        counts = (reports.get(k) or {}).get("counts") or summary.get("trials") or {}
        rows.append({"fold": k, "complete": counts.get("complete", 0), "pruned": counts.get("pruned", 0),
                     "failed": counts.get("fail", 0), "best trial": summary.get("best_trial"),
                     "best value": summary.get("best_value"), "tuning seconds": summary.get("seconds"),
                     "ended": summary.get("ended"), "history": "in the run folder" if k in reports else "storage only"})
    return pd.DataFrame(rows, columns=["fold", "complete", "pruned", "failed", "best trial", "best value",
                                       "tuning seconds", "ended", "history"])
