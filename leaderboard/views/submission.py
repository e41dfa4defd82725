"""Submission: one run in depth: scores with CIs, confusion matrix, ROC, reliability, folds, Grad-CAM or gallery.

A tuned run also gets a Tuning tab: per outer fold, its study's best parameters, optimisation history and parameter
importances, from the run folder's ``fold-K/tuning.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from benchmark.evaluation.score import constant_prediction
from benchmark.evaluation.training import CLEARLY_BELOW, budget_text, convergence, read_fold_results
from leaderboard import charts, data, gallery, sources, tables, tuning, ui

#: Gallery: cases per page to choose from (the first is the default), and pictures per row.
GALLERY_SIZE = (8, 16, 32, 64)
GALLERY_COLUMNS = 4
GALLERY_ORDER = ("worst first", "best first")


def _scores(metrics: dict[str, Any]) -> pd.DataFrame:
    pooled = metrics.get("pooled") or {}
    rows = [{"metric": ui.metric_name(name), "value": pooled.get(name, ci.get("estimate")), "95% CI low": ci.get("low"),
             "95% CI high": ci.get("high"), "note": ci.get("reason") or ""}
            for name, ci in (metrics.get("ci") or {}).items() if isinstance(ci, dict)]
    return pd.DataFrame(rows, columns=["metric", "value", "95% CI low", "95% CI high", "note"])


def _collapse_warning(metrics: dict[str, Any]) -> None:
    only = constant_prediction(metrics)
    if only == "an empty mask":
        st.warning("This model predicted an empty mask for every image: it never left the all-background start, so "
                   "its Dice is 0 and its paper-compatible Dice is just the share of normal images.")
    elif only:
        st.warning(f"This model predicted {ui.md_escape(only)} for every case: it collapsed to one class, so its "
                   "accuracy is that class's share of the data and its balanced accuracy 1/3.")


def _convergence_warning(row: dict[str, Any], run_json: dict[str, Any], metrics: dict[str, Any]) -> None:
    found = convergence(run_json, metrics, read_fold_results(row.get("run_dir"), run_json))
    st.caption(f"Budget: {ui.md_escape(budget_text(run_json))}.")
    if found.budget_limited:
        st.warning("Still improving when its budget ran out: in most folds the epoch chosen on validation lies in "
                   "the last tenth of the epochs, so more epochs would likely score higher.")
    if found.did_not_learn:
        st.warning(f"This model did not learn: in most folds its training loss never fell {1 - CLEARLY_BELOW:.0%} "
                   "below the chance "
                   f"level ({found.chance_loss:.3f}, the loss of predicting the class prior), so its score is not "
                   "a trained model's.")
    elif found.folds and found.did_not_learn is None:
        st.info("Whether this model learned is unknown: no chance-level loss can be derived for its training loss.")


def _classification(row: dict[str, Any], metrics: dict[str, Any]) -> None:
    pooled = metrics.get("pooled") or {}
    classes = pooled.get("classes") or ["normal", "benign", "malignant"]
    left, right = st.columns(2)
    if pooled.get("confusion_matrix"):
        left.altair_chart(charts.confusion(pooled["confusion_matrix"], classes), width="stretch")
    per_class = pd.DataFrame(pooled.get("per_class") or {}).T
    per_class = per_class.reindex([c for c in classes if c in per_class.index])
    if not per_class.empty:
        for count in ("support", "predicted"):
            if count in per_class:
                per_class[count] = per_class[count].round().astype("Int64")
        right.caption("Per class (pooled out-of-fold): each class against the rest")
        config = ui.number_columns(per_class)
        if "auc_ovr" in config:  # the caption says each class is scored against the rest
            config["auc_ovr"] = st.column_config.NumberColumn("AUC", format="%.3f")
        right.dataframe(per_class, key="s-per-class", width="stretch", column_config=config)
    split, why = data.split_for(row)
    if split is None:
        st.info(f"ROC and reliability need the labels of the run's split file: {ui.md_escape(why)}.")
        return
    ids, _, probs = data.class_predictions(str(row["run_dir"]), tuple(metrics.get("folds") or ()))
    known = [i for i, c in enumerate(ids) if c in split.cases]
    if not known:
        st.info("The run's predictions name no case of its split file.")
        return
    y = np.array([list(split.classes).index(split.cases[ids[i]].label) for i in known])
    p = probs[known]
    left, right = st.columns(2)
    left.altair_chart(charts.square(charts.roc(y, p, split.classes)), width="content")
    right.altair_chart(charts.square(charts.reliability(y, p)), width="content")


def _segmentation(row: dict[str, Any], metrics: dict[str, Any]) -> None:
    compatible = (metrics.get("pooled") or {}).get("paper_compatible") or {}
    if compatible:
        st.caption("Paper-compatible convention (normal images averaged in, an empty prediction scoring 1): "
                   f"Dice {ui.fmt(compatible.get('dice'))}, IoU {ui.fmt(compatible.get('iou'))}, "
                   f"pixel accuracy {ui.fmt(compatible.get('pixel_accuracy'))}.")
    dataset, where = data.dataset_for(row)
    st.subheader("Cases")
    scores = gallery.run_case_scores(row.get("run_dir"))
    if scores is None:  # the evaluator is the one place that scores cases; the page never scores them itself
        st.info("This run was scored before busbench kept every case's scores in its metrics.json. "
                "'busbench results verify --update RUN_FOLDER' scores it again through the evaluator and writes "
                "them in; the gallery reads them from there.")
        return
    left, middle, right, last = st.columns(4)
    # Each choice has its link parameter (?sort=HD95&order=best+first&cases=...&size=16&page=2).
    gallery_widgets = (("sort", "s-gallery-sort", list(gallery.SORT_KEYS)),
                       ("order", "s-gallery-order", list(GALLERY_ORDER)),
                       ("cases", "s-gallery-cases", list(gallery.SUBSETS)), ("size", "s-gallery-size", GALLERY_SIZE))
    for param, key, options in gallery_widgets:
        ui.link_choice(param, key, options)
    by = left.selectbox("Sort by", list(gallery.SORT_KEYS), key="s-gallery-sort")
    order = middle.selectbox("Order", GALLERY_ORDER, key="s-gallery-order")
    which = right.selectbox("Cases", gallery.SUBSETS, key="s-gallery-cases")
    size = last.selectbox("Per page", GALLERY_SIZE, key="s-gallery-size")
    for (param, _, choices), value in zip(gallery_widgets, (by, order, which, size), strict=True):
        ui.link_write(param, None if value == choices[0] else str(value))
    ordered = gallery.sort_cases(gallery.subset(scores, which), by, best_first=order == "best first")
    pages = gallery.n_pages(len(ordered), size)
    ui.link_choice("page", "s-gallery-page", range(1, pages + 1))
    number = st.selectbox("Page", range(1, pages + 1), key="s-gallery-page",
                          format_func=lambda k: f"page {k} of {pages}")
    ui.link_write("page", None if number == 1 else str(number))
    shown = gallery.page(ordered, number, size)
    first = (min(number, pages) - 1) * size
    tolerance = ui.fmt((metrics.get("pooled") or {}).get("nsd_tolerance_px"), 1)
    st.caption(f"Cases {first + 1 if len(shown) else 0}-{first + len(shown)} of {len(ordered)} ({which}), "
               f"sorted by {by}, {order}. Dice and IoU per image; HD95 in pixels of the original image (undefined "
               f"where nothing was predicted); NSD at {tolerance} px.")
    if dataset is None:
        st.info("The gallery draws the reference contours from the dataset, which is not available here "
                f"({where}). Start the leaderboard with --data PATH to the dataset to see the pictures; the "
                "scores follow.")
    else:
        st.image(gallery.legend(), caption="Okabe-Ito colours, told apart with colour-vision deficiencies")
        masks: dict[int, dict[str, np.ndarray]] = {}
        for start in range(0, len(shown), GALLERY_COLUMNS):
            for col, (_, case) in zip(st.columns(GALLERY_COLUMNS), shown.iloc[start:start + GALLERY_COLUMNS].iterrows(),
                                      strict=False):
                fold = int(case["fold"])
                if fold not in masks:
                    masks[fold] = sources.fold_masks(Path(row["run_dir"]), fold)
                rgb, ref = dataset.decode(dataset.case(case["case_id"]))
                col.image(gallery.overlay(rgb, ref, masks[fold].get(case["case_id"])), width="stretch")
                col.text(f"{case['case_id']} · fold {fold}\nDice {ui.fmt(case['dice'])} · IoU {ui.fmt(case['iou'])}"
                         f"\nHD95 {ui.fmt(case['hd95'], 1)} px · NSD {ui.fmt(case['nsd'])}")
    ui.table(shown, key="s-gallery-table")
    empty = scores[scores["dice"].isna()]
    if not empty.empty:
        st.caption(f"{int((empty['predicted_pixels'] > 0).sum())} of {len(empty)} images without a lesion got a "
                   "predicted lesion.")


#: How the settings a protocol audit records in run.json's "protocol" read on the page.
LEAK_SETTINGS = {
    "group": "split grouped by", "selection": "epoch selected on the", "copies": "augmented copies per image",
    "scored": "scored", "alpha": "overlay strength (alpha)", "formula": "overlay", "draws_requested": "draws made",
    "reported_draw": "draw reported", "metric": "figure compared", "reported": "what is reported",
}


def _leak(row: dict[str, Any], run_json: dict[str, Any]) -> None:
    """Which leak a run was made with, what it does, how it was applied, and a lucky-split run's draws."""
    protocol = row.get("protocol")
    doc = doc if isinstance(doc := run_json.get("protocol"), dict) else {}
    with st.container(key="s-leak"):
        st.warning(f"Leaky protocol **{ui.md_escape(protocol or 'none recorded')}**: "
                   f"{ui.md_escape(tables.protocol_label(protocol))}. Its score is inflated by the leak, so this run "
                   "is never ranked (see the Boards page; the Audit page measures the inflation against the clean "
                   "protocol).")
        settings = [{"setting": LEAK_SETTINGS.get(str(k), str(k).replace("_", " ")),
                     "value": ui.metric_name(v) if k == "metric" else str(v)}
                    for k, v in doc.items() if k not in ("name", "draws") and not isinstance(v, (dict, list))]
        if settings:
            st.caption("How the leak was applied (from run.json)")
            ui.table(pd.DataFrame(settings), key="s-leak-settings")
        draws = [d for d in doc.get("draws") or [] if isinstance(d, dict)]
        if draws:
            _draws(draws, doc, str(row.get("headline_metric") or doc.get("metric") or ""))


