"""Compare: two runs on the same split: paired bootstrap difference with its CI, and the corrected t-test.

Opened without a link, it shows the two best distinct submissions that can be compared. A verdict in words comes
first (which run is better, or that the difference is not established, and why when the two tests disagree), then
B - A with both tests' intervals as a chart, the tests as a table (n/a with its reason where a test has no value),
and the per-fold scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pandas as pd
import streamlit as st

from benchmark.errors import BusbenchError
from leaderboard import charts, data, paired, ui


@st.cache_data(show_spinner="Resampling 2,000 times…", max_entries=16)
def _compare(run_a: str, run_b: str, task: str, metric: str, stamp: str, _split: Any, _truth: Any) -> dict[str, Any]:
    del stamp  # cache key only (the split and ground truth objects are not hashed; they follow from the runs)
    return paired.compare(Path(run_a), Path(run_b), task, _split, _truth, metric)


def _truth(row: dict[str, Any], split: Any) -> tuple[Any, str]:
    dataset, where = data.dataset_for(row)
    if dataset is not None:
        return dataset, (f"ground truth from the dataset {row.get('dataset')} (fingerprint "
                         f"{str(row.get('dataset_fingerprint'))[:12]}) found on this machine")
    if row["task"] == "classification":
        return paired.RecordedLabels(split), "ground truth from the labels recorded in the split file (the dataset " \
                                             "is not on this machine)"
    return None, f"segmentation needs the dataset's reference masks, which are not available here ({where})"


def _test_rows(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tests as table rows (text cells: a test that has no value says n/a and why) and as chart rows."""
    boot, ttest = result["bootstrap"], result["ttest"]
    t_ci = paired.ttest_interval(result)
    t_low, t_high = t_ci or (None, None)
    k = ttest.get("k") or len(result["a"]["per_fold"])
    boot_name = f"paired bootstrap over {result['n_cases']} cases (by {result['unit']})"
    t_name = f"corrected t-test over {k} folds (Nadeau & Bengio)"
    t_detail = (f"n/a: {ttest['undefined']}" if ttest.get("undefined")
                else f"{k} fold differences, {ttest.get('df')} degrees of freedom; variance inflated by "
                     "1/k + n_test/n_train for the overlapping training sets")
    rows = [
        {"test": boot_name, "B − A": _signed(boot.get("difference")),
         "95% CI": _interval(boot.get("low"), boot.get("high"), boot.get("reason")),
         "t": "n/a (a bootstrap has no t statistic)", "p value": ui.fmt_p(boot.get("p_value")),
         "detail": boot.get("reason") or boot.get("method") or ""},
        {"test": t_name, "B − A": _signed(ttest.get("mean_diff")),
         "95% CI": _interval(t_low, t_high, ttest.get("undefined") or "undefined"),
         "t": ui.fmt(ttest.get("t")) if ttest.get("t") is not None else f"n/a ({ttest.get('undefined')})",
         "p value": ui.fmt_p(ttest.get("p_value")) if ttest.get("p_value") is not None
         else f"n/a ({ttest.get('undefined')})", "detail": t_detail},
    ]
    chart = [{"test": boot_name, "difference": boot.get("difference"), "low": boot.get("low"),
              "high": boot.get("high")}]
    if t_ci is not None:
        chart.append({"test": t_name, "difference": ttest.get("mean_diff"), "low": t_ci[0], "high": t_ci[1]})
    return pd.DataFrame(rows), pd.DataFrame(chart)


def _signed(value: Any) -> str:
    text = ui.fmt(value)
    return "n/a" if text == "-" else f"{value:+.3f}"


def _interval(low: Any, high: Any, why: Any) -> str:
    if ui.fmt(low) == "-" or ui.fmt(high) == "-":
        return f"n/a ({why or 'undefined'})"
    return f"{low:+.3f} to {high:+.3f}"


