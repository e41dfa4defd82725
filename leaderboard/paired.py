"""Paired comparison of two runs on the same split, as ``busbench compare`` does (:mod:`benchmark.evaluation.compare`).

The same computation (:func:`~benchmark.evaluation.compare.paired_comparison`), with two differences in its inputs
that let it work from published run folders: the split file is found beside the run or in this checkout
(:func:`leaderboard.sources.find_split`, checked by sha256), and for classification the ground truth is the split
file's recorded labels when the dataset itself is not on this machine (the split was verified against the data when
the runs were made; segmentation always needs the dataset's reference masks).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeGuard

import pandas as pd

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.compare import RecordedLabels, paired_comparison
from benchmark.evaluation.score import (
    BOUNDARY_STATISTICS,
    CLASSIFICATION_STATISTICS,
    HEADLINE,
    N_BOOT,
    SEGMENTATION_STATISTICS,
)
from benchmark.splits.schema import SplitFile


def metrics_for(task: str) -> tuple[str, ...]:
    """The figures a paired comparison can use, headline first."""
    names = (CLASSIFICATION_STATISTICS if task == "classification"
             else {**SEGMENTATION_STATISTICS, **BOUNDARY_STATISTICS})
    return (HEADLINE[task], *(n for n in names if n != HEADLINE[task]))


def check_pair(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Why two store rows cannot be compared, or ``None`` when they can."""
    if a["run_id"] == b["run_id"]:
        return "pick two different runs"
    for row in (a, b):
        if row["status"] != "completed":
            return f"{row['run_id']} is {row['status']}; only completed runs are compared"
    if a["task"] != b["task"]:
        return "the runs are of different tasks"
    if a["split_sha256"] != b["split_sha256"]:
        return "the runs were made on different split files; a paired test needs the same split"
    if a["dataset_fingerprint"] != b["dataset_fingerprint"]:
        return "the runs were scored on different data"
    return None


