"""Altair charts of the pages (Streamlit ships Altair): confusion, ROC, reliability, folds, tuning, published, audit.

Each function takes plain arrays or frames and returns a chart; the curves are computed here from the predictions
(ROC with scikit-learn, reliability with the same equal-width confidence bins as the ECE in ``metrics.json``).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from sklearn.metrics import auc, roc_curve

from benchmark.metrics.classification import ECE_BINS, predict


def confusion(cm: Sequence[Sequence[int]], classes: Sequence[str]) -> alt.LayerChart:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), counts written in the cells."""
    cells = pd.DataFrame([{"true": t, "predicted": p, "count": int(cm[i][j])}
                          for i, t in enumerate(classes) for j, p in enumerate(classes)])
    base = alt.Chart(cells).encode(x=alt.X("predicted:N", sort=list(classes)), y=alt.Y("true:N", sort=list(classes)))
    heat = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                   tooltip=["true", "predicted", "count"])
    text = base.mark_text(fontSize=14).encode(
        text="count:Q", color=alt.condition(alt.datum.count > cells["count"].max() / 2, alt.value("white"),
                                            alt.value("black")))
    return (heat + text).properties(height=260, title="Confusion matrix (pooled out-of-fold)")


def roc(y: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> alt.LayerChart:
    """One-vs-rest ROC curve of every class present with both outcomes, AUC in the legend."""
    parts = []
    for k, name in enumerate(classes):
        positive = y == k
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        parts.append(pd.DataFrame({"fpr": fpr, "tpr": tpr, "class": f"{name} (AUC {auc(fpr, tpr):.3f})"}))
    curves = pd.concat(parts) if parts else pd.DataFrame(columns=["fpr", "tpr", "class"])
    x = alt.X("fpr:Q", title="false positive rate", scale=alt.Scale(domain=[0, 1]))
    y_axis = alt.Y("tpr:Q", title="true positive rate", scale=alt.Scale(domain=[0, 1]))
    line = alt.Chart(curves).mark_line(interpolate="step-after").encode(
        x=x, y=y_axis, color=alt.Color("class:N", title=None, legend=alt.Legend(orient="bottom", direction="vertical")))
    chance = alt.Chart(pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]})).mark_line(strokeDash=[4, 4],
                                                                              color="grey").encode(x=x, y=y_axis)
    return (chance + line).properties(height=300, title="ROC, one class against the rest")


def reliability_bins(y: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Per non-empty confidence bin: mean confidence, share correct, cases (the ECE's bins, right-closed)."""
    confidence = probs.max(axis=1)
    correct = predict(probs) == y
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence, side="left")
    rows = [{"confidence": float(confidence[which == b].mean()), "accuracy": float(correct[which == b].mean()),
             "cases": int((which == b).sum())} for b in range(bins) if (which == b).any()]
    return pd.DataFrame(rows, columns=["confidence", "accuracy", "cases"])


def reliability(y: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> alt.LayerChart:
    """Reliability diagram: per confidence bin, the share of correct predictions against the mean confidence."""
    points = reliability_bins(y, probs, bins)
    diagonal = alt.Chart(pd.DataFrame({"confidence": [0, 1], "accuracy": [0, 1]})).mark_line(
        strokeDash=[4, 4], color="grey").encode(x="confidence:Q", y="accuracy:Q")
    dots = alt.Chart(points).mark_line(point=True).encode(
        x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), title="mean confidence in bin"),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="share correct"),
        tooltip=["confidence", "accuracy", "cases"])
    return (diagonal + dots).properties(height=300, title=f"Reliability ({bins} equal-width confidence bins)")