def _result(result: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    boot, metric = result["bootstrap"], result["metric"]
    label = ui.metric_name(metric)
    lower = metric in ui.LOWER_IS_BETTER
    kind, sentence = paired.verdict(result, lower_is_better=lower, metric_label=label)
    same_name = a["submission"] == b["submission"]
    names = [f"{r['submission']} ({r['run_id']})" if same_name else str(r["submission"]) for r in (a, b)]
    sentence = f"A is {names[0]}, B is {names[1]}. {sentence}"
    show = {"agree": st.success, "none": st.info, "disagree": st.warning, "one": st.info}[kind]
    with st.container(key="c-verdict"):
        show(ui.md_escape(sentence))
    cols = st.columns(4)
    cols[0].metric(f"A: {label}", ui.fmt(result["a"]["value"]))
    cols[1].metric(f"B: {label}", ui.fmt(result["b"]["value"]))
    cols[2].metric("B − A", _signed(boot["difference"]),
                   help="positive: B scores higher" + (f" ({label}: lower is better)" if lower else ""))
    with cols[3]:
        st.caption("95% CI of B − A (paired bootstrap)")
        st.markdown(f"**{ui.md_escape(_interval(boot.get('low'), boot.get('high'), boot.get('reason')))}**")
    table, chart = _test_rows(result)
    per_fold = [{"test": table["test"].iloc[1], "fold": k, "difference": y - x}
                for k, (x, y) in enumerate(zip(result["a"]["per_fold"], result["b"]["per_fold"], strict=True))]
    st.altair_chart(charts.paired_difference(chart, pd.DataFrame(per_fold, columns=["test", "fold", "difference"]),
                                             label), width="stretch")
    ui.table(table.drop(columns=["detail"]), hide_index=True, key="c-tests", width="stretch",
             column_config={"test": st.column_config.Column(width="large")})
    for test, detail in zip(table["test"], table["detail"], strict=True):
        st.caption(f"{ui.md_escape(test)}: {ui.md_escape(detail)}.")
    folds = pd.DataFrame({"fold": range(len(result["a"]["per_fold"])), "A": result["a"]["per_fold"],
                          "B": result["b"]["per_fold"]})
    folds = folds.assign(**{"B − A": folds["B"] - folds["A"]})
    st.markdown(f"**{ui.md_escape(label)} per fold**")
    ui.table(folds, hide_index=True, key="c-folds", column_config={
        "A": st.column_config.NumberColumn(format="%.3f"), "B": st.column_config.NumberColumn(format="%.3f"),
        "B − A": st.column_config.NumberColumn(format="%+.3f")})
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
    # Opened without a link: the two best distinct submissions that can be compared (A the best by headline).
    pair = paired.default_pair(frame)
    if pair is not None:
        options = [pair[0], *(o for o in options if o != pair[0])]
    left, right = st.columns(2)
    with left:
        # pick_run gives None only for no options; these have two or more (and `same` below at least one)
        first = cast(str, ui.pick_run(frame, options, label="Run A", key="c-a", param="a"))
    by_id = frame.set_index("run_id")
    row_a = by_id.loc[first]
    same = [o for o in options if o != first and by_id.loc[o, "split_sha256"] == row_a["split_sha256"]
            and by_id.loc[o, "task"] == row_a["task"]]
    partner = paired.best_partner(frame, first)
    if partner in same:
        same = [partner, *(o for o in same if o != partner)]
    with right:
        if not same:
            st.info("No other completed run of this task on the same split file.")
            return
        second = cast(str, ui.pick_run(frame, same, label="Run B (same split)", key="c-b", param="b"))
    a = data.run(store.url, store.stamp, first)
    b = data.run(store.url, store.stamp, second)
    if a is None or b is None:
        st.warning("A run is no longer in the store.")
        return
    problem = paired.check_pair(a, b)
    if problem:
        st.warning(problem)
        return
    figures = paired.metrics_for(a["task"])
    ui.link_choice("metric", "c-metric", figures)
    metric = st.selectbox("Figure", figures, key="c-metric", format_func=ui.metric_name)
    ui.link_write("metric", None if metric == figures[0] else metric)
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
    ui.view_link("compare")
