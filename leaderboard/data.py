"""Cached data access for the pages: which store to read, the board frame, one run, splits, datasets, files.

Every read goes through ``st.cache_data`` (values copied per session) or ``st.cache_resource`` (shared objects)
keyed by a *stamp* that changes when the data may have: for a results folder, a hash of its run folders' file sizes
and times (checked on every rerun, stat only); for a store URL, a 30-second time bucket.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from benchmark.audit.paper_protocols import read_published
from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation import stored_run
from benchmark.results.store import ResultsStore
from benchmark.splits.schema import SplitFile
from leaderboard import sources, tables, tuning

#: How long a store named by URL is trusted before it is read again (seconds).
URL_REFRESH_S = 30


@dataclass(frozen=True)
class Store:
    """The results store the app shows.

    Attributes:
        url: SQLAlchemy URL to query.
        shown: How to name it on the page (any password hidden).
        folder: The results folder indexed by the app, or ``None`` for a store named by URL.
        stamp: Changes whenever the data may have changed (part of every cache key).
        problems: Run folders that could not be indexed, with why.
    """

    url: str
    shown: str
    folder: str | None
    stamp: str
    problems: tuple[str, ...] = ()


@st.cache_data(show_spinner="Indexing the run folders…", max_entries=8)
def _index_folder(folder: str, signature: str) -> tuple[str, tuple[str, ...]]:
    target = sources.committed_index_path(Path(folder))
    # A fresh server reuses the index a previous one built when no run folder changed since (same signature):
    # indexing 1,000 folders takes about 2 s of a cold start. The stamp file is written after the index is in place.
    stamp = target.with_name(target.name + ".signature")
    try:
        kept = stamp.read_text().splitlines() if target.is_file() else []
    except OSError:
        kept = []
    if kept and kept[0] == signature:
        return f"sqlite:///{target}", tuple(kept[1:])
    problems = sources.build_index(Path(folder), target)
    try:
        tmp = stamp.with_name(stamp.name + f".{os.getpid()}")
        tmp.write_text("\n".join([signature, *problems]))
        os.replace(tmp, stamp)
    except OSError:  # a read-only cache: the index is still right for this server
        pass
    return f"sqlite:///{target}", tuple(problems)


@st.cache_resource(show_spinner=False)
def _shown_url(url: str) -> str:
    store = ResultsStore(url)
    store.close()
    return store.shown_url


def current_store() -> Store:
    """The store named by ``$BUSBENCH_LEADERBOARD_RESULTS`` (a URL or a folder of runs), else the committed runs.

    Raises:
        BusbenchError: When the URL cannot be used (bad syntax, missing driver).
    """
    named = os.environ.get(sources.RESULTS_ENV, "").strip()
    if named and "://" in named:
        return Store(named, _shown_url(named), None, str(int(time.time() // URL_REFRESH_S)))
    folder = Path(named) if named else sources.COMMITTED_RESULTS
    signature = sources.folder_signature(folder)
    url, problems = _index_folder(str(folder.resolve()), signature)
    if not Path(url.removeprefix("sqlite:///")).is_file():  # the cache was cleared under us: build it again
        _index_folder.clear()
        url, problems = _index_folder(str(folder.resolve()), signature)
    return Store(url, str(folder), str(folder), signature, problems)


@st.cache_resource(show_spinner="Reading the results store…", max_entries=2)
def _rows(url: str, stamp: str) -> list[dict[str, Any]]:
    """Every stored row, read once per store and stamp and shared (never modified by the pages)."""
    del stamp
    return sources.load_runs(url)


@st.cache_data(show_spinner="Reading the results store…", max_entries=8)
def board(url: str, stamp: str) -> pd.DataFrame:
    """Every run of the store, flattened (:func:`leaderboard.tables.board_frame`)."""
    return tables.board_frame(_rows(url, stamp))


@st.cache_data(show_spinner=False, max_entries=8)
def comparison(url: str, stamp: str, published_mtime_ns: int) -> pd.DataFrame:
    """Every published number beside our figure (:func:`leaderboard.ledger.comparison`).

    With ``our_split``, ``our_budget``, ``our_device`` and ``our_seconds`` (training wall time) of the run it
    comes from; empty when the ledger cannot be read.
    """
    from leaderboard import ledger  # only the pages that show the published comparison need it

    rows, problem = published_rows()
    del published_mtime_ns  # part of the cache key only
    if problem:
        return pd.DataFrame()
    frame = board(url, stamp)
    measured = ledger.measured_runs(frame) if not frame.empty else {}
    wanted = set(measured.values())
    metrics = {str(r.get("run_id")): r.get("metrics_json") or {} for r in _rows(url, stamp)
               if r.get("run_id") in wanted}
    table = ledger.comparison(rows, measured, metrics)
    by_run = frame.set_index("run_id") if not frame.empty else pd.DataFrame()
    for column, source in (("our_split", "split_path"), ("our_budget", "budget"), ("our_device", "device"),
                           ("our_seconds", "wall_seconds")):
        table[column] = [by_run.at[r, source] if r and r in by_run.index else None for r in table.get("run", [])]
    return table


@st.cache_data(show_spinner=False, max_entries=64)
def run(url: str, stamp: str, run_id: str) -> dict[str, Any] | None:
    """One run with its ``run_json`` and ``metrics_json``."""
    del stamp
    return sources.load_run(url, run_id)


@st.cache_resource(show_spinner=False, max_entries=16)
def split_of(run_dir: str, run_json_split: tuple[tuple[str, str], ...]) -> tuple[SplitFile | None, str]:
    """The split file of a run (see :func:`leaderboard.sources.find_split`)."""
    return sources.find_split(Path(run_dir), {"split": dict(run_json_split)})


def split_for(row: dict[str, Any]) -> tuple[SplitFile | None, str]:
    """The split file of a store row."""
    split = (row.get("run_json") or {}).get("split") or {}
    key = tuple((k, split[k]) for k in ("path", "sha256") if isinstance(split.get(k), str))
    return split_of(str(row.get("run_dir") or ""), key)


@st.cache_resource(show_spinner="Opening the dataset…", max_entries=4)
def dataset_matching(candidates: tuple[str, ...], fingerprint: str | None) -> tuple[Dataset | None, str]:
    """The first candidate dataset with this fingerprint (see :func:`benchmark.evaluation.stored_run.open_matching`)."""
    return stored_run.open_matching(list(candidates), fingerprint)


def dataset_for(row: dict[str, Any]) -> tuple[Dataset | None, str]:
    """The dataset a run was scored on, when it is on this machine: ``(dataset, location)`` or ``(None, why)``."""
    run_json = row.get("run_json") or {}
    try:
        return dataset_matching(tuple(sources.dataset_candidates(run_json)), row.get("dataset_fingerprint"))
    except BusbenchError as exc:  # pragma: no cover - open_matching reports its own failures
        return None, str(exc)


@st.cache_data(show_spinner=False, max_entries=16)
def class_predictions(run_dir: str, folds: tuple[int, ...]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Out-of-fold classification predictions (see :func:`leaderboard.sources.class_predictions`)."""
    return sources.class_predictions(Path(run_dir), list(folds))


