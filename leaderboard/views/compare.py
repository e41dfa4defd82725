"""Compare: two runs on the same split: paired bootstrap difference with its CI, and the corrected t-test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from benchmark.errors import BusbenchError
from leaderboard import data, paired, ui


@st.cache_data(show_spinner="Resampling 2,000 times…", max_entries=16)
def _compare(run_a: str, run_b: str, task: str, metric: str, stamp: str, _split: Any, _truth: Any) -> dict[str, Any]:
    del stamp  # cache key only (the split and ground truth objects are not hashed; they follow from the runs)
    return paired.compare(Path(run_a), Path(run_b), task, _split, _truth, metric)


def _truth(row: dict[str, Any], split: Any) -> tuple[Any, str]:
    dataset, where = data.dataset_for(row)
    if dataset is not None:
        return dataset, f"ground truth from the dataset at {where}"
    if row["task"] == "classification":
        return paired.RecordedLabels(split), "ground truth from the labels recorded in the split file (the dataset " \
                                             "is not on this machine)"
    return None, f"segmentation needs the dataset's reference masks, which are not available here ({where})"


def _result(result: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    boot, ttest, metric = result["bootstrap"], result["ttest"], result["metric"]
    cols = st.columns(4)
    cols[0].metric(f"A: {metric}", ui.fmt(result["a"]["value"]))
    cols[1].metric(f"B: {metric}", ui.fmt(result["b"]["value"]))
    cols[2].metric("B − A", ui.fmt(boot["difference"]),
                   help="positive: B scores higher (for ECE-like figures, lower is better)")
    cols[3].metric("95% CI of B − A", f"{ui.fmt(boot['low'])} to {ui.fmt(boot['high'])}")
    rows = [
        {"test": "paired cluster bootstrap", "difference": boot["difference"], "statistic": None,
         "p value": boot["p_value"], "detail": boot.get("reason") or boot["method"]},
        {"test": "corrected resampled t-test (Nadeau & Bengio)", "difference": ttest.get("mean_diff"),
         "statistic": ttest.get("t"), "p value": ttest.get("p_value"),
         "detail": ttest.get("undefined") or f"{ttest.get('k')} folds, {ttest.get('df')} degrees of freedom"},
    ]
    ui.table(pd.DataFrame(rows), hide_index=True, key="c-tests", width="stretch", column_config={
        "difference": st.column_config.NumberColumn(format="%+.4f"),
        "statistic": st.column_config.NumberColumn("t", format="%.3f"),
        "p value": st.column_config.NumberColumn(format="%.4f")})
    folds = pd.DataFrame({"fold": range(len(result["a"]["per_fold"])), "A": result["a"]["per_fold"],
                          "B": result["b"]["per_fold"]})
    ui.table(folds.assign(**{"B − A": folds["B"] - folds["A"]}), hide_index=True, key="c-folds")
    st.bar_chart(folds.set_index("fold")[["A", "B"]], stack=False, height=240)
    st.caption(f"A = {ui.md_escape(a['run_id'])}, B = {ui.md_escape(b['run_id'])}; {result['n_cases']} cases "
               f"resampled by {ui.md_escape(result['unit'])}.")


def render() -> None:
    """The page."""
    st.title("Compare two runs")
    store, frame = ui.store_or_stop()
    if frame.empty:
        ui.onboarding(store)
        return
    st.caption("Both runs must be completed, of one task, on the same split file and data: the difference is "
               "then paired case by case. Two tests: a paired bootstrap over duplicate clusters (or patients), "
               "and the corrected resampled t-test over folds, which allows for overlapping training sets.")
    options = ui.run_options(frame, statuses=("completed",))
    if len(options) < 2:
        st.info("Comparing needs at least two completed runs.")
        return
    left, right = st.columns(2)
    with left:
        first = ui.pick_run(frame, options, label="Run A", key="c-a", param="a")
    by_id = frame.set_index("run_id")
    row_a = by_id.loc[first]
    same = [o for o in options if o != first and by_id.loc[o, "split_sha256"] == row_a["split_sha256"]
            and by_id.loc[o, "task"] == row_a["task"]]
    with right:
        if not same:
            st.info("No other completed run of this task on the same split file.")
            return
        second = ui.pick_run(frame, same, label="Run B (same split)", key="c-b", param="b")
    a = data.run(store.url, store.stamp, first)
    b = data.run(store.url, store.stamp, second)
    if a is None or b is None:
        st.warning("A run is no longer in the store.")
        return
    problem = paired.check_pair(a, b)
    if problem:
        st.warning(problem)
        return
    metric = st.selectbox("Figure", paired.metrics_for(a["task"]), key="c-metric")
    split, where = data.split_for(a)
    if split is None:
        st.warning(f"The split file is needed for a paired test: {ui.md_escape(where)}.")
        return
    truth, source = _truth(a, split)
    if truth is None:
        st.info(source)
        return
    try:
        result = _compare(str(a["run_dir"]), str(b["run_dir"]), a["task"], metric, store.stamp, split, truth)
    except BusbenchError as exc:
        st.error("These runs cannot be compared.")
        st.code(str(exc), language=None)
        return
    _result(result, a, b)
    st.caption(ui.md_escape(source))


if __name__ == "__main__":
    render()
