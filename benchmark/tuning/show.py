"""``busbench tune --show STUDY``: a study's best trials, their parameters, parameter importances and history.

``STUDY`` is a busbench study name (``<study>``, every outer fold's study is shown) or one fold's study
(``<study>.fold-<k>``). Importances are fANOVA's (seeded, over completed trials); they need at least two completed
trials that differ in some parameter. The same facts come as JSON for the leaderboard's plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import BusbenchError
from benchmark.tuning.storage import IDENTITY_ATTR, close_storage, open_existing_storage, shown_url

#: How many of the best trials the report lists.
TOP = 5


def fold_studies(names: Sequence[str], wanted: str) -> list[str]:
    """The studies ``wanted`` names: itself, or its per-fold studies ``<wanted>.fold-<k>`` in fold order."""
    if wanted in names:
        return [wanted]
    prefix = f"{wanted}.fold-"
    folds = [n for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return sorted(folds, key=lambda n: int(n[len(prefix):]))


def _duration(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)


def importances(study: optuna.Study) -> tuple[dict[str, float] | None, str]:
    """Importances (fANOVA) of the study's parameters, or ``(None, why not)``."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {name for name in {p for t in complete for p in t.params}
              if len({repr(t.params.get(name)) for t in complete}) > 1}
    if len(complete) < 2 or not varied:
        return None, "needs at least two completed trials that differ in some parameter"
    if len({t.value for t in complete}) < 2:
        return None, "every completed trial scored the same, so no parameter explains anything"
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:
        return None, f"could not be computed ({exc})"
    return {k: float(v) for k, v in values.items()}, "fANOVA (seed 0) over completed trials"


def study_report(study: optuna.Study) -> dict[str, Any]:
    """Everything ``--show`` prints about one study, as JSON-ready data."""
    trials = study.get_trials(deepcopy=False)
    history, best_so_far = [], -math.inf
    for t in trials:
        if t.state == TrialState.COMPLETE and t.value is not None:
            best_so_far = max(best_so_far, t.value)
        history.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                        "best_so_far": best_so_far if best_so_far > -math.inf else None,
                        "epochs": len(t.intermediate_values), "seconds": _duration(t), "params": t.params,
                        "worker": t.user_attrs.get("worker"),
                        "note": t.user_attrs.get("error") or ("surplus" if "surplus" in t.user_attrs else None)})
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    top = sorted(complete, key=lambda t: (-cast(float, t.value), t.number))[:TOP]  # complete: value not None
    values, how = importances(study)
    states = [t.state.name.lower() for t in trials]
    return {"study": study.study_name, "identity": study.user_attrs.get(IDENTITY_ATTR),
            "counts": {s: states.count(s) for s in sorted(set(states))},
            "best": [{"number": t.number, "value": t.value, "params": t.params} for t in top],
            "importances": values, "importances_method": how, "history": history}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [list(header)] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    """The text form of :func:`study_report`."""
    params = sorted({p for h in report["history"] for p in h["params"]})
    counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items()) or "no trials"
    out = [f"study {report['study']}: {counts}", "", "best trials"]
    out.append(table(["trial", "value", *params], [[b["number"], b["value"], *(b["params"].get(p) for p in params)]
                                                   for b in report["best"]]) if report["best"] else "(none completed)")
    out += ["", f"parameter importances: {report['importances_method']}"]
    if report["importances"]:
        out.append(table(["parameter", "importance"], list(report["importances"].items())))
    out += ["", "optimisation history"]
    out.append(table(["trial", "state", "value", "best so far", "epochs", "seconds", *params, "note"],
                     [[h["number"], h["state"], h["value"], h["best_so_far"], h["epochs"], h["seconds"],
                       *(h["params"].get(p) for p in params), h["note"]] for h in report["history"]]))
    return "\n".join(out)


def show(url: str, name: str) -> list[dict[str, Any]]:
    """Reports of the studies ``name`` names in the storage at ``url``.

    Raises:
        BusbenchError: When the storage does not exist or cannot be reached, or holds no such study.
    """
    storage = open_existing_storage(url)
    try:
        names = optuna.study.get_all_study_names(storage)
        chosen = fold_studies(names, name)
        if not chosen:
            held = sorted({n.rsplit(".fold-", 1)[0] for n in names})
            listed = ", ".join(held[:5]) + (" ..." if len(held) > 5 else "")
            raise BusbenchError(f"study {name!r}", f"not found in {shown_url(url)} (it holds "
                                f"{listed or 'no study'}; give --storage if the study was run with another)")
        return [study_report(optuna.load_study(study_name=n, storage=storage)) for n in chosen]
    finally:
        close_storage(storage)
