"""Published: every number the seed papers print, with its protocol flags, beside our clean-protocol number."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from benchmark.reports.reproduction import reproductions
from leaderboard import charts, data, ledger, sources, tables, ui

FLAG_HELP = {
    "split": "kfold · single_random_split · single_split · contradictory · not_stated",
    "augmentation_timing": "training_only · before_split_possible · ambiguous · none · not_stated",
    "mask_in_input": "yes (mask or label overlaid on the input) · no · unclear · not_stated",
    "selection_on_test": "was the model chosen on the images whose score is reported? yes · likely · no · unknown",
    "empty_mask_convention": "normal_included_iou_1 (empty masks averaged in, scored 1) · lesion_only · not_stated",
    "pretrained": "imagenet · pretrained_unnamed · mixed · none · not_stated",
}


_DOI = re.compile(r"(?:doi:\s*|doi\.org/)(10\.\d{4,9}/[^\s,;]+?)[.,;]?(?=\s|$)", re.IGNORECASE)
#: The table's columns by default: ours, its CI, budget and the gap right after the published number (1400 px).
# Paper and system share the first column, so that at phone width (390 px) the published number, ours with its
# interval are in view beside it (150 + 66 + 134 px), the gap one swipe away.
DEFAULT_COLUMNS = ["system", "published_text", "ours_text", "gap", "metric", "our_budget", "flags", "reproduced",
                   "doi", "link"]
MORE_COLUMNS = ["paper", "model", "condition", "where", "averaging", "busbench_submission", "paper_compatible_text",
                "our_split", "status", *ledger.FLAG_COLUMNS]


def doi_link(citation: str) -> str:
    """``https://doi.org/<doi>`` of a citation that names its DOI, else ``""`` (an empty cell, never "None")."""
    found = _DOI.search(citation or "")
    return f"https://doi.org/{found.group(1)}" if found else ""


def short_budget(row: pd.Series) -> str:
    """How our figure was bought, short: ``"128 px, 30 ep, scratch · CPU, 14 min"`` (``"-"`` without a run)."""
    if not isinstance(row.get("run"), str) or not row.get("run"):
        return "-"
    weights = {True: "pretrained", False: "scratch"}.get(row.get("_pretrained"), "weights ?")
    parts = [f"{tables.short(row.get('_px'), 0)} px", f"{tables.short(row.get('_ep'), 0)} ep", weights]
    device = str(row.get("our_device") or "")
    where = "GPU" if device.startswith("cuda") else "CPU" if device.startswith("cpu") else device or "device ?"
    seconds = row.get("our_seconds")
    spent = f", {seconds / 60:.0f} min" if isinstance(seconds, (int, float)) and seconds == seconds else ""
    return ", ".join(parts) + f" · {where}{spent}"


def reproduction_texts(rows: list[dict[str, str]], audits: dict) -> dict[str, str]:
    """Published row id -> its as-published reproduction in words, where the reference audit ran its protocol.

    For example ``"0.853 (+8.0 pp explained, +4.1 pp unexplained)"``; both readings, named, where the paper is
    ambiguous.
    """
    out: dict[str, list[str]] = {}
    for r in reproductions(rows, audits):
        # (explained and unexplained are None exactly when one of the first two is; the checks narrow their types)
        if r.reproduced is None or r.clean is None or r.explained is None or r.unexplained is None:
            continue
        text = (f"{r.reproduced.value:.3f} ({100 * r.explained:+.1f} pp explained, "
                f"{100 * r.unexplained:+.1f} pp unexplained)")
        out.setdefault(r.row.get("row_id", ""), []).append(f"{r.label}: {text}" if r.label else text)
    return {k: "; ".join(v) for k, v in out.items()}


def family_charts(points: pd.DataFrame) -> None:
    """One published-against-ours chart per metric family (accuracy-like, AUC, Dice/IoU), side by side."""
    fam = points["metric"].map(charts.metric_family)
    drawn = [f for f in charts.METRIC_FAMILIES if (fam == f).any()]
    missing = [f for f in charts.METRIC_FAMILIES if f not in drawn]
    for col, family in zip(st.columns(max(len(drawn), 1)), drawn, strict=False):
        with col:
            st.altair_chart(charts.published_family(points[fam == family], family), width="stretch",
                            key=f"published-chart-{family}")
    if missing:
        st.caption(f"No chart for {', '.join(missing)}: no published number there has our like-for-like figure "
                   "yet.")


