"""Boards: the clean ranking of each task, runs on leaky protocols apart and labelled, failed runs with their error."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from benchmark.classes import TASKS
from benchmark.errors import BusbenchError
from benchmark.evaluation.training import CLEARLY_BELOW
from leaderboard import charts, data, export, sources, tables, ui

CHOICE = {"any": None, "yes": True, "no": False}

#: The download buttons: format, label, file name suffix, MIME type.
DOWNLOADS = (("csv", "CSV", "csv", "text/csv"), ("latex", "LaTeX", "tex", "application/x-tex"),
             ("bibtex", "BibTeX", "bib", "application/x-bibtex"))


def _filters(frame: pd.DataFrame) -> dict:
    """The filter widgets; returns keyword arguments for :func:`leaderboard.tables.apply_filters`."""
    cols = st.columns([2, 2, 1, 1, 1.5, 1.9])
    datasets = sorted(frame["dataset"].dropna().astype(str).unique())
    protocols = sorted(frame["protocol"].fillna("(none)").astype(str).unique())
    # A link's parameters start the widgets (first load only); each widget writes its own back below.
    ui.link_choices("dataset", "f-dataset", datasets)
    ui.link_choices("protocol", "f-protocol", protocols)
    ui.link_choice("tuned", "f-tuned", list(CHOICE))
    ui.link_choice("pretrained", "f-pretrained", list(CHOICE))
    ui.link_flag("newest", "f-per-config", True)
    ui.link_flag("every", "f-every", False)
    chosen: dict[str, Any] = {
        "datasets": cols[0].multiselect("Dataset", datasets, key="f-dataset", placeholder="all"),
        "protocols": cols[1].multiselect("Split protocol", protocols, key="f-protocol", placeholder="all"),
        "tuned": CHOICE[cols[2].selectbox("Tuned", list(CHOICE), key="f-tuned")],
        "pretrained": CHOICE[cols[3].selectbox("Pretrained", list(CHOICE), key="f-pretrained")],
    }
    st.session_state.setdefault("f-per-config", True)
    cols[4].toggle("Newest only", key="f-per-config",
                   help="One row per configuration (its newest run); off: every run")
    cols[5].toggle("Every configuration", key="f-every",
                   help="Off: one row per submission, its best configuration (the others are listed below each "
                        "board); on: every configuration ranked")
    ui.link_write("dataset", chosen["datasets"])
    ui.link_write("protocol", chosen["protocols"])
    ui.link_write("tuned", None if st.session_state["f-tuned"] == "any" else st.session_state["f-tuned"])
    ui.link_write("pretrained", None if st.session_state["f-pretrained"] == "any" else st.session_state["f-pretrained"])
    ui.link_write("newest", None if st.session_state["f-per-config"] else "no")
    ui.link_write("every", "yes" if st.session_state.get("f-every") else None)
    return chosen


def export_text(frame: pd.DataFrame, task: str, fmt: str, *, per_config: bool = True, url: str | None = None) -> str:
    """What a download button hands over: the task's clean boards of ``frame`` in ``fmt``, as the page ranks them.

    With ``per_config`` (the page's default, 'Newest only') this is :func:`leaderboard.export.export` of ``frame``,
    the text ``busbench results export`` writes for the same runs; without it, every run is ranked, as the page
    then shows. BibTeX cites each ranked submission's reference, read from the store at ``url``.
    """
    try:
        cited = export.references(sources.load_runs(url)) if fmt == "bibtex" and url else {}
        if per_config:
            return export.export(frame, task, fmt, cited=cited)
        board_list = tables.by_split(tables.ranking(frame, task, per_config=False))
        if fmt == "csv":
            return export.to_csv(board_list)
        return export.to_latex(board_list, task) if fmt == "latex" else export.to_bibtex(board_list, cited)
    except BusbenchError as exc:  # an unreadable CITATION.cff or store: the file says so rather than failing
        return f"% busbench could not export this board: {exc}\n"


def _downloads(filtered: pd.DataFrame, task: str, *, narrowed: bool, per_config: bool, url: str) -> None:
    """One row of download buttons: the boards below as CSV, LaTeX and BibTeX (made when clicked)."""
    what = ("every configuration of the boards below, ranked per split file (as 'Every configuration' shows "
            "them), with score, 95% CI, budget and flags")
    what += ("; only the runs the filters above keep" if narrowed else "; the same text as 'busbench results "
             "export --task " + task + " --format {fmt}'")
    if not per_config:
        what += "; every run, not only each configuration's newest ('Newest only' is off)"
    with st.container(key=f"downloads-{task}", horizontal=True):
        for fmt, label, suffix, mime in DOWNLOADS:
            st.download_button(
                label, partial(export_text, filtered, task, fmt, per_config=per_config, url=url),
                file_name=f"busbench-{task}-board.{suffix}", mime=mime, key=f"download-{task}-{fmt}",
                on_click="ignore", icon=":material/download:",
                help=f"Download {what.format(fmt=fmt)}" + (" (BibTeX: busbench, the datasets and each ranked "
                                                          "submission's reference)" if fmt == "bibtex" else ""))


#: The columns a board shows by default: they fit 1400 px beside the sidebar; the score stays readable at 390 px.
DEFAULT_COLUMNS = ["rank", "model", "headline", "px", "ep", "weights", "flags", "configurations"]


def board_columns(task: str, metric: str) -> tuple[list[str], dict]:
    """Every column a task's board can show (the defaults first, then the chooser's) and how to show them."""
    cc = st.column_config
    others = list(tables.OTHER_METRICS[task])
    columns = [*DEFAULT_COLUMNS, "budget", "ci", "t_fold_sd", "fold_values", *(f"t_{m}" for m in others),
               "t_params", "t_train_min", "t_peak_mib", "device", "tuned_text", "kind", "dataset", "split", "runs",
               "run_id", "link"]
    name = metric.replace("_", " ")
    config = {
        "rank": cc.NumberColumn("#", width=36, pinned=True),
        "model": cc.LinkColumn("model", display_text=r"#(.+)$", width=160, pinned=True,
                               help="the submission; click it to open the run's page"),
        "headline": cc.TextColumn(name, width=150,
                                  help="headline: pooled out-of-fold score, with its 95% cluster-bootstrap "
                                       "interval (over duplicate clusters, 2,000 resamples)"),
        "px": cc.TextColumn("px", width=46, help="input size in pixels"),
        "ep": cc.TextColumn("ep", width=40, help="training epochs"),
        "weights": cc.TextColumn("weights", width=80, help="pretrained weights or trained from scratch (the "
                                 "weights' source is in the 'budget' column)"),
        "flags": cc.TextColumn("flags", width=180, help=(
            "from the folds' training histories: 'still improving' (selected epoch in the last tenth in most "
            f"folds), 'did not learn' (training loss never {1 - CLEARLY_BELOW:.0%} below the chance-level loss in "
            "most folds), 'learning unknown' (no chance level can be derived for its loss); 'predicts only X': the "
            "model predicted X for every case, so its score is not a trained model's")),
        "configurations": cc.TextColumn("configs", width=150,
                                        help="configurations of this submission on this split, and what differs "
                                             "between them (best first); the others are listed below the board"),
        "budget": cc.TextColumn("budget", help="input size, epochs, pretrained weights (their source) or scratch"),
        "ci": cc.TextColumn("95% CI", help="cluster bootstrap over duplicate clusters, 2,000 resamples"),
        **{f"t_{m}": cc.TextColumn(m.replace("_", " ")) for m in others},
        "fold_values": cc.BarChartColumn("per fold", help=f"{metric} of each test fold (axis: this row's own "
                                         "range)"),
        "t_fold_sd": cc.TextColumn("fold SD", help="standard deviation across folds"),
        "t_params": cc.TextColumn("params"),
        "t_train_min": cc.TextColumn("training", help="sum of the folds' wall time, minutes"),
        "t_peak_mib": cc.TextColumn("peak memory", help="the largest fold's peak, MiB: GPU memory allocated on "
                                    "CUDA, resident host memory on CPU ('-': not recorded)"),
        "device": cc.TextColumn("device"),
        "tuned_text": cc.TextColumn("tuned"),
        "kind": cc.TextColumn("kind"),
        "dataset": cc.TextColumn("dataset"),
        "split": cc.TextColumn("split"),
        "runs": cc.NumberColumn("runs", help="runs of this configuration (the newest is shown)"),
        "run_id": cc.TextColumn("run"),
        "link": cc.LinkColumn("details", display_text="open", help="the run's submission page"),
    }
    return columns, config


def _compact(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return "-"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def decorate(board: pd.DataFrame) -> pd.DataFrame:
    """Add the display columns: text cells only (a missing figure is "-", never "None"), the model as a link."""
    ci = [f"{ui.fmt(lo)}–{ui.fmt(hi)}" if pd.notna(lo) else "-"
          for lo, hi in zip(board["headline_ci_low"], board["headline_ci_high"], strict=True)]
    flags = [", ".join(x for x in (str(c or ""), f"predicts only {p}" if p else "") if x)
             for c, p in zip(board["convergence"], board["constant_prediction"], strict=True)]
    model = ["submission?run=" + quote(str(r), safe="") + "#" + quote(str(s if pd.notna(s) else "?"), safe="")
             for r, s in zip(board["run_id"], board["submission"], strict=True)]
    out = board.assign(
        ci=ci, train_min=board["wall_seconds"] / 60.0, model=model, flags=flags,
        headline=[tables.headline_text(v, lo, hi) for v, lo, hi in
                  zip(board["headline_value"], board["headline_ci_low"], board["headline_ci_high"], strict=True)],
        px=[tables.short(v, 0) for v in board["image_size"]], ep=[tables.short(v, 0) for v in board["epochs"]],
        weights=["-" if pd.isna(p) else "pretrained" if p else "scratch" for p in board["pretrained"]],
        tuned_text=[tables.yes_no(v) for v in board["tuned"]],
        t_params=[_compact(v) for v in board["params"]],
        t_peak_mib=[tables.short(v, 0) for v in board["peak_mib"]],
        t_fold_sd=[tables.short(v) for v in board["fold_sd"]])
    out["t_train_min"] = [tables.short(v, 1) for v in out["train_min"]]
    for m in tables.ALL_METRICS:
        if m in out:
            out[f"t_{m}"] = [tables.short(v) for v in out[m]]
    for column in ("device", "kind", "dataset", "split", "budget", "convergence"):
        if column in out:
            out[column] = out[column].fillna("-")
    if "configs" in out:
        out["configurations"] = [f"{n}: {d}" if n > 1 and d else str(n) for n, d in
                                 zip(out["configs"], out["differs"], strict=True)]
    else:
        out["configurations"] = "1"
    return out


def _metric(board: pd.DataFrame) -> str:
    return str(board["headline_metric"].dropna().iloc[0]) if board["headline_metric"].notna().any() else "headline"


def _table(board: pd.DataFrame, task: str, key: str, extra: list[str]) -> None:
    columns, config = board_columns(task, _metric(board))
    shown = decorate(board)
    order = [c for c in [*DEFAULT_COLUMNS, *extra] if c in shown]
    ui.table(shown, column_config=config, column_order=order, hide_index=True, key=key, width="stretch")


def _provenance(board: pd.DataFrame, key: str) -> None:
    with st.expander("Provenance of every row (commit, versions, device, seed, split hash, dataset fingerprint)"):
        cols = ["run_id", "git_commit", "versions", "device", "precision", "seed", "split_sha256",
                "dataset_fingerprint", "created", "finished"]
        ui.table(board[cols], hide_index=True, key=key, width="stretch")


def _pp(value: object) -> str:
    return f"{value:+.1f} pp" if isinstance(value, (int, float)) and value == value else "-"


def summary_line(task: str, splits: list[tuple[str, pd.DataFrame]], leaks: pd.DataFrame, store: data.Store) -> str:
    """The page's one-line summary in Markdown, every name escaped.

    The best clean model of the newest split with its CI, the median published-minus-clean gap of the task's
    headline numbers, and the largest inflation of a leaky run over its clean twin.
    """
    gaps = None
    table = data.comparison(store.url, store.stamp, _published_mtime())
    if not table.empty:
        mine = table[(table["task"] == task) & table["headline"] & table["difference_pp"].notna()]
        gaps = mine["difference_pp"]
    first = splits[0][1] if splits else pd.DataFrame(columns=["headline_value", "run_id"])
    facts = tables.summary(first, leaks, gaps)
    parts = []
    best = facts["best"]
    if best is not None:
        split = str(best.get("split_path") or best.get("split") or "")
        score = tables.headline_text(best["headline_value"], best["headline_ci_low"], best["headline_ci_high"])
        parts.append(f"**Best clean:** {ui.md_escape(best['submission'])}, "
                     f"{ui.md_escape(_metric(first).replace('_', ' '))} {ui.md_escape(score)}"
                     + (f" on {ui.md_escape(split)}" if split else ""))
    else:
        parts.append("**Best clean:** no completed clean-protocol run")
    if facts["median_gap_pp"] is not None:
        parts.append(f"**Published − clean:** median {ui.md_escape(_pp(facts['median_gap_pp']))} over "
                     f"{facts['gaps']} published headline number(s)")
    else:
        parts.append("**Published − clean:** no comparable published number yet")
    worst = facts["inflation"]
    if worst is not None:
        parts.append(f"**Largest protocol inflation:** {ui.md_escape(_pp(worst['inflation_pp']))}, "
                     f"{ui.md_escape(worst['submission'])} under {ui.md_escape(worst['protocol'])} over its clean run")
    else:
        parts.append("**Largest protocol inflation:** no leaky run with a clean twin")
    return " · ".join(parts)


def _published_mtime() -> int:
    try:
        return sources.PUBLISHED_CSV.stat().st_mtime_ns
    except OSError:
        return 0


def _others(others: pd.DataFrame, task: str, key: str) -> None:
    with st.expander(f"{len(others)} other configuration(s) of these submissions (ranked by their best one)"):
        columns, config = board_columns(task, _metric(others))
        shown = decorate(others).assign(differs=others["differs"].fillna(""))
        config = {**config, "rank": st.column_config.NumberColumn("# of best", width=60),
                  "differs": st.column_config.TextColumn("what differs in the submission's configurations")}
        ui.table(shown, column_config=config, hide_index=True, key=key, width="stretch",
                 column_order=["rank", "model", "headline", "px", "ep", "weights", "flags", "differs"])


def render() -> None:
    """The page."""
    st.title("Boards")
    store, frame = ui.store_or_stop()
    if frame.empty:
        ui.onboarding(store)
        return
    ui.link_choice("task", "f-task", TASKS)
    task = st.radio("Task", TASKS, horizontal=True, key="f-task")
    ui.link_write("task", None if task == TASKS[0] else task)
    summary = st.container(key=f"summary-{task}")
    chosen = _filters(frame)
    filtered = tables.apply_filters(frame, **chosen)
    board = tables.ranking(filtered, task, per_config=st.session_state["f-per-config"])
    leaks = tables.with_inflation(tables.leaky(filtered, task), frame)
    splits = tables.by_split(board)
    parts = [(title, rows, *tables.best_per_submission(rows)) for title, rows in splits]
    every = bool(st.session_state.get("f-every"))

    columns, config = board_columns(task, "headline")
    choices = [c for c in columns if c not in DEFAULT_COLUMNS]
    ui.link_choices("columns", "f-columns", choices)
    extra = st.multiselect("More columns", choices, key="f-columns", placeholder="budget, CI, other metrics, …",
                           format_func=lambda c: str((config.get(c) or {}).get("label") or c))
    ui.link_write("columns", extra)
    noun = "configuration" if every else "submission"
    count = len(board) if every else sum(len(best) for _, _, best, _ in parts)
    st.subheader(f"Clean protocol: {count} {noun if count == 1 else noun + 's'}")
    st.caption("Ranked: completed runs on the clean protocol (splits grouped by examination, duplicate cluster or "
               "patient, epoch chosen on validation), one ranking per split file: scores on different splits are "
               "never ranked together. One row per submission (its best configuration) unless 'Every "
               "configuration' is on. Headline with its 95% cluster-bootstrap interval; click a model to open its "
               "run; 'More columns' adds the other figures.")
    narrowed = len(filtered) < len(frame)
    _downloads(filtered, task, narrowed=narrowed, per_config=bool(st.session_state["f-per-config"]), url=store.url)
    if board.empty:
        st.info("No completed clean-protocol run matches these filters.")
    for n, (title, rows, best, others) in enumerate(parts):
        shown = pd.concat([best, others]).loc[rows.index].assign(rank=rows["rank"]) if every else best
        st.markdown(f"**Split {ui.md_escape(title)}**: {len(shown)} ranked")
        suffix = f"-{n}" if n else ""  # the newest split's board keeps the plain key
        if best["headline_value"].notna().any():
            st.altair_chart(charts.ranking_dots(best, _metric(best).replace("_", " ")), width="stretch",
                            key=f"dots-{task}{suffix}")
        _table(shown, task, f"board-{task}{suffix}", extra)
        if not every and not others.empty:
            _others(others, task, f"others-{task}{suffix}")
        _provenance(rows, f"prov-{task}{suffix}")

    for n, (title, rows) in enumerate(tables.external(filtered, task)):
        if n == 0:
            st.subheader("External validation: trained on one dataset, tested on another")
            st.caption("Each fold model of the training split predicts every case of the test dataset; the score is "
                       "their ensemble's, with a 95% cluster-bootstrap interval over the test data's patients or "
                       "duplicate clusters. Gap: the training data's cross-validated score minus the external one "
                       "(independent two-sample bootstrap). Never ranked with the boards above.")
        st.markdown(f"**{ui.md_escape(title)}**: {len(rows)} ranked")
        gap = [f"{ui.fmt(v)} [{ui.fmt(lo)}, {ui.fmt(hi)}]" if pd.notna(v) else "-"
               for v, lo, hi in zip(rows["gap_value"], rows["gap_ci_low"], rows["gap_ci_high"], strict=True)]
        view = decorate(rows).assign(gap=gap)[["rank", "submission", "headline_value", "ci", "headline_metric",
                                               "internal_value", "gap", "class_mapping", "external_train", "budget",
                                               "convergence", "run_id", "link"]]
        ui.table(view, hide_index=True, key=f"external-{task}-{n}", width="stretch", column_config={
            "headline_value": st.column_config.NumberColumn("external score", format="%.3f"),
            "ci": st.column_config.TextColumn("95% CI"),
            "headline_metric": st.column_config.TextColumn("metric"),
            "internal_value": st.column_config.NumberColumn("cross-validated", format="%.3f",
                                                            help="on the training data's own folds"),
            "gap": st.column_config.TextColumn("gap [95% CI]"),
            "class_mapping": st.column_config.TextColumn("class mapping"),
            "external_train": st.column_config.TextColumn("trained on"),
            "link": st.column_config.LinkColumn("details", display_text="open")})

    if not leaks.empty:
        st.subheader(f"Leaky protocols: {len(leaks)} run(s), never ranked")
        st.warning("These runs used a protocol that leaks test information; their scores are not comparable with "
                   "the ranking above and are shown only to measure the inflation: leaky minus the clean run of the "
                   "same submission at the same budget (input size, epochs, weights, tuning, data).")
        view = decorate(leaks).assign(
            clean=[tables.short(v) for v in leaks["clean_value"]],
            inflation=[_pp(v) for v in leaks["inflation_pp"]])
        ui.table(view, hide_index=True, key=f"leaky-{task}", width="stretch",
                 column_order=["protocol", "model", "headline", "clean", "inflation", "why", "px", "ep", "weights",
                               "split"],
                 column_config={
                     "protocol": st.column_config.TextColumn("protocol", pinned=True),
                     "model": st.column_config.LinkColumn("model", display_text=r"#(.+)$", width=150),
                     "headline": st.column_config.TextColumn("score [95% CI]", width=150),
                     "clean": st.column_config.TextColumn("clean twin", width=70,
                                                          help="the same submission and budget on the clean "
                                                               "protocol ('-': no such run)"),
                     "inflation": st.column_config.TextColumn("inflation", width=80,
                                                              help="leaky minus clean, percentage points"),
                     "why": st.column_config.TextColumn("why it leaks", width="large"),
                     "px": st.column_config.TextColumn("px", width=46),
                     "ep": st.column_config.TextColumn("ep", width=40),
                     "weights": st.column_config.TextColumn("weights", width=80),
                     "split": st.column_config.TextColumn("split")})

    pending = tables.unfinished(frame, task)
    if not pending.empty:
        st.subheader(f"Unfinished: {len(pending)} run(s)")
        ui.table(pending[["run_id", "status", "submission", "created"]], hide_index=True, key=f"pending-{task}")

    broken = tables.failed(frame, task)
    st.subheader(f"Failed runs: {len(broken)}")
    if broken.empty:
        st.caption("None.")
    else:
        ui.table(broken[["run_id", "submission", "created", "error"]], hide_index=True, key=f"failed-{task}",
                     width="stretch")

    # Filled last, into its place at the top: the published gap reads the ledger of published numbers, whose first
    # import (torch, through the seed systems) would otherwise hold back the board on a fresh server.
    summary.markdown(summary_line(task, splits, leaks, store))


if __name__ == "__main__":
    render()
    ui.view_link("boards")
