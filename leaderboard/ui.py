"""Pieces every page shares: safe text, the onboarding message, provenance, run pickers and number formats.

Text that comes from a run (submission names, descriptions, errors, anything in ``run.json``) is shown through
``st.text``, ``st.code`` or table cells, or through :func:`md_escape` when it must sit inside Markdown: never as
HTML, never as live Markdown (a link or image in a submission's description would otherwise render).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import streamlit as st

from benchmark.errors import BusbenchError
from benchmark.metrics.names import LOWER_IS_BETTER, METRIC_NAMES, metric_name  # noqa: F401 (the pages use them)
from leaderboard import data, tables

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")

ONBOARDING = """\
busbench quickstart                                   # the whole loop on synthetic data (a few minutes)
busbench run small_cnn --dataset path/to/BUSI --splits splits/busi/5fold_grouped.json --out runs
busbench results reindex runs                         # index the run folders into runs/index.sqlite
busbench leaderboard --results runs                   # or --results sqlite:///runs/index.sqlite
"""


def md_escape(text: Any) -> str:
    """``text`` with every Markdown and HTML special character escaped, so that it renders literally."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a sentence (``"-"`` when missing or not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def store_or_stop() -> tuple[data.Store, pd.DataFrame]:
    """The current store and its board frame; shows the problem and stops the page when it cannot be read."""
    try:
        store = data.current_store()
        frame = data.board(store.url, store.stamp)
    except BusbenchError as exc:
        st.error("The results store cannot be read.")
        st.code(str(exc), language=None)
        st.stop()
    with st.sidebar:
        st.caption("Results store")
        st.text(store.shown)
        if store.problems:
            with st.expander(f"{len(store.problems)} run folder(s) not indexed"):
                st.text("\n".join(store.problems))
    return store, frame


def onboarding(store: data.Store) -> None:
    """What to do when the store holds no run yet."""
    st.info("No runs in this results store yet. Produce some, then open the leaderboard on them:")
    st.code(ONBOARDING, language="bash")
    st.caption("Store read:")
    st.text(store.shown)


def provenance(run_json: dict[str, Any], *, key: str) -> None:
    """The run's provenance as a two-column table (commit, versions, device, seeds, split hash, fingerprint...)."""
    pairs = tables.provenance(run_json)
    table(pd.DataFrame(pairs, columns=["field", "value"]), key=key)


def run_options(frame: pd.DataFrame, *, statuses: tuple[str, ...] = ("completed", "partial")) -> list[str]:
    """Run ids to offer in a picker: clean-protocol runs first, then by task, best headline first."""
    scored = frame[frame["status"].isin(statuses)]
    scored = scored.assign(_leaky=scored["protocol"] != "clean")
    scored = scored.sort_values(["_leaky", "task", "headline_value"], ascending=[True, True, False],
                                na_position="last")
    return scored["run_id"].astype(str).tolist()


def run_label(frame: pd.DataFrame):
    """A ``format_func`` naming a run by submission, protocol and headline."""
    by_id = frame.set_index("run_id")

    def label(run_id: str) -> str:
        if run_id not in by_id.index:
            return run_id
        r = by_id.loc[run_id]
        head = f"{r['headline_metric']} {fmt(r['headline_value'])}" if r["headline_metric"] else "no score"
        return f"{r['submission']} · {r['protocol'] or 'no protocol'} · {head} · {run_id}"

    return label


def pick_run(frame: pd.DataFrame, options: list[str], *, label: str, key: str, param: str | None = None) -> str | None:
    """A run picker whose default comes from the page's query parameter ``param`` (so links open a run)."""
    if not options:
        return None
    wanted = st.query_params.get(param) if param else None
    if wanted and wanted not in options and key not in st.session_state:  # a stale or mistyped link
        st.warning(f"There is no run {md_escape(wanted)} among these; {md_escape(options[0])} is shown instead.")
    index = options.index(wanted) if wanted in options else 0
    chosen = st.selectbox(label, options, index=index, format_func=run_label(frame), key=key)
    if param and chosen != wanted:
        st.query_params[param] = chosen
    return chosen


def table(frame: pd.DataFrame, *, key: str, **kwargs: Any) -> None:
    """``st.dataframe`` (full width, no index) inside a container keyed ``key``, so tests and pages can find it."""
    with st.container(key=key):
        st.dataframe(frame, hide_index=kwargs.pop("hide_index", True), width=kwargs.pop("width", "stretch"),
                     **kwargs)


def fmt_p(value: Any) -> str:
    """A p value for a table or sentence: three decimals, ``< 0.001`` below that, ``n/a`` when missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def number_columns(frame: pd.DataFrame, digits: int = 3, *, names: bool = True) -> dict[str, Any]:
    """A ``column_config`` showing every float column of ``frame`` with ``digits`` decimals (integers as they are).

    Each column is headed by its human name (:func:`metric_name`) when ``names``; the frame keeps its own names.
    """
    config: dict[str, Any] = {}
    for column in frame.columns:
        label = metric_name(column) if names else str(column)
        if pd.api.types.is_float_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(label, format=f"%.{digits}f")
        elif names:
            config[column] = st.column_config.Column(label)
    return config