def per_fold(folds: pd.DataFrame, metric: str) -> alt.Chart:
    """Bar per fold of one metric."""
    return alt.Chart(folds).mark_bar().encode(
        x=alt.X("fold:O"), y=alt.Y(f"{metric}:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["fold", alt.Tooltip(f"{metric}:Q", format=".3f"), "n_cases"],
    ).properties(height=220, title=f"{metric} per fold")


#: Trial states of an Optuna study and their colours in the tuning charts (finished first).
TRIAL_STATES = ("complete", "pruned", "fail", "running", "waiting")
_STATE_COLOURS = ("#4c78a8", "#f58518", "#e45756", "#9d9d9d", "#d6d6d6")


def tuning_history(history: pd.DataFrame) -> alt.LayerChart:
    """Optimisation history of one study: trial value by trial number, the best so far as a step line.

    Points are coloured by state (a pruned trial's value is its last reported score); trials without a value (failed,
    still running) are dashed rules at their number, so they stay visible.
    """
    colour = alt.Color("state:N", title="trial", scale=alt.Scale(domain=list(TRIAL_STATES), range=list(_STATE_COLOURS)))
    x = alt.X("number:Q", title="trial number", axis=alt.Axis(tickMinStep=1))
    tooltip = ["number", "state", alt.Tooltip("value:Q", format=".4f"),
               alt.Tooltip("best_so_far:Q", title="best so far", format=".4f"), "epochs", "seconds", "params", "note"]
    scored = history[history["value"].notna()]
    best = alt.Chart(history[history["best_so_far"].notna()]).mark_line(
        interpolate="step-after", color="black", strokeWidth=1.5).encode(x=x, y="best_so_far:Q", tooltip=tooltip)
    points = alt.Chart(scored).mark_point(filled=True, size=70).encode(
        x=x, y=alt.Y("value:Q", title="validation score", scale=alt.Scale(zero=False)), color=colour,
        tooltip=tooltip)
    unscored = alt.Chart(history[history["value"].isna()]).mark_rule(strokeDash=[4, 3], strokeWidth=1.5).encode(
        x=x, color=colour, tooltip=tooltip)
    return alt.layer(unscored, best, points).properties(height=280, title=alt.Title(
        "Optimisation history", subtitle="line: best completed trial so far; dashed: a trial without a value"))


def tuning_importances(frame: pd.DataFrame, method: str) -> alt.Chart:
    """Bar per parameter of its importance (they sum to 1), most important on top."""
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("importance:Q", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("parameter:N", sort="-x", title=None),
        tooltip=["parameter", alt.Tooltip("importance:Q", format=".3f")],
    ).properties(height=220, title=f"Parameter importance ({method})")


def published_vs_measured(points: pd.DataFrame) -> alt.LayerChart:
    """Published value (y) against our clean-protocol value (x), one point per comparable row; y = x dashed."""
    diagonal = alt.Chart(pd.DataFrame({"ours": [0, 1], "published": [0, 1]})).mark_line(
        strokeDash=[4, 4], color="grey").encode(x="ours:Q", y="published:Q")
    dots = alt.Chart(points).mark_circle(size=90).encode(
        x=alt.X("ours:Q", scale=alt.Scale(domain=[0, 1]), title="ours, clean protocol"),
        y=alt.Y("published:Q", scale=alt.Scale(domain=[0, 1]), title="published"),
        color=alt.Color("paper:N"),
        tooltip=["paper", "model", "metric", "condition", alt.Tooltip("published:Q", format=".3f"),
                 alt.Tooltip("ours:Q", format=".3f"), "flags", "run"])
    return (diagonal + dots).properties(height=380, title="Published against measured (above the line: the paper "
                                                          "reports more than we measure)")


def inflation(rows: pd.DataFrame, metric: str) -> alt.LayerChart:
    """Score of the same model under each protocol, 95% CI as a rule, the clean score as a dashed line."""
    order = rows["protocol"].tolist()
    base = alt.Chart(rows).encode(y=alt.Y("protocol:N", sort=order, title=None))
    bars = base.mark_bar(opacity=0.75).encode(
        x=alt.X("value:Q", title=metric, scale=alt.Scale(domain=[0, 1])),
        color=alt.condition(alt.datum.protocol == "clean", alt.value("#54a24b"), alt.value("#e45756")),
        tooltip=["protocol", alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), alt.Tooltip("inflation_pp:Q", format="+.1f")])
    ci = base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    clean = rows.loc[rows["protocol"] == "clean", "value"]
    layers = [bars, ci]
    if not clean.empty:
        layers.append(alt.Chart(pd.DataFrame({"x": [float(clean.iloc[0])]})).mark_rule(strokeDash=[4, 4]).encode(
            x="x:Q"))
    return alt.layer(*layers).properties(height=40 * len(rows) + 40, title="Protocol inflation (same model, budget)")


def leakage(folds: pd.DataFrame) -> alt.Chart:
    """Leaked test cases per fold of every split file, side by side."""
    return alt.Chart(folds).mark_bar().encode(
        x=alt.X("fold:O"), y=alt.Y("leaked:Q", title="test cases with a duplicate on the training side"),
        color=alt.Color("split:N"), xOffset="split:N", tooltip=["split", "fold", "leaked", "n_test"],
    ).properties(height=260, title="Leakage per fold")


def decomposition(frame: pd.DataFrame) -> alt.LayerChart:
    """Per paper and reading: clean -> reproduced (explained by the protocol) -> published (unexplained).

    ``frame`` has one row per published number: ``label`` (paper, reading), ``metric``, ``clean``, ``reproduced``,
    ``published``. The bars run from the clean score to the reproduced one and on to the median published number;
    each published number is a dot.
    """
    spans = frame.groupby(["label", "metric"], as_index=False).agg(
        clean=("clean", "first"), reproduced=("reproduced", "first"), published=("published", "median"))
    order = spans["label"].tolist()
    explained = spans.assign(start=spans["clean"], end=spans["reproduced"], part="explained by the protocol")
    unexplained = spans.assign(start=spans["reproduced"], end=spans["published"], part="unexplained")
    bars = alt.Chart(pd.concat([explained, unexplained])).mark_bar(height=14).encode(
        y=alt.Y("label:N", sort=order, title=None), x=alt.X("start:Q", title="score (the paper's metric)",
                                                              scale=alt.Scale(domain=[0, 1])),
        x2="end:Q", color=alt.Color("part:N", scale=alt.Scale(domain=["explained by the protocol", "unexplained"],
                                                              range=["#e45756", "#bab0ac"]), title=None),
        tooltip=["label", "metric", "part", alt.Tooltip("start:Q", format=".3f"), alt.Tooltip("end:Q", format=".3f")])
    clean = alt.Chart(spans).mark_tick(color="#54a24b", thickness=3, size=20).encode(
        y=alt.Y("label:N", sort=order), x="clean:Q", tooltip=["label", alt.Tooltip("clean:Q", format=".3f")])
    dots = alt.Chart(frame).mark_circle(size=40, color="black").encode(
        y=alt.Y("label:N", sort=order), x="published:Q",
        tooltip=["label", "system", "metric", alt.Tooltip("published:Q", format=".3f")])
    return alt.layer(bars, clean, dots).properties(
        height=28 * len(spans) + 40,
        title="Clean (green tick) -> as published, reproduced -> published (dots: each number, bar to their median)")