def compare(run_a: Path, run_b: Path, task: str, split: SplitFile, truth: Dataset | RecordedLabels,
            metric: str, *, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Paired bootstrap of ``b - a`` and the Nadeau-Bengio corrected t-test over folds.

    Returns:
        ``{"metric", "a", "b", "bootstrap", "ttest", "unit", "n_cases"}`` from
        :func:`benchmark.evaluation.compare.paired_comparison`, as ``busbench compare`` computes them.

    Raises:
        BusbenchError: When a run's predictions do not cover its split (named by file).
    """
    if metric not in metrics_for(task):
        raise BusbenchError("metric", f"unknown {task} metric {metric!r}")
    return paired_comparison(run_a, run_b, task, split, truth, metric, n_boot=n_boot)  # type: ignore[arg-type]


#: Significance level of the verdict sentence (both tests are two-sided).
ALPHA = 0.05


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def default_pair(frame: pd.DataFrame) -> tuple[str, str] | None:
    """The pair the Compare page opens on: the two best distinct submissions that can be compared.

    Completed runs of one task on the same split file and data (:func:`check_pair`), of two different submission
    names, ranked by headline. Clean-protocol runs that are not a protocol audit's are preferred (they are the ranked
    ones); any completed runs otherwise. Returns ``(best, runner-up)`` run ids, or ``None`` when no two qualify.
    """
    for ranked_only in (True, False):
        for a in _ranked(frame, ranked_only=ranked_only):
            partner = best_partner(frame, a, ranked_only=ranked_only)
            if partner is not None:
                return a, partner
    return None


def _ranked(frame: pd.DataFrame, pool: pd.DataFrame | None = None, *, ranked_only: bool = False) -> list[str]:
    # Completed runs with a headline, best first: ranked (clean, not an audit's) runs, then the others.
    if frame.empty:
        return []
    rows = frame if pool is None else pool
    done = rows[(rows["status"] == "completed") & rows["headline_value"].notna()]
    ranked = (done["protocol"] == "clean") & (done["kind"] != "protocol-audit")
    if ranked_only:
        done = done[ranked]
        ranked = ranked[ranked]
    done = done.assign(_ranked=ranked).sort_values(["_ranked", "headline_value", "created"],
                                                   ascending=[False, False, False])
    return done["run_id"].astype(str).tolist()


def best_partner(frame: pd.DataFrame, run_id: str, *, ranked_only: bool = False) -> str | None:
    """The best run to compare ``run_id`` with: completed, of another submission, same task, split file and data.

    Ranked runs (clean protocol, not a protocol audit's) come first, then by headline; ``None`` when there is none.
    """
    if frame.empty or run_id not in set(frame["run_id"].astype(str)):
        return None
    a = frame[frame["run_id"].astype(str) == run_id].iloc[0]
    pool = frame[(frame["submission"].astype(str) != str(a["submission"])) & (frame["task"] == a["task"])
                 & (frame["split_sha256"] == a["split_sha256"])
                 & (frame["dataset_fingerprint"] == a["dataset_fingerprint"])]
    found = _ranked(frame, pool, ranked_only=ranked_only)
    return found[0] if found else None


def ttest_interval(result: dict[str, Any], level: float = 0.95) -> tuple[float, float] | None:
    """The 95% CI of the mean fold difference that the corrected t-test implies (``mean ± t_crit * se``).

    The standard error is ``|mean / t|``; where ``t`` is 0 it is rebuilt from the per-fold differences with the
    Nadeau-Bengio factor ``1/k + n_test/n_train`` (test part ``n/k``). ``None`` when the test is undefined.
    """
    ttest = result.get("ttest") or {}
    mean, t, df = ttest.get("mean_diff"), ttest.get("t"), ttest.get("df")
    if not (_finite(mean) and _finite(t) and _finite(df)) or df < 1:
        return None
    if t != 0:
        se = abs(mean / t)
    else:
        a, b = result["a"]["per_fold"], result["b"]["per_fold"]
        diffs = pd.Series([y - x for x, y in zip(a, b, strict=True)], dtype=float)
        k, n = len(diffs), float(result.get("n_cases") or 0)
        if k < 2 or n <= 0:
            return None
        se = math.sqrt((1 / k + (n / k) / (n - n / k)) * float(diffs.var(ddof=1)))
    from scipy import stats  # the Compare page only

    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return float(mean - half), float(mean + half)


def verdict(result: dict[str, Any], *, lower_is_better: bool = False, metric_label: str | None = None,
            alpha: float = ALPHA) -> tuple[str, str]:
    """A plain-words verdict on ``B - A``: which run is better, or that the difference is not established.

    Returns ``(kind, sentence)``: kind ``"agree"`` (both tests find the same direction), ``"none"`` (neither finds a
    difference), ``"disagree"`` (one test finds a difference the other does not; the sentence says why that can
    happen), or ``"one"`` (only the bootstrap is defined). The sentence names the runs "A" and "B".
    """
    boot, ttest = result.get("bootstrap") or {}, result.get("ttest") or {}
    name = metric_label or str(result.get("metric"))
    diff, low, high, p_boot = boot.get("difference"), boot.get("low"), boot.get("high"), boot.get("p_value")
    p_t, k = ttest.get("p_value"), ttest.get("k")
    if not (_finite(diff) and _finite(low) and _finite(high)):
        return "none", (f"No verdict: the paired bootstrap of {name} is undefined "
                        f"({boot.get('reason') or 'no interval'}).")
    boot_sig = low > 0 or high < 0
    t_defined = _finite(p_t)
    t_sig = _finite(p_t) and p_t < alpha  # (_finite(p_t) is t_defined; written out, it narrows p_t)
    better = "B" if (diff > 0) != lower_is_better else "A"
    worse = "A" if better == "B" else "B"
    direction = "lower" if lower_is_better else "higher"
    size = (f"B − A = {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f}, paired bootstrap {_p_is(p_boot)}"
            + (f"; corrected t-test over {k} folds {_p_is(p_t)})" if t_defined else ")"))
    n = result.get("n_cases")
    why = (f"The two tests answer different questions: the paired bootstrap resamples the {n or 'N'} test cases "
           f"(by {result.get('unit') or 'cluster'}) of these fixed predictions, so it sees case-to-case variation "
           f"only; the corrected t-test sees only the {k or 'k'} fold scores and, following Nadeau & Bengio, inflates "
           "their variance because the folds' training sets overlap, so with so few folds it has little power.")
    if not t_defined:
        reason = ttest.get("undefined") or "not computed"
        if boot_sig:
            return "one", (f"{better} has the better {name} ({direction} is better): {size}, the bootstrap's 95% CI "
                           f"excludes 0. The corrected t-test is n/a ({reason}), so this rests on the bootstrap "
                           "alone.")
        return "none", (f"The difference in {name} is not established: {size}; the 95% CI includes 0. The corrected "
                        f"t-test is n/a ({reason}).")
    if boot_sig and t_sig and (diff > 0) == (ttest.get("mean_diff", 0) > 0):
        return "agree", (f"{better} is better than {worse} on {name} ({direction} is better): {size}. Both tests "
                         f"agree at the {alpha:.0%} level.")
    if not boot_sig and not t_sig:
        return "none", (f"The difference in {name} between A and B is not established: {size}. Neither test finds "
                        f"a difference at the {alpha:.0%} level.")
    if boot_sig:
        found = (f"The tests disagree: the paired bootstrap finds {better} better on {name} ({direction} is better; "
                 f"its 95% CI excludes 0) but the corrected t-test does not ({_p_is(p_t)}): {size}.")
        advice = ("Read it as: these predictions differ on these cases, but that the difference would survive "
                  "retraining on other data is not established.")
    else:
        t_better = "B" if (ttest.get("mean_diff", 0) > 0) != lower_is_better else "A"
        found = (f"The tests disagree: the corrected t-test finds {t_better} better on {name} ({_p_is(p_t)}) but the "
                 f"paired bootstrap does not (its 95% CI includes 0): {size}.")
        advice = ("A small difference of the same sign in every fold can pass the t-test while the cases leave it "
                  "uncertain: the difference is not established.")
    return "disagree", f"{found} {why} {advice}"


def _p_is(value: Any) -> str:
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _p(value: Any) -> str:
    if not _finite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
