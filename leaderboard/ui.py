"""Pieces every page shares: safe text, the onboarding message, provenance, run pickers and number formats.

Text that comes from a run (submission names, descriptions, errors, anything in ``run.json``) is shown through
``st.text``, ``st.code`` or table cells, or through :func:`md_escape` when it must sit inside Markdown: never as
HTML, never as live Markdown (a link or image in a submission's description would otherwise render).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

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


#: How a yes/no link parameter may be written (the page writes ``yes`` or ``no``).
_YES, _NO = ("yes", "1", "true", "on"), ("no", "0", "false", "off")


def _bad_link(param: str, value: Any, fallback: str) -> None:
    st.warning(f"This link's parameter {md_escape(param)}={md_escape(value)} is not valid here; "
               f"{md_escape(fallback)} is shown instead.")


def link_choice(param: str, key: str, options: Sequence[Any], *, text: Callable[[Any], str] = str) -> None:
    """Start the widget ``key`` at the option named by ``?param=`` (call it before the widget is made).

    Read only while the widget has no state yet (a link's first load); a value that is not among ``options``
    (compared as ``text`` of each) is a visible warning naming the parameter, and the widget keeps its default.
    """
    if key in st.session_state or param not in st.query_params:
        return
    wanted = st.query_params.get(param)
    by_text = {text(o): o for o in options}
    if wanted in by_text:
        st.session_state[key] = by_text[wanted]
    else:
        _bad_link(param, wanted, f"the default ({text(options[0])})" if options else "the default")


def link_choices(param: str, key: str, options: Iterable[Any], *, text: Callable[[Any], str] = str) -> None:
    """:func:`link_choice` for a multiselect: ``?param=a&param=b`` (or ``?param=a,b``); unknown values warn."""
    if key in st.session_state or param not in st.query_params:
        return
    by_text = {text(o): o for o in options}
    good: list[str] = []
    bad: list[str] = []
    for value in st.query_params.get_all(param):
        for part in [value] if value in by_text else [p for p in value.split(",") if p]:
            (good if part in by_text else bad).append(part)
    for part in bad:
        _bad_link(param, part, "the other values" if good else "no filter")
    st.session_state[key] = [by_text[p] for p in dict.fromkeys(good)]


def link_flag(param: str, key: str, default: bool) -> None:
    """:func:`link_choice` for a toggle: ``?param=yes`` or ``no`` (also 1/0, true/false, on/off)."""
    if key in st.session_state or param not in st.query_params:
        return
    wanted = str(st.query_params.get(param)).strip().lower()
    if wanted in _YES + _NO:
        st.session_state[key] = wanted in _YES
    else:
        _bad_link(param, st.query_params.get(param), f"the default ({'yes' if default else 'no'})")


def link_write(param: str, value: str | Sequence[str] | None) -> None:
    """Keep ``?param=`` in step with its widget: ``None`` or an empty list (the widget's default) drops it."""
    wanted = [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]
    if st.query_params.get_all(param) == wanted:
        return
    if not wanted:
        del st.query_params[param]
    else:
        st.query_params[param] = wanted if len(wanted) > 1 else wanted[0]


def view_link(page: str) -> None:
    """The sidebar's "Link to this view": the page's path with its query parameters (relative to the app)."""
    query = urlencode([(k, v) for k in st.query_params for v in st.query_params.get_all(k)])
    path = "" if page == "boards" else page  # the Boards page is the app's root
    with st.sidebar:
        st.caption("Link to this view (after the app's address)")
        st.code(f"{path}?{query}" if query else (path or "/"), language=None, wrap_lines=True)


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