@st.cache_data(show_spinner=False, max_entries=16)
def tuning_reports(run_dir: str, folds: tuple[int, ...], stamp: str) -> tuple[dict[int, dict[str, Any]],
                                                                              dict[int, str]]:
    """A tuned run's per-fold study reports (see :func:`leaderboard.tuning.read_reports`)."""
    del stamp  # a study that ends later writes its report: read again when the store changes
    return tuning.read_reports(Path(run_dir), folds)


@st.cache_data(show_spinner=False, max_entries=4)
def published(path: str, mtime_ns: int) -> list[dict[str, str]]:
    """The ledger of published results."""
    del mtime_ns
    return read_published(Path(path))


def published_rows() -> tuple[list[dict[str, str]], str | None]:
    """``leaderboard/published.csv`` rows, or ``([], why not)``."""
    path = sources.PUBLISHED_CSV
    try:
        return published(str(path), path.stat().st_mtime_ns), None
    except (OSError, BusbenchError) as exc:
        return [], str(exc)


@st.cache_data(show_spinner=False, max_entries=4)
def reproduction_audits(folder: str, files: tuple[tuple[str, int], ...]) -> dict[str, dict[str, Any]]:
    """The reference audits with the papers' protocols in a results folder.

    See :func:`benchmark.reports.reproduction.read_audits`; cached by the summaries' names and times.
    """
    from benchmark.reports.reproduction import read_audits

    del files  # part of the cache key only
    return read_audits(Path(folder))


def audits_in(folder: Path) -> dict[str, dict[str, Any]]:
    """:func:`reproduction_audits` of ``folder``, read again whenever one of its audit summaries changes."""
    from benchmark.reports.reproduction import SUMMARIES

    files = []
    for path in sorted(folder.glob(SUMMARIES)):
        try:
            files.append((path.name, path.stat().st_mtime_ns))
        except OSError:
            continue
    return reproduction_audits(str(folder), tuple(files))
