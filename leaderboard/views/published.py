"""Published: every number the seed papers print, with its protocol flags, beside our clean-protocol number."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from benchmark.reports.reproduction import read_audits, reproductions
from leaderboard import charts, data, ledger, sources, ui

FLAG_HELP = {
    "split": "kfold · single_random_split · single_split · contradictory · not_stated",
    "augmentation_timing": "training_only · before_split_possible · ambiguous · none · not_stated",
    "mask_in_input": "yes (mask or label overlaid on the input) · no · unclear · not_stated",
    "selection_on_test": "was the model chosen on the images whose score is reported? yes · likely · no · unknown",
    "empty_mask_convention": "normal_included_iou_1 (empty masks averaged in, scored 1) · lesion_only · not_stated",
    "pretrained": "imagenet · pretrained_unnamed · mixed · none · not_stated",
}


def _metrics_of(store: data.Store, run_ids: list[str]) -> dict[str, dict]:
    out = {}
    for run_id in run_ids:
        row = data.run(store.url, store.stamp, run_id)
        if row is not None:
            out[run_id] = row.get("metrics_json") or {}
    return out


def render() -> None:
    """The page."""
    st.title("Published results")
    st.caption("Each number as its paper printed it, with the protocol flags recorded in leaderboard/published.csv, "
               "beside our figure for the same system on the clean protocol. Published numbers are shown as "
               "published, never corrected; the difference is published minus ours.")
    rows, problem = data.published_rows()
    if problem:
        st.error("The ledger of published results cannot be read.")
        st.code(problem, language=None)
        return
    store, frame = ui.store_or_stop()
    measured = ledger.measured_runs(frame) if not frame.empty else {}
    table = ledger.comparison(rows, measured, _metrics_of(store, sorted(set(measured.values()))))
    if not frame.empty:  # which split each of our figures stands on, and how it was trained
        by_run = frame.set_index("run_id")
        table["our_split"] = [by_run.at[r, "split_path"] if r in by_run.index else None for r in table["run"]]
        table["our_budget"] = [by_run.at[r, "budget"] if r in by_run.index else None for r in table["run"]]
    else:
        table["our_split"] = table["our_budget"] = None

    cols = st.columns([3, 2, 2, 2])
    papers = cols[0].multiselect("Paper", sorted(table["paper"].unique()), key="p-paper", placeholder="all")
    task = cols[1].selectbox("Task", ["any", "classification", "segmentation"], key="p-task")
    headline_only = cols[2].toggle("Headline rows only", value=True, key="p-headline",
                                   help="each paper's summary score of a system (as the README compares)")
    ours_only = cols[3].toggle("Only rows with our number", value=False, key="p-ours")
    shown = table
    if papers:
        shown = shown[shown["paper"].isin(papers)]
    if task != "any":
        shown = shown[shown["task"] == task]
    if headline_only:
        shown = shown[shown["headline"]]
    if ours_only:
        shown = shown[shown["ours"].notna()]

    st.subheader(f"{len(shown)} published number(s)")
    cc = st.column_config
    ui.table(shown[["paper", "model", "condition", "where", "metric", "averaging", "published_text", "flags",
                        "busbench_submission", "ours", "ours_low", "ours_high", "paper_compatible", "difference_pp",
                        "our_split", "our_budget", "status", "link", *ledger.FLAG_COLUMNS]],
                 hide_index=True, width="stretch", key="published-table", column_config={
                     "published_text": cc.TextColumn("published", help="verbatim from the paper"),
                     "busbench_submission": cc.TextColumn("our system"),
                     "ours": cc.NumberColumn("ours (clean)", format="%.3f"),
                     "ours_low": cc.NumberColumn("95% CI low", format="%.3f"),
                     "ours_high": cc.NumberColumn("95% CI high", format="%.3f"),
                     "paper_compatible": cc.NumberColumn("ours, paper's convention", format="%.3f",
                                                         help="normal images averaged in, an empty prediction "
                                                              "scored 1"),
                     "difference_pp": cc.NumberColumn("published − ours", format="%+.1f pp"),
                     "our_split": cc.TextColumn("our split", help="the split file our figure stands on"),
                     "our_budget": cc.TextColumn("our budget", help="input size, epochs, pretrained or scratch"),
                     "link": cc.LinkColumn("our run", display_text="open"),
                     **{f: cc.TextColumn(f.replace("_", " "), help=FLAG_HELP.get(f)) for f in ledger.FLAG_COLUMNS},
                 })

    points = shown[shown["published"].notna() & shown["ours"].notna()]
    if points.empty:
        st.info("No row here has both a published fraction and our like-for-like figure yet.")
    else:
        st.altair_chart(charts.published_vs_measured(points), width="stretch")
    _decomposition(rows, store)
    with st.expander("Citations"):
        cites = shown[["paper", "citation"]].drop_duplicates()
        ui.table(pd.DataFrame(cites), hide_index=True, width="stretch", key="published-citations")


def _decomposition(rows: list[dict[str, str]], store: data.Store) -> None:
    """Each headline number beside the reference trained under that paper's protocol and under the clean one."""
    st.subheader("How much of each gap the protocol explains")
    st.caption("The strong reference of each task trained under the paper's own protocol (its leaks combined; both "
               "readings where the paper is ambiguous) and under the clean protocol at the same budget: "
               "published - clean = (reproduced - clean, explained by the protocol) + (published - reproduced, "
               "unexplained). The reference stands in for every system of the task.")
    folder = Path(store.folder) if store.folder else sources.COMMITTED_RESULTS
    items = [r for r in reproductions(rows, read_audits(folder)) if r.reproduced is not None and r.clean is not None]
    if not items:
        st.info("No reference audit with the papers' protocols is in this results folder yet "
                "(leaderboard/run_protocol_audit.sh).")
        return
    frame = pd.DataFrame([{
        "label": f"{r.row['paper']}: {r.protocol}" + (f" ({r.label})" if r.label else ""),
        "paper": r.row["paper"], "system": r.row["model"], "condition": r.row["condition"],
        "metric": r.row["metric"], "published": r.published, "reproduced": r.reproduced.value,
        "reproduced_ci": r.reproduced.text(), "clean": r.clean.value, "clean_ci": r.clean.text(),
        "explained_pp": 100 * r.explained, "unexplained_pp": 100 * r.unexplained,
        "stand_in": r.stand_in} for r in items])
    st.altair_chart(charts.decomposition(frame), width="stretch")
    cc = st.column_config
    ui.table(frame.drop(columns=["label"]), hide_index=True, width="stretch", key="published-decomposition",
             column_config={"published": cc.NumberColumn(format="%.3f"),
                            "reproduced": cc.NumberColumn("as published, reproduced", format="%.3f"),
                            "reproduced_ci": cc.TextColumn("reproduced [95% CI]"),
                            "clean": cc.NumberColumn(format="%.3f"), "clean_ci": cc.TextColumn("clean [95% CI]"),
                            "explained_pp": cc.NumberColumn("explained", format="%+.1f pp"),
                            "unexplained_pp": cc.NumberColumn("unexplained", format="%+.1f pp"),
                            "stand_in": cc.TextColumn("stand-in system")})


if __name__ == "__main__":
    render()
