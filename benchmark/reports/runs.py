"""The committed runs a report tabulates: completed clean-protocol runs on one split file, read from their folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BusbenchError
from benchmark.fileio import read_json
from benchmark.results.rundir import file_sha256


@dataclass(frozen=True)
class Measured:
    """Our newest completed clean run of a submission.

    Attributes:
        run_id: Its folder name.
        run: Its ``run.json``.
        metrics: Its ``metrics.json``.
        n_runs: How many completed runs on the split the submission has.
        folder: Its run folder (the fold histories behind its convergence flags).
    """

    run_id: str
    run: dict[str, Any]
    metrics: dict[str, Any]
    n_runs: int
    folder: Path | None = None


def _read_json(path: Path) -> Any:
    return read_json(path, invalid="cannot be read as JSON")


def clean_run_folders(results: Path, split_file: Path) -> list[Measured]:
    """Every completed clean-protocol run on ``split_file`` (same sha256) under ``results``, oldest first.

    Protocol-audit runs reuse the split's folds under leaky protocols (kind ``protocol-audit``) and are never
    included. ``n_runs`` of each is 1 (see :func:`clean_runs` for the newest of each submission).

    Raises:
        BusbenchError: If ``results`` is not a folder, the split file is missing or a run's JSON cannot be read.
    """
    if not results.is_dir():
        raise BusbenchError(results, "is not a results folder")
    if not split_file.is_file():
        raise BusbenchError(split_file, "not found: the report compares runs on this split")
    wanted = file_sha256(split_file)
    found = []
    for folder in sorted(p for p in results.iterdir() if (p / "run.json").is_file()):
        run = _read_json(folder / "run.json")
        split = run.get("split") or {}
        if run.get("status") != "completed" or split.get("sha256") != wanted or split.get("protocol") != "clean" \
                or run.get("kind") == "protocol-audit" or not (run.get("submission") or {}).get("name"):
            continue
        found.append(Measured(folder.name, run, _read_json(folder / "metrics.json"), 1, folder))
    return sorted(found, key=lambda m: (str(m.run.get("created", "")), m.run_id))


def clean_runs(results: Path, split_file: Path) -> dict[str, Measured]:
    """Submission name -> its newest completed clean-protocol run on ``split_file``, with how many it has."""
    by_name: dict[str, list[Measured]] = {}
    for measured in clean_run_folders(results, split_file):
        by_name.setdefault(measured.run["submission"]["name"], []).append(measured)
    return {name: Measured(runs[-1].run_id, runs[-1].run, runs[-1].metrics, len(runs), runs[-1].folder)
            for name, runs in by_name.items()}
