"""Where the leaderboard's data comes from: the results store, the run folders it indexes, and files beside them.

Nothing here uses Streamlit (the app caches these calls in :mod:`leaderboard.data`), so tests and benchmarks call
them directly.

The store: ``$BUSBENCH_LEADERBOARD_RESULTS`` (a SQLAlchemy URL; ``busbench leaderboard --results URL`` sets it) is
read as it is and never written. Without it the app shows the committed runs: every run folder under
``leaderboard/results`` is indexed into ``<cache>/leaderboard/committed-<hash>.sqlite`` (``<cache>`` is
``$BUSBENCH_CACHE_DIR`` or ``~/.cache/busbench``; the hash names the checkout), rebuilt whole whenever a run folder
appears, disappears or changes. The committed folder is only ever read: other processes publish runs into it while
the app is open, and each publish appears there whole (``busbench results publish`` renames a staging folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.audit.report import SCHEMA as AUDIT_SCHEMA
from benchmark.errors import BusbenchError
from benchmark.evaluation import stored_run
from benchmark.evaluation.stored_run import find_split_file
from benchmark.fileio import cache_root
from benchmark.results.rundir import PROB_COLUMNS, RunDir, read_masks
from benchmark.results.store import ResultsStore
from benchmark.splits.external import is_external
from benchmark.splits.schema import SplitFile, read_split

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_RESULTS = ROOT / "leaderboard" / "results"
PUBLISHED_CSV = ROOT / "leaderboard" / "published.csv"
SPLITS_DIR = ROOT / "splits"
#: Store URL to read instead of the committed runs.
RESULTS_ENV = "BUSBENCH_LEADERBOARD_RESULTS"
#: Dataset folder for reference masks and thumbnails (else $BUSBENCH_BUSI, else where each run says it read it).
DATA_ENV = "BUSBENCH_LEADERBOARD_DATA"


def run_folders(folder: Path) -> list[Path]:
    """Run folders directly under ``folder`` (those with a ``run.json``), skipping hidden staging folders."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / "run.json").is_file())


