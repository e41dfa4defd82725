"""Altair charts of the pages (Streamlit ships Altair): confusion, ROC, reliability, folds, tuning, published, audit.

Each function takes plain arrays or frames and returns a chart; the curves are computed here from the predictions
(ROC with scikit-learn, reliability with the same equal-width confidence bins as the ECE in ``metrics.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import altair as alt
import numpy as np
import pandas as pd

from benchmark.metrics.classification import ECE_BINS, predict

#: A top-level Altair chart of any kind (square returns the kind it was given).
ChartT = TypeVar("ChartT", bound=alt.TopLevelMixin)


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
    from sklearn.metrics import auc, roc_curve  # 1.2 s of imports: only the Submission page draws a ROC

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


def tuning_history(history: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
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


def inflation(rows: pd.DataFrame, metric: str) -> alt.LayerChart | alt.FacetChart:
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


def decomposition(frame: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
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


def square(chart: ChartT, size: int = 380) -> ChartT:
    """``chart`` drawn ``size`` x ``size`` pixels (show it with ``width="content"``).

    ROC and reliability plots compare two rates on the same 0-1 scale, so their axes must be of one length.
    """
    # "pad": the size is the plot's own; title, axes and legend are added around it, not taken out of it.
    return chart.properties(width=size, height=size, autosize=alt.AutoSizeParams(type="pad"))


#: Width from the container, height as given (the plot's own, not shared with title, axis and legend).
_FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")


def _padded(low: float, high: float, share: float = 0.08) -> list[float]:
    pad = (high - low) * share or 0.01
    return [low - pad, high + pad]


def lucky_draws(draws: pd.DataFrame, label: str) -> alt.LayerChart | alt.FacetChart:
    """The draws of a lucky-split run: each draw's test score with its 95% CI, one row per draw.

    The reported draw is red, the draws' mean a dashed line; the x axis spans the intervals, not 0-1.

    ``draws`` has ``draw`` (the row label), ``value``, ``ci_low``, ``ci_high`` and ``reported`` (bool).
    """
    frame = draws.assign(shown=np.where(draws["reported"], "reported (the best draw)", "not reported"))
    lows = pd.concat([frame["ci_low"], frame["value"]]).dropna()
    highs = pd.concat([frame["ci_high"], frame["value"]]).dropna()
    x_scale = alt.Scale(domain=_padded(float(lows.min()), float(highs.max())), zero=False)
    order = frame["draw"].tolist()
    base = alt.Chart(frame).encode(y=alt.Y("draw:N", sort=order, title=None, axis=alt.Axis(labelLimit=0)))
    colour = alt.Color("shown:N", title=None, scale=alt.Scale(domain=["reported (the best draw)", "not reported"],
                                                               range=["#e45756", "#4c78a8"]),
                       legend=alt.Legend(orient="bottom"))
    tooltip = ["draw", alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
               alt.Tooltip("ci_high:Q", format=".3f"), "shown"]
    ci = base.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", scale=x_scale, title=f"{label} (test part of "
                                                                                      "the draw, 95% CI)"),
                                              x2="ci_high:Q", color=colour, tooltip=tooltip)
    dots = base.mark_point(filled=True, size=90).encode(x="value:Q", color=colour, tooltip=tooltip)
    mean = alt.Chart(pd.DataFrame({"mean": [float(frame["value"].mean())]})).mark_rule(
        strokeDash=[4, 4], color="grey").encode(x="mean:Q", tooltip=[alt.Tooltip("mean:Q", format=".3f")])
    return alt.layer(ci, dots, mean).properties(autosize=_FIT_X, height=32 * len(frame) + 10, title=alt.Title(
        "Every draw of the split", subtitle="dashed: the mean of the draws, what one honest split would expect"))


def paired_difference(rows: pd.DataFrame, folds: pd.DataFrame, label: str) -> alt.LayerChart | alt.FacetChart:
    """B - A with its 95% CI, one row per test (``test``, ``difference``, ``low``, ``high``), a line at zero.

    The per-fold differences (``test``, ``fold``, ``difference``) are small dots on their test's row.
    """
    values = pd.concat([rows[["difference", "low", "high"]].stack(), folds["difference"], pd.Series([0.0])])
    values = values[np.isfinite(pd.to_numeric(values, errors="coerce"))].astype(float)
    x_scale = alt.Scale(domain=_padded(float(values.min()), float(values.max())), zero=False)
    order = rows["test"].tolist()
    y = alt.Y("test:N", sort=order, title=None, axis=alt.Axis(labelLimit=0))
    tooltip = ["test", alt.Tooltip("difference:Q", format="+.3f"), alt.Tooltip("low:Q", format="+.3f"),
               alt.Tooltip("high:Q", format="+.3f")]
    ci = alt.Chart(rows).mark_rule(strokeWidth=3, color="#4c78a8").encode(
        y=y, x=alt.X("low:Q", scale=x_scale, title=f"B − A, {label} (positive: B scores higher)"), x2="high:Q",
        tooltip=tooltip)
    point = alt.Chart(rows).mark_point(filled=True, size=140, color="#1f3b5c").encode(y=y, x="difference:Q",
                                                                                       tooltip=tooltip)
    per_fold = alt.Chart(folds).mark_point(size=40, color="grey", opacity=0.8).encode(
        y=y, x="difference:Q", tooltip=["test", "fold", alt.Tooltip("difference:Q", format="+.3f")])
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="black").encode(x="zero:Q")
    return alt.layer(zero, ci, per_fold, point).properties(autosize=_FIT_X, height=48 * len(rows) + 10, title=alt.Title(
        "B − A with its 95% CI", subtitle="bar: 95% CI; grey dots: the difference in each fold; line: no difference"))


def protocol_inflation(rows: pd.DataFrame, label: str) -> alt.LayerChart | alt.FacetChart:
    """Score of the same model under each protocol with its 95% CI, the clean score as a dashed line.

    One row per protocol (``protocol``, ``value``, ``ci_low``, ``ci_high``, ``inflation_pp``), named with its
    inflation over the clean protocol; the axis spans the intervals (a bar from 0 would squash the differences).
    """
    frame = rows.assign(
        kind=np.where(rows["protocol"] == "clean", "clean protocol", "leaky protocol"),
        row=[p if p == "clean" or not isinstance(pp, (int, float)) or not np.isfinite(pp)
             else f"{p}  ({pp:+.1f} pp)" for p, pp in zip(rows["protocol"], rows["inflation_pp"], strict=True)])
    lows = pd.concat([frame["ci_low"], frame["value"]]).dropna().astype(float)
    highs = pd.concat([frame["ci_high"], frame["value"]]).dropna().astype(float)
    x_scale = alt.Scale(domain=_padded(float(lows.min()), float(highs.max())), zero=False, nice=False)
    y = alt.Y("row:N", sort=frame["row"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    colour = alt.Color("kind:N", title=None, scale=alt.Scale(domain=["clean protocol", "leaky protocol"],
                                                            range=["#54a24b", "#e45756"]),
                       legend=alt.Legend(orient="bottom", direction="horizontal"))
    tooltip = ["protocol", alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
               alt.Tooltip("ci_high:Q", format=".3f"), alt.Tooltip("inflation_pp:Q", format="+.1f")]
    ci = alt.Chart(frame).mark_rule(strokeWidth=3).encode(
        y=y, x=alt.X("ci_low:Q", scale=x_scale, title=f"{label} (95% CI)", axis=alt.Axis(tickCount=10, format=".2f")),
        x2="ci_high:Q", color=colour,
        tooltip=tooltip)
    dots = alt.Chart(frame).mark_point(filled=True, size=110, opacity=1).encode(y=y, x="value:Q", color=colour,
                                                                                 tooltip=tooltip)
    layers = [ci, dots]
    clean = frame.loc[frame["protocol"] == "clean", "value"]
    if not clean.empty:
        layers.insert(0, alt.Chart(pd.DataFrame({"clean": [float(clean.iloc[0])]})).mark_rule(
            strokeDash=[4, 4], color="#54a24b").encode(x="clean:Q"))
    return alt.layer(*layers).properties(autosize=_FIT_X, height=30 * len(frame) + 10, title=alt.Title(
        "Protocol inflation: the same model and budget under each protocol",
        subtitle="dot: score; bar: 95% CI; dashed: the clean score; in brackets: points above clean"))


def _span(low: float, high: float, share: float = 0.08) -> list[float]:
    """An axis domain from ``low`` to ``high`` with a margin of ``share`` of the range on each side."""
    pad = (high - low) * share or 0.01
    return [low - pad, high + pad]


def ranking_dots(rows: pd.DataFrame, metric: str, top: int = 15) -> alt.LayerChart | alt.FacetChart:
    """The ``top`` rows of a board as a dot per model with its 95% interval as a line, best on top.

    ``rows`` has ``submission``, ``headline_value``, ``headline_ci_low``, ``headline_ci_high`` and ``rank``, best
    first. The axis spans the intervals shown (not 0 to 1), so that close models can be told apart.
    """
    shown = rows.head(top).assign(label=lambda f: [f"{int(r)}. {s}" for r, s in zip(f["rank"], f["submission"],
                                                                                        strict=True)])
    shown = shown[["label", "submission", "headline_value", "headline_ci_low", "headline_ci_high"]]
    low = pd.concat([shown["headline_ci_low"], shown["headline_value"]]).min()
    high = pd.concat([shown["headline_ci_high"], shown["headline_value"]]).max()
    order = shown["label"].tolist()
    scale = alt.Scale(domain=_span(float(low), float(high)) if pd.notna(low) else [0, 1], zero=False)
    base = alt.Chart(shown).encode(y=alt.Y("label:N", sort=order, title=None,
                                           axis=alt.Axis(labelLimit=170, labelOverlap=False)))
    tooltip = ["submission", alt.Tooltip("headline_value:Q", title=metric, format=".3f"),
               alt.Tooltip("headline_ci_low:Q", title="CI low", format=".3f"),
               alt.Tooltip("headline_ci_high:Q", title="CI high", format=".3f")]
    ci = base.mark_rule(color="#4c78a8", strokeWidth=2).encode(
        x=alt.X("headline_ci_low:Q", title=f"{metric} (95% CI)", scale=scale,
                axis=alt.Axis(format=".2f", tickCount=6)), x2="headline_ci_high:Q",
        tooltip=tooltip)
    dots = base.mark_circle(size=70, color="#1f3b5c", opacity=1).encode(
        x=alt.X("headline_value:Q", scale=scale), tooltip=tooltip)
    return alt.layer(ci, dots).properties(height=26 * len(shown) + 90,
                                          title=f"Top {len(shown)}: headline and its 95% interval")


#: Metric families of published numbers: one chart each (never accuracy against Dice on one pair of axes).
METRIC_FAMILIES = {
    "accuracy-like": ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "sensitivity", "specificity"),
    "AUC": ("auc",),
    "Dice / IoU": ("dice", "iou"),
}


def metric_family(metric: str) -> str | None:
    """The family of a published metric name (``"f1"`` -> ``"accuracy-like"``), ``None`` for any other."""
    name = str(metric).lower()
    for family, members in METRIC_FAMILIES.items():
        if any(name == m or name.startswith(m + "_") or name.endswith("_" + m) for m in members):
            return family
    return None


def published_family(points: pd.DataFrame, family: str) -> alt.LayerChart:
    """Published value (y) against ours on the clean protocol (x) for one metric family; y = x dashed."""
    low = float(min(points["ours"].min(), points["published"].min(), 1.0))
    domain = [max(0.0, _span(low, 1.0)[0]), 1.0]
    diagonal = alt.Chart(pd.DataFrame({"ours": domain, "published": domain})).mark_line(
        strokeDash=[4, 4], color="grey").encode(x="ours:Q", y="published:Q")
    dots = alt.Chart(points).mark_point(size=90, filled=True).encode(
        x=alt.X("ours:Q", scale=alt.Scale(domain=domain, zero=False, nice=False), title="ours, clean protocol"),
        y=alt.Y("published:Q", scale=alt.Scale(domain=domain, zero=False, nice=False), title="published"),
        color=alt.Color("paper:N", legend=alt.Legend(orient="bottom", columns=2)),
        shape=alt.Shape("metric:N", legend=alt.Legend(orient="bottom")),
        tooltip=["paper", "model", "metric", "condition", alt.Tooltip("published:Q", format=".3f"),
                 alt.Tooltip("ours:Q", format=".3f"), "flags", "run"])
    return (diagonal + dots).properties(height=480, title=alt.Title(
        f"{family}: published against ours", subtitle="above the line: the paper reports more"))


def leakage_per_fold(folds: pd.DataFrame) -> alt.Chart:
    """Leaked test cases per fold of every split file, side by side, with a title short enough for its axis."""
    return alt.Chart(folds).mark_bar().encode(
        x=alt.X("fold:O"), y=alt.Y("leaked:Q", title="leaked test cases"),
        color=alt.Color("split:N", legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0)),
        xOffset="split:N", tooltip=["split", "fold", "leaked", "n_test"],
    ).properties(autosize=_FIT_X, height=240, title=alt.Title(
        "Leakage per fold", subtitle="test cases with a near-duplicate on the training side of their fold"))