def render() -> None:
    """The page."""
    st.title("Published results")
    st.caption("Each number as its paper printed it, with the protocol flags recorded in leaderboard/published.csv, "
               "beside our figure for the same system on the clean protocol and its 95% interval. Published numbers "
               "are shown as published, never corrected; the gap is published minus ours. Our figures come from "
               "short training runs, most of them on a CPU (the budget beside each: input size, epochs, weights, "
               "device, minutes): a floor for the system under a clean protocol, not the paper's training.")
    rows, problem = data.published_rows()
    if problem:
        st.error("The ledger of published results cannot be read.")
        st.code(problem, language=None)
        return
    store, frame = ui.store_or_stop()
    mtime = sources.PUBLISHED_CSV.stat().st_mtime_ns
    table = data.comparison(store.url, store.stamp, mtime).copy()
    table["row_id"] = [r.get("row_id", "") for r in rows]
    by_run = frame.set_index("run_id") if not frame.empty else pd.DataFrame(columns=["image_size", "epochs",
                                                                                      "pretrained"])
    for column, source in (("_px", "image_size"), ("_ep", "epochs"), ("_pretrained", "pretrained")):
        table[column] = [by_run.at[r, source] if r and r in by_run.index else None for r in table["run"]]
    folder = Path(store.folder) if store.folder else sources.COMMITTED_RESULTS
    audits = data.audits_in(folder)
    reproduced = reproduction_texts(rows, audits)
    table = table.assign(
        ours_text=[tables.headline_text(v, lo, hi) for v, lo, hi in
                   zip(table["ours"], table["ours_low"], table["ours_high"], strict=True)],
        gap=[f"{v:+.1f} pp" if pd.notna(v) else "-" for v in table["difference_pp"]],
        our_budget_full=table["our_budget"],
        paper_compatible_text=[tables.short(v) for v in table["paper_compatible"]],
        reproduced=[reproduced.get(r, "-") for r in table["row_id"]],
        doi=[doi_link(c) for c in table["citation"]],
        link=table["link"].fillna(""),
        our_split=table["our_split"].fillna("-"),
        system=[f"{paper} · {model}" for paper, model in zip(table["paper"], table["model"], strict=True)])
    table["our_budget"] = [b if isinstance(b, str) and b else "-" for b in table["our_budget"]]
    table["our_budget_short"] = table.apply(short_budget, axis=1)

    cols = st.columns([3, 2, 2, 2])
    paper_names = sorted(table["paper"].unique())
    tasks = ["any", "classification", "segmentation"]
    # A link's parameters start the filters (?paper=...&task=...&headline=no&ours=yes); each is written back.
    ui.link_choices("paper", "p-paper", paper_names)
    ui.link_choice("task", "p-task", tasks)
    ui.link_flag("headline", "p-headline", True)
    ui.link_flag("ours", "p-ours", False)
    st.session_state.setdefault("p-headline", True)
    papers = cols[0].multiselect("Paper", paper_names, key="p-paper", placeholder="all")
    task = cols[1].selectbox("Task", tasks, key="p-task")
    headline_only = cols[2].toggle("Headline rows only", key="p-headline",
                                   help="each paper's summary score of a system (as the README compares)")
    ours_only = cols[3].toggle("Only rows with our number", key="p-ours")
    ui.link_write("paper", papers)
    ui.link_write("task", None if task == "any" else task)
    ui.link_write("headline", None if headline_only else "no")
    ui.link_write("ours", "yes" if ours_only else None)
    shown = table
    if papers:
        shown = shown[shown["paper"].isin(papers)]
    if task != "any":
        shown = shown[shown["task"] == task]
    if headline_only:
        shown = shown[shown["headline"]]
    if ours_only:
        shown = shown[shown["ours"].notna()]

    cc = st.column_config
    config = {
        "system": cc.TextColumn("paper · system", width=150),
        "paper": cc.TextColumn("paper", width=100),
        "model": cc.TextColumn("system (paper's name)", width=120),
        "metric": cc.TextColumn("metric", width=70),
        "published_text": cc.TextColumn("published", width=66, help="verbatim from the paper"),
        "ours_text": cc.TextColumn("ours [95% CI]", width=134,
                                   help="our pooled out-of-fold figure on the clean protocol, 95% interval"),
        "gap": cc.TextColumn("gap", width=70, help="published minus ours, percentage points"),
        "our_budget_short": cc.TextColumn("our budget", width=230, help="input size, epochs, pretrained or "
                                          "scratch · device and training time of the run behind our figure"),
        "flags": cc.TextColumn("protocol flags", width="medium",
                               help="the paper's protocol flags that make its number optimistic or unverifiable "
                                    "(each flag's own column: 'More columns')"),
        "reproduced": cc.TextColumn("as published, reproduced", width="medium",
                                    help="the reference system trained under this paper's protocol (its leaks): "
                                         "the part of the gap the protocol explains and the rest (see below)"),
        "doi": cc.LinkColumn("DOI", display_text=r"doi\.org/(.+)$", width=90),
        "link": cc.LinkColumn("our run", display_text="open", width=60),
        "busbench_submission": cc.TextColumn("our system"),
        "paper_compatible_text": cc.TextColumn("ours, paper's convention",
                                               help="normal images averaged in, an empty prediction scored 1"),
        "our_split": cc.TextColumn("our split", help="the split file our figure stands on"),
        **{f: cc.TextColumn(f.replace("_", " "), help=FLAG_HELP.get(f)) for f in ledger.FLAG_COLUMNS},
    }
    ui.link_choices("columns", "p-columns", MORE_COLUMNS)
    extra = st.multiselect("More columns", MORE_COLUMNS, key="p-columns", placeholder="each flag, condition, …",
                           format_func=lambda c: str((config.get(c) or {}).get("label") or c))
    ui.link_write("columns", extra)
    order = [c if c != "our_budget" else "our_budget_short" for c in DEFAULT_COLUMNS] + extra
    st.subheader(f"{len(shown)} published number(s)")
    ui.table(shown, hide_index=True, width="stretch", key="published-table", column_config=config,
             column_order=order)

    points = shown[shown["published"].notna() & shown["ours"].notna()]
    if points.empty:
        st.info("No row here has both a published fraction and our like-for-like figure yet.")
    else:
        family_charts(points)
    _decomposition(rows, audits)
    with st.expander("Citations"):
        cites = shown[["paper", "citation", "doi"]].drop_duplicates()
        ui.table(pd.DataFrame(cites), hide_index=True, width="stretch", key="published-citations",
                 column_config={"doi": cc.LinkColumn("DOI", display_text=r"doi\.org/(.+)$")})