def _draws(draws: list[dict[str, Any]], doc: dict[str, Any], metric: str) -> None:
    reported = doc.get("reported_draw")
    frame = pd.DataFrame([{"draw": f"draw {d.get('draw')} (split seed {d.get('split_seed')})",
                           "value": d.get("value"), "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
                           "test cases": d.get("n_cases"), "best epoch": d.get("best_epoch"),
                           "seconds": d.get("seconds"), "reported": d.get("draw") == reported} for d in draws])
    for column in ("value", "ci_low", "ci_high", "seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    label = ui.metric_name(metric)
    st.markdown(f"**The {len(frame)} draws of the split**")
    values = frame["value"].dropna()
    best = frame.loc[frame["reported"], "value"]
    if not values.empty and not best.empty:
        st.markdown(f"The reported {ui.md_escape(label)}, {ui.fmt(best.iloc[0])}, is the best of {len(frame)} random "
                    f"80/20 splits, each trained and tested once. The draws range from {ui.fmt(values.min())} to "
                    f"{ui.fmt(values.max())} (mean {ui.fmt(values.mean())}): reporting the best draw adds "
                    f"{100 * (best.iloc[0] - values.mean()):+.1f} points over the average split, with no change to "
                    "the model.")
    if frame[["value", "ci_low", "ci_high"]].notna().all(axis=None):
        st.altair_chart(charts.lucky_draws(frame, label), width="stretch")
    ui.table(frame, key="s-draws", column_config={
        "value": st.column_config.NumberColumn(label, format="%.3f"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
        "seconds": st.column_config.NumberColumn(format="%.1f")})


def _folds(metrics: dict[str, Any], headline: str) -> None:
    folds = pd.DataFrame(metrics.get("per_fold") or [])
    if folds.empty:
        st.info("No per-fold scores.")
        return
    folds = folds.drop(columns=["undefined"], errors="ignore")
    ui.table(folds, key="s-folds", column_config=ui.number_columns(folds))
    if headline in folds:
        named = folds.rename(columns={headline: ui.metric_name(headline)})
        st.altair_chart(charts.per_fold(named, ui.metric_name(headline)), width="stretch")


def _gradcam(run_dir: str) -> None:
    maps = sources.gradcam_maps(Path(run_dir))
    if not maps:
        st.caption("No Grad-CAM maps for this run (make them with 'busbench explain').")
        return
    st.caption("Grad-CAM of the fold model that never trained on the case; the class explained is named below.")
    for start in range(0, len(maps), 4):
        for col, entry in zip(st.columns(4), maps[start:start + 4], strict=False):
            col.image(entry["path"], width="stretch")
            col.text(f"{entry['case_id']}: true {entry.get('true_label')}, predicted {entry.get('predicted_class')}, "
                     f"explains {entry.get('class_explained')}")


def _tuning(run_json: dict[str, Any], run_dir: str, stamp: str) -> None:
    doc = run_json.get("tuning") or {}
    space = ", ".join(sorted(doc.get("search_space") or {})) or "no parameter recorded"
    st.caption(f"Nested tuning: {ui.md_escape(doc.get('trials', '?'))} trials per outer fold over "
               f"{ui.md_escape(space)}; every trial trained on its fold's train part and was scored on its validation "
               "part only, the fold's test part was read once, by the best parameters' retraining.")
    folds = tuning.tuned_folds(run_json)
    reports, problems = data.tuning_reports(run_dir, tuple(folds), stamp)
    ui.table(tuning.overview(run_json, reports), key="s-tuning-folds")
    for problem in problems.values():
        st.warning("A study report cannot be read:")
        st.text(problem)
    if not reports:
        st.info("This run folder has no tuning history (no fold-K/tuning.json: the run was tuned before busbench "
                "wrote one, or its folder is not on this machine). Its studies are in the study storage it was tuned "
                "with; print them there with:")
        st.code(tuning.show_command(run_json), language="bash")
        return
    ui.link_choice("fold", "s-tuning-fold", folds)
    fold = st.radio("Outer fold", folds, format_func=lambda k: f"fold {k}", horizontal=True, key="s-tuning-fold")
    ui.link_write("fold", None if not folds or fold == folds[0] else str(fold))
    report = reports.get(fold)
    if report is None:
        st.info(f"No tuning history for fold {fold} in this run folder; print it from the study storage with:")
        st.code(tuning.show_command(run_json, fold), language="bash")
        return
    counts = ", ".join(f"{n} {state}" for state, n in (report.get("counts") or {}).items()) or "no trials"
    st.text(f"study {report.get('study')}: {counts}")
    history = tuning.history_frame(report)
    left, right = st.columns(2)
    left.altair_chart(charts.tuning_history(history), width="stretch")
    importances, method = tuning.importance_frame(report), str(report.get("importances_method") or "")
    if importances.empty:
        right.info(f"Parameter importances are undefined for this study: {ui.md_escape(method or 'none recorded')}.")
    else:
        right.altair_chart(charts.tuning_importances(importances, method), width="stretch")
    st.markdown("**Best trials** (validation score; the best one's parameters were retrained and tested)")
    ui.table(tuning.best_frame(report), key="s-tuning-best")
    with st.expander("Every trial"):
        ui.table(history, key="s-tuning-history")


def render() -> None:
    """The page."""
    st.title("Submission")
    store, frame = ui.store_or_stop()
    if frame.empty:
        ui.onboarding(store)
        return
    options = ui.run_options(frame, statuses=("completed", "partial", "failed", "running"))
    run_id = ui.pick_run(frame, options, label="Run", key="s-run", param="run")
    row = data.run(store.url, store.stamp, run_id) if run_id else None
    if row is None:
        st.warning("This run is not in the store.")
        return
    run_json, metrics = row.get("run_json") or {}, row.get("metrics_json") or {}
    sub = sub if isinstance(sub := run_json.get("submission"), dict) else {}
    st.subheader(ui.md_escape(row["submission"]))
    if sub.get("description"):
        st.text(str(sub["description"]))
    if sub.get("reference"):
        st.text(f"Reference: {sub['reference']}")
    cols = st.columns(4)
    metric = ui.metric_name(row.get("headline_metric") or "headline")
    cols[0].metric(metric, f"{ui.fmt(row['headline_value'])}",
                   help=f"the headline metric ({metric}), on the pooled out-of-fold predictions")
    cols[1].metric(f"95% CI of {metric[:1].lower() + metric[1:]}",
                   f"{ui.fmt(row['headline_ci_low'])}–{ui.fmt(row['headline_ci_high'])}")
    protocol = str(row.get("protocol") or "none recorded")
    # A leaky protocol's name can be long ("naive-split+mask-overlay"): the box says leaky, the warning below names it.
    leaky = protocol not in ("clean", "none recorded") and row.get("kind") != "external"
    cols[2].metric("Protocol", "leaky" if leaky else protocol,
                   help=f"split protocol: {protocol}")
    cols[3].metric("Status", str(row["status"]))
    if row["status"] == "failed":
        st.error("This run failed; it has no scores.")
        st.code(str(row.get("error") or "no error recorded"), language=None)
    if row.get("kind") == "external":  # scored on another dataset: its own board, its own figures
        gap = metrics.get("gap") or {}
        gap_text = (f" Gap (cross-validated on {ui.md_escape(row.get('dataset'))} minus external): "
                    f"{ui.fmt(gap.get('value'))} [{ui.fmt(gap.get('ci_low'))}, {ui.fmt(gap.get('ci_high'))}]."
                    if gap else "")
        test = (run_json.get("external") or {}).get("test_dataset") or {}
        st.info(f"External validation: trained on {ui.md_escape(row.get('dataset'))}, tested on every case of "
                f"{ui.md_escape(test.get('name'))} (class mapping "
                f"{ui.md_escape((metrics.get('class_mapping') or {}).get('rule'))}); ranked on the Boards page's "
                f"external board only.{gap_text} The scores below are the external ones.")
        metrics = metrics.get("external") or {}
    elif row.get("protocol") != "clean":
        _leak(row, run_json)
    # Lazy tabs bound to ?tab=: only the open one runs (the gallery scores every case), and a link can open one.
    names = ["Scores", "Per fold", "Explanations" if row["task"] == "classification" else "Gallery", "Provenance"]
    if tuning.is_tuned(run_json):
        names.insert(2, "Tuning")
    wanted = st.query_params.get("tab")  # the binding drops a tab this run lacks silently: say so
    if wanted is not None and wanted not in names and "tab" not in st.session_state:
        st.warning(f"This link's parameter tab={ui.md_escape(wanted)} is not a tab of this run (its tabs: "
                   f"{ui.md_escape(', '.join(names))}); {names[0]} is shown instead.")
    tabs = st.tabs(names, key="tab", bind="query-params")
    if tabs[0].open and metrics:
        with tabs[0]:
            _collapse_warning(metrics)
            _convergence_warning(row, run_json, metrics)
            scores = _scores(metrics)
            ui.table(scores, key="s-scores", column_config=ui.number_columns(scores))
            if row["task"] == "classification":
                _classification(row, metrics)
    if tabs[1].open:
        with tabs[1]:
            _folds(metrics, str(row.get("headline_metric") or ""))
    tab = dict(zip(names, tabs, strict=True))
    if "Tuning" in tab and tab["Tuning"].open:
        with tab["Tuning"]:
            _tuning(run_json, str(row["run_dir"]), store.stamp)
    if tabs[-2].open:
        with tabs[-2]:
            if row["task"] == "classification":
                _gradcam(str(row["run_dir"]))
            elif metrics:
                _segmentation(row, metrics)
    if tabs[-1].open:
        with tabs[-1]:
            ui.provenance(run_json, key="s-provenance")

if __name__ == "__main__":
    render()
    ui.view_link("submission")