def folder_signature(folder: Path) -> str:
    """A hash of every run folder's name and its ``run.json``/``metrics.json`` sizes and times (cheap: stat only)."""
    h = hashlib.sha256(str(folder.resolve()).encode())
    for run in run_folders(folder):
        for name in ("run.json", "metrics.json"):
            try:
                st = (run / name).stat()
            except OSError:
                continue
            h.update(f"{run.name}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def committed_index_path(folder: Path = COMMITTED_RESULTS) -> Path:
    """Where the index of a results folder lives: in the busbench cache, named after the folder's path."""
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return cache_root() / "leaderboard" / f"committed-{key}.sqlite"


def build_index(folder: Path, target: Path) -> list[str]:
    """Index every run folder under ``folder`` into a fresh SQLite file, then move it onto ``target`` atomically.

    A run folder that cannot be indexed (malformed ``run.json``, a run being written) is left out and named in the
    returned problems instead of failing the whole board.

    Returns:
        One line per run folder left out: ``"<folder>: <problem>"``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".sqlite", dir=target.parent)
    os.close(fd)
    problems: list[str] = []
    try:
        with ResultsStore(f"sqlite:///{tmp}") as store:
            store.list_runs()  # creates the tables even when there is no run at all
            try:
                # One transaction for all (1,000 runs: about 1 s); a publish's staging copy, if caught half-way,
                # sorts before the finished folder, which overwrites its row.
                store.reindex(folder)
            except BusbenchError:
                # Some run.json is malformed or being written: index run by run (a transaction each, slower)
                # and name the ones left out.
                for run in run_folders(folder):
                    try:
                        store.index_run(run)
                    except BusbenchError as exc:
                        problems.append(f"{run.name}: {exc.problem}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return problems


def load_runs(url: str) -> list[dict[str, Any]]:
    """Every run in the store at ``url`` (see :meth:`ResultsStore.list_runs`)."""
    with ResultsStore(url) as store:
        return store.list_runs()


def runs_of(named: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run of a store named as ``busbench leaderboard --results`` names it, for a command that reads it once.

    Args:
        named: A SQLAlchemy URL (read as it is), a folder of run folders (indexed into a temporary SQLite file that
            is deleted afterwards: the command never writes the folder nor the app's cache), or ``None`` for the
            committed runs.

    Returns:
        The runs, and one line per run folder left out (see :func:`build_index`).

    Raises:
        BusbenchError: When ``named`` is neither a usable URL nor a folder.
    """
    if named and "://" in named:
        return load_runs(named), []
    folder = Path(named) if named else COMMITTED_RESULTS
    if not folder.is_dir():
        raise BusbenchError(folder, "is neither a store URL nor a folder of run folders")
    with tempfile.TemporaryDirectory(prefix="busbench-export-") as tmp:
        target = Path(tmp) / "index.sqlite"
        problems = build_index(folder, target)
        return load_runs(f"sqlite:///{target}"), problems


def load_run(url: str, run_id: str) -> dict[str, Any] | None:
    """One run of the store, or ``None``."""
    with ResultsStore(url) as store:
        return store.get_run(run_id)


def find_split(run_dir: Path, run_json: dict[str, Any]) -> tuple[SplitFile | None, str]:
    """The split file a run was made on (checked by its sha256), or ``None`` and why not.

    Returns:
        ``(split, path)`` when found; ``(None, reason)`` otherwise.
    """
    split = run_json.get("split") or {}
    if not isinstance(split.get("path"), str) or not isinstance(split.get("sha256"), str):
        return None, "the run records no split file"
    try:  # found as every reader of a stored run finds it
        path = find_split_file(Path(run_dir), run_json)
        return read_split(path), str(path)
    except BusbenchError as exc:
        return None, str(exc)


def dataset_candidates(run_json: dict[str, Any]) -> list[str]:
    """Dataset locations to try for a run, in order.

    The leaderboard's data folder, then what every reader of a stored run tries
    (:func:`benchmark.evaluation.stored_run.dataset_candidates`).
    """
    first = (os.environ[DATA_ENV],) if os.environ.get(DATA_ENV) else ()
    return stored_run.dataset_candidates(run_json, first=first)


def class_predictions(run_dir: Path, folds: list[int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A classification run's out-of-fold predictions: case ids, fold of each, probabilities (N, C).

    The columns are the file's ``prob_<class>`` columns, in their order (three classes, or benign and malignant).
    """
    import csv

    ids, fold_of, probs = [], [], []
    for k in folds:
        path = RunDir(run_dir).fold_dir(k) / "predictions.csv"
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = [c for c in reader.fieldnames or () if c.startswith("prob_")]
            for row in reader:
                ids.append(row["case_id"])
                fold_of.append(k)
                probs.append([float(row[c]) for c in columns])
    width = len(probs[0]) if probs else len(PROB_COLUMNS)
    return ids, np.asarray(fold_of, dtype=int), np.asarray(probs, dtype=float).reshape(-1, width)


def fold_masks(run_dir: Path, fold: int) -> dict[str, np.ndarray]:
    """A segmentation run's predicted masks of one fold (empty when the fold has none)."""
    path = RunDir(run_dir).fold_dir(fold) / "masks.npz"
    return read_masks(path) if path.is_file() else {}


def gradcam_maps(run_dir: Path) -> list[dict[str, Any]]:
    """Grad-CAM maps written by ``busbench explain`` (``gradcam/index.json``), each with its ``path``.

    Only PNGs named plainly inside ``gradcam/`` are returned, so an index cannot point the app elsewhere.
    """
    folder = Path(run_dir) / "gradcam"
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    cases = index.get("cases") if isinstance(index, dict) else None
    out = []
    for case_id, entry in sorted((cases or {}).items()):
        png = entry.get("png") if isinstance(entry, dict) else None
        if isinstance(png, str) and Path(png).name == png and (folder / png).is_file():
            out.append({**entry, "case_id": str(case_id), "path": str(folder / png)})
    return out


def _json_documents(folder: Path, pattern: str) -> list[tuple[Path, Any]]:
    """The files matching ``pattern`` in ``folder``, parsed; ``(path, None)`` for one that is not JSON."""
    out: list[tuple[Path, Any]] = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            out.append((path, None))
    return out


def protocol_summaries(folder: Path = COMMITTED_RESULTS) -> list[tuple[str, dict[str, Any]]]:
    """The protocol-audit summaries (``protocols-*.json``) in a results folder, as ``(file name, document)``."""
    return [(path.name, doc) for path, doc in _json_documents(folder, "protocols-*.json")
            if isinstance(doc, dict) and isinstance(doc.get("rows"), list)]


def dataset_audits(folder: Path = COMMITTED_RESULTS) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The dataset audits in a results folder: ``busbench audit``'s ``audit.json`` saved as ``audit-<name>.json``.

    Returns:
        ``(file name, document)`` for each readable audit, and one line per file that is not one.
    """
    good, bad = [], []
    for path, doc in _json_documents(folder, "audit-*.json"):
        if isinstance(doc, dict) and doc.get("schema") == AUDIT_SCHEMA:
            good.append((path.name, doc))
        else:
            bad.append(f"{path}: not a {AUDIT_SCHEMA} document (busbench audit's audit.json)")
    return good, bad


def split_files(extra: list[Path] | None = None) -> list[Path]:
    """The committed split files (``splits/**/*.json``, external-validation splits aside) and any others given."""
    found = [p for p in sorted(SPLITS_DIR.glob("**/*.json")) if not is_external(p)] if SPLITS_DIR.is_dir() else []
    return list(dict.fromkeys([*found, *(extra or [])]))