def _decomposition(rows: list[dict[str, str]], audits: dict) -> None:
    """Each headline number beside the reference trained under that paper's protocol and under the clean one."""
    st.subheader("How much of each gap the protocol explains")
    st.caption("The strong reference of each task trained under the paper's own protocol (its leaks combined; both "
               "readings where the paper is ambiguous) and under the clean protocol at the same budget: "
               "published - clean = (reproduced - clean, explained by the protocol) + (published - reproduced, "
               "unexplained). The reference stands in for every system of the task.")
    # (explained and unexplained are None exactly when one of these is; the checks narrow their types)
    items = [(r, r.reproduced, r.clean, r.explained, r.unexplained) for r in reproductions(rows, audits)
             if r.reproduced is not None and r.clean is not None and r.explained is not None
             and r.unexplained is not None]
    if not items:
        st.info("No reference audit with the papers' protocols is in this results folder yet "
                "(leaderboard/run_protocol_audit.sh).")
        return
    frame = pd.DataFrame([{
        "label": f"{r.row['paper']}: {r.protocol}" + (f" ({r.label})" if r.label else ""),
        "paper": r.row["paper"], "system": r.row["model"], "condition": r.row["condition"],
        "metric": r.row["metric"], "published": r.published, "reproduced": reproduced.value,
        "reproduced_ci": reproduced.text(), "clean": clean.value, "clean_ci": clean.text(),
        "explained_pp": 100 * explained, "unexplained_pp": 100 * unexplained,
        "stand_in": r.stand_in} for r, reproduced, clean, explained, unexplained in items])
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
    ui.view_link("published")
