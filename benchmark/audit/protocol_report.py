"""The inflation report of ``busbench audit protocols``: each protocol's score beside the clean one.

Each completed protocol becomes one row of ``protocols.json`` (headline with its 95% CI and the other figures of
:data:`SHOWN`), with its inflation over the clean protocol in percentage points and a paired cluster bootstrap of
its difference from clean where both scored the same cases; :func:`format_table` prints the rows as a text table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.evaluation.score import N_BOOT, ScoringInputs
from benchmark.metrics.paired import paired_bootstrap
from benchmark.metrics.uncertainty import bootstrap_ci
from benchmark.results.rundir import RunDir

#: Figures shown beside the headline, per task.
SHOWN = {"classification": ("balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro"),
         "segmentation": ("dice", "iou")}


def _entry(name: str, rd: RunDir, metrics: dict[str, Any], task: str) -> dict[str, Any]:
    return {"protocol": name, "run_dir": str(rd.path), "status": "completed",
            "metric": metrics["headline"]["metric"], "value": metrics["headline"]["value"],
            "ci_low": metrics["headline"]["ci_low"], "ci_high": metrics["headline"]["ci_high"],
            "n_cases": metrics["n_cases"],
            "figures": {m: {"value": metrics["pooled"].get(m), "ci_low": metrics["ci"][m]["low"],
                            "ci_high": metrics["ci"][m]["high"]} for m in SHOWN[task]}}


#: The empty-mask reading's figures: each segmentation figure and the paper-compatible statistic it is read as.
EMPTY_MASK_READS = {"dice": "paper_dice", "iou": "paper_iou"}


def _empty_mask_entry(name: str, rd: RunDir, inputs: ScoringInputs) -> dict[str, Any]:
    """A row scored from a segmentation run's predictions with normal images (empty references) counted.

    Mean Dice and IoU over all images, an empty reference scoring 1 when its prediction is empty too; intervals by
    the same cluster bootstrap as ``metrics.json``'s.
    """
    figures = {}
    for shown, statistic in EMPTY_MASK_READS.items():
        ci = bootstrap_ci(inputs.statistic(statistic), len(inputs.ids), inputs.groups, n_boot=N_BOOT, seed=0)
        figures[shown] = {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}
    head = figures["dice"]
    return {"protocol": name, "run_dir": str(rd.path), "status": "completed", "metric": "dice",
            "value": head["value"], "ci_low": head["ci_low"], "ci_high": head["ci_high"], "n_cases": len(inputs.ids),
            "figures": figures, "scoring": "mean over all images, an empty reference scoring 1 when predicted empty",
            "statistic": EMPTY_MASK_READS}


def paired_difference(clean: ScoringInputs, other: ScoringInputs, metric: str,
                      other_metric: str | None = None) -> dict[str, Any]:
    """Paired cluster bootstrap of ``other - clean`` on ``metric``, when both scored exactly the same cases.

    Resamples clean's groups (examinations or duplicate clusters); each resample scores both protocols on the same
    cases. ``other_metric`` scores the other side with another statistic (the empty-mask reading's).

    Returns:
        ``PairedComparison.to_dict()``, or ``{"reason": ...}`` when the case sets differ.
    """
    if sorted(clean.ids) != sorted(other.ids):
        return {"difference": None, "reason": "the protocols score different case sets, so no paired comparison"}
    position = {c: i for i, c in enumerate(other.ids)}
    perm = np.array([position[c] for c in clean.ids])
    stat_other = other.statistic(other_metric or metric)
    result = paired_bootstrap(clean.statistic(metric), lambda idx: stat_other(perm[idx]), len(clean.ids),
                              clean.groups, n_boot=N_BOOT, seed=0)
    return result.to_dict()


def _add_comparisons(rows: list[dict[str, Any]], inputs: dict[str, ScoringInputs], metric: str) -> None:
    clean = next((r for r in rows if r["protocol"] == "clean" and r["status"] == "completed"), None)
    for row in rows:
        if row["status"] != "completed":
            continue
        if clean is None or row["value"] is None or clean["value"] is None:
            row["inflation_pp"] = None
        else:
            row["inflation_pp"] = 100 * (row["value"] - clean["value"])
        if row["protocol"] == "clean":
            row["paired"] = None
        elif "draws" in row:
            row["paired"] = {"difference": None, "reason": "the reported draw's test part is a different (20%) "
                                                           "case set, so no paired comparison"}
        elif "clean" in inputs and row["protocol"] in inputs:
            other = (row.get("statistic") or {}).get(metric)
            row["paired"] = paired_difference(inputs["clean"], inputs[row["protocol"]], metric, other)
        else:
            row["paired"] = {"difference": None, "reason": "clean protocol not scored"}


def _num(v: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a text table: protocol, headline with 95% CI, other figures, inflation, paired difference."""
    task = summary["task"]
    extra = [m for m in SHOWN[task] if m != summary["metric"]]
    width = max(22, *(len(r["protocol"]) + 2 for r in summary["rows"]))
    head = (f"{'protocol':<{width}}{summary['metric'] + ' [95% CI]':<28}" + "".join(f"{m:>15}" for m in extra)
            + f"{'vs clean (pp)':>15}  paired difference vs clean [95% CI]")
    lines = [head, "-" * len(head)]
    for r in summary["rows"]:
        if r["status"] != "completed":
            lines.append(f"{r['protocol']:<{width}}FAILED: {r['error']}")
            continue
        ci = f"{_num(r['value'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
        p = r.get("paired")
        if p is None:
            paired = ""
        elif p.get("difference") is None or p.get("low") is None:
            paired = p.get("reason") or ""
        else:
            paired = f"{p['difference']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}] p={p['p_value']:.3f}"
        inflation = _num(r.get("inflation_pp"), "{:+.1f}")
        others = "".join(f"{_num(r['figures'][m]['value']):>15}" for m in extra)
        lines.append(f"{r['protocol']:<{width}}{ci:<28}{others}{inflation:>15}  {paired}")
        if "draws" in r:
            values = ", ".join(_num(d["value"]) for d in r["draws"])
            lines.append(f"{'':<{width}}best of {len(r['draws'])} draws: {values}")
        if "scoring" in r:
            lines.append(f"{'':<{width}}scored as {r['scoring']}")
    return "\n".join(lines)
