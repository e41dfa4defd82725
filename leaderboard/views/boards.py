"""Boards: the clean ranking of each task, runs on leaky protocols apart and labelled, failed runs with their error."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from benchmark.evaluation.training import CLEARLY_BELOW
from leaderboard import tables, ui

CHOICE = {"any": None, "yes": True, "no": False}


def _filters(frame: pd.DataFrame) -> dict:
    """The filter widgets; returns keyword arguments for :func:`leaderboard.tables.apply_filters`."""
    cols = st.columns([2, 2, 1, 1, 1.4])
    datasets = sorted(frame["dataset"].dropna().astype(str).unique())
    protocols = sorted(frame["protocol"].fillna("(none)").astype(str).unique())
    chosen = {
        "datasets": cols[0].multiselect("Dataset", datasets, key="f-dataset", placeholder="all"),
        "protocols": cols[1].multiselect("Split protocol", protocols, key="f-protocol", placeholder="all"),
        "tuned": CHOICE[cols[2].selectbox("Tuned", list(CHOICE), key="f-tuned")],
        "pretrained": CHOICE[cols[3].selectbox("Pretrained", list(CHOICE), key="f-pretrained")],
    }
    st.session_state.setdefault("f-per-config", True)
    cols[4].toggle("Newest only", key="f-per-config",
                   help="One row per configuration (its newest run); off: every run")
    return chosen


def board_columns(task: str, metric: str) -> tuple[list[str], dict]:
    """Columns of a task's board and how to show them."""
    cc = st.column_config
    others = list(tables.OTHER_METRICS[task])
    columns = ["rank", "submission", "headline_value", "ci", "budget", "constant_prediction", "convergence",
               "fold_values", "fold_sd", *others,
               "params", "train_min", "peak_mib", "device", "image_size", "pretrained", "tuned", "kind", "dataset",
               "split", "epochs", "runs", "run_id", "link"]
    config = {
        "rank": cc.NumberColumn("#", width="small"),
        "headline_value": cc.NumberColumn(metric.replace("_", " "), format="%.3f",
                                          help="headline: pooled out-of-fold score"),
        "ci": cc.TextColumn("95% CI", help="cluster bootstrap over duplicate clusters, 2,000 resamples"),
        "constant_prediction": cc.TextColumn("predicts only", help="what a collapsed model predicted for every case "
                                             "(one class, or an empty mask); its score is not a trained model's"),
        "budget": cc.TextColumn("budget", help="input size, epochs, pretrained weights (their source) or scratch"),
        "convergence": cc.TextColumn("convergence", help="from the folds' training histories: 'still improving' "
                                     "(selected epoch in the last tenth in most folds), 'did not learn' (training "
                                     f"loss never {1 - CLEARLY_BELOW:.0%} below the chance-level loss in most folds), "
                                     "'learning unknown' "
                                     "(no chance level can be derived for its loss)"),
        **{m: cc.NumberColumn(m.replace("_", " "), format="%.3f") for m in others},
        "fold_values": cc.BarChartColumn("per fold", y_min=0.0, y_max=1.0, help=f"{metric} of each test fold"),
        "fold_sd": cc.NumberColumn("fold SD", format="%.3f", help="standard deviation across folds"),
        "params": cc.NumberColumn("params", format="compact"),
        "train_min": cc.NumberColumn("training", format="%.1f min", help="sum of the folds' wall time"),
        "peak_mib": cc.NumberColumn("peak memory", format="%.0f MiB", help="the largest fold's peak: GPU memory "
                                    "allocated on CUDA, resident host memory on CPU (blank: not recorded)"),
        "image_size": cc.NumberColumn("px"),
        "run_id": cc.TextColumn("run"),
        "link": cc.LinkColumn("details", display_text="open", help="the run's submission page"),
    }
    return columns, config


def decorate(board: pd.DataFrame) -> pd.DataFrame:
    """Add the display columns (CI as text, training minutes)."""
    ci = [f"{ui.fmt(lo)}–{ui.fmt(hi)}" if pd.notna(lo) else "-"
          for lo, hi in zip(board["headline_ci_low"], board["headline_ci_high"], strict=True)]
    return board.assign(ci=ci, train_min=board["wall_seconds"] / 60.0)


def _table(board: pd.DataFrame, task: str, key: str) -> None:
    metric = str(board["headline_metric"].dropna().iloc[0]) if board["headline_metric"].notna().any() else "headline"
    columns, config = board_columns(task, metric)
    shown = decorate(board)
    ui.table(shown[[c for c in columns if c in shown]], column_config=config, hide_index=True, key=key,
                 width="stretch")


def _provenance(board: pd.DataFrame, key: str) -> None:
    with st.expander("Provenance of every row (commit, versions, device, seed, split hash, dataset fingerprint)"):
        cols = ["run_id", "git_commit", "versions", "device", "precision", "seed", "split_sha256",
                "dataset_fingerprint", "created", "finished"]
        ui.table(board[cols], hide_index=True, key=key, width="stretch")


def render() -> None:
    """The page."""
    st.title("Boards")
    store, frame = ui.store_or_stop()
    if frame.empty:
        ui.onboarding(store)
        return
    task = st.radio("Task", ["classification", "segmentation"], horizontal=True, key="f-task")
    chosen = _filters(frame)
    filtered = tables.apply_filters(frame, **chosen)
    board = tables.ranking(filtered, task, per_config=st.session_state["f-per-config"])

    st.subheader(f"Clean protocol: {len(board)} {'configuration' if len(board) == 1 else 'configurations'}")
    st.caption("Ranked: completed runs on the clean protocol (splits grouped by examination, duplicate cluster or "
               "patient, epoch chosen on validation), one ranking per split file: scores on different splits are "
               "never ranked together. Headline with its 95% cluster-bootstrap interval; click a header to sort; "
               "'open' shows the run.")
    if board.empty:
        st.info("No completed clean-protocol run matches these filters.")
    for n, (title, rows) in enumerate(tables.by_split(board)):
        st.markdown(f"**Split {ui.md_escape(title)}**: {len(rows)} ranked")
        suffix = f"-{n}" if n else ""  # the newest split's board keeps the plain key
        _table(rows, task, f"board-{task}{suffix}")
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

    leaks = tables.leaky(filtered, task)
    if not leaks.empty:
        st.subheader(f"Leaky protocols: {len(leaks)} run(s), never ranked")
        st.warning("These runs used a protocol that leaks test information; their scores are not comparable with "
                   "the ranking above and are shown only to measure the inflation.")
        view = decorate(leaks)[["protocol", "why", "submission", "headline_value", "ci", "headline_metric", "dataset",
                                "split", "kind", "run_id", "link"]]
        ui.table(view, hide_index=True, key=f"leaky-{task}", width="stretch", column_config={
            "headline_value": st.column_config.NumberColumn("score", format="%.3f"),
            "ci": st.column_config.TextColumn("95% CI"),
            "headline_metric": st.column_config.TextColumn("metric"),
            "link": st.column_config.LinkColumn("details", display_text="open")})

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


if __name__ == "__main__":
    render()
