"""The boards as tables: store rows flattened into one frame, then the clean ranking, the leaky runs and the failures.

Pure pandas (no Streamlit), so the benchmark times exactly what the page renders. Each row's convergence flags
come from its folds' histories, read from its run folder when that is on this machine (blank otherwise).

A *configuration* is what the issue lists as making a row: submission, task, kind of run, dataset, split file,
input size, tuned or default, pretrained or not, and the split protocol. Several runs of one configuration (seeds,
reruns) collapse to the newest, and the row says how many there were. Only completed runs on the clean protocol
are ranked; runs on leaky protocols (naive split, augmentation before the split, mask overlay, selection on the
test folds, lucky split, or none recorded) are listed apart with what makes each one leaky.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pandas as pd

from benchmark.audit.leaks import parse_protocol
from benchmark.errors import BusbenchError
from benchmark.evaluation.score import constant_prediction
from benchmark.evaluation.training import budget_text, convergence, read_fold_results
from benchmark.splits.named import benchmark_name

#: Figures shown beside the headline, per task (keys of ``metrics.json``'s ``pooled``).
OTHER_METRICS = {
    "classification": ("accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant", "sensitivity_malignant",
                       "specificity_malignant", "ece"),
    "segmentation": ("iou", "pooled_dice", "empty_reference_false_positive_rate"),
}
ALL_METRICS = tuple(dict.fromkeys(m for ms in OTHER_METRICS.values() for m in ms))
CONFIG = ("task", "submission", "kind", "dataset", "split_sha256", "image_size", "tuned", "pretrained", "protocol")
VERSION_KEYS = ("busbench", "torch", "torchvision", "timm", "numpy", "python")


def protocol_label(protocol: Any) -> str:
    """Why a run is not on the clean ranking, in words."""
    if protocol is None or protocol == "":
        return "no split protocol recorded"
    if protocol == "manual":
        return "its split was edited by hand (busbench splits mark-edited)"
    try:
        return parse_protocol(str(protocol)).describe()
    except BusbenchError:
        return f"protocol {protocol!s} is not the clean protocol"


def _versions(run: dict[str, Any]) -> str:
    versions = versions if isinstance(versions := run.get("versions"), dict) else {}
    return ", ".join(f"{k} {versions[k]}" for k in VERSION_KEYS if k in versions)


def _fold_values(metrics: dict[str, Any], metric: str | None) -> list[float]:
    out = []
    for fold in metrics.get("per_fold") or []:
        value = fold.get(metric) if isinstance(fold, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(float(value))
    return out


def _description(run: dict[str, Any]) -> str:
    sub = run.get("submission")
    return str(sub.get("description") or "") if isinstance(sub, dict) else ""


def peak_memory_mib(run: dict[str, Any]) -> float | None:
    """The largest fold's peak memory in MiB: GPU memory for a CUDA run, host memory otherwise.

    ``None`` for a run whose folds recorded none (runs made before busbench recorded memory, predictions-only runs).
    """
    folds = folds if isinstance(folds := run.get("folds"), dict) else {}
    compute = compute if isinstance(compute := run.get("compute"), dict) else {}
    key = "gpu_mib" if str(compute.get("device") or "").startswith("cuda") else "host_mib"
    peaks = [m[key] for f in folds.values() if isinstance(f, dict) and isinstance(m := f.get("memory"), dict)
             and isinstance(m.get(key), (int, float)) and not isinstance(m.get(key), bool)]
    return float(max(peaks)) if peaks else None


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """One store row as a flat record of the board's columns (the full JSON documents are dropped)."""
    run = row.get("run_json") or {}
    metrics = row.get("metrics_json") or {}
    pooled = pooled if isinstance(pooled := metrics.get("pooled"), dict) else {}
    folds = _fold_values(metrics, row.get("headline_metric"))
    compute = compute if isinstance(compute := run.get("compute"), dict) else {}
    device = row.get("device") or ""
    if row.get("device_name"):
        device = f"{device} ({row['device_name']})"
    out = {k: row.get(k) for k in ("run_id", "kind", "status", "task", "submission", "dataset",
                                   "dataset_fingerprint", "split_sha256", "split_group", "protocol", "tuned",
                                   "pretrained", "image_size", "epochs", "seed", "precision", "headline_metric",
                                   "headline_value", "headline_ci_low", "headline_ci_high", "error", "created",
                                   "finished", "wall_seconds", "params", "run_dir", "git_commit")}
    out.update({
        "description": _description(run),
        "dataset_spec": (run.get("dataset") or {}).get("spec") if isinstance(run.get("dataset"), dict) else None,
        "device": device or None,
        "threads": compute.get("threads"),
        "peak_mib": peak_memory_mib(run),
        "versions": _versions(run),
        "fold_values": folds,
        "fold_mean": sum(folds) / len(folds) if folds else None,
        "fold_sd": pd.Series(folds).std() if len(folds) > 1 else None,
        "n_folds": len(folds),
        "split": f"{row.get('split_group') or '?'} {str(row.get('split_sha256') or '')[:8]}".strip(),
        "split_path": (run.get("split") or {}).get("path") if isinstance(run.get("split"), dict) else None,
        "link": "submission?run=" + quote(str(row.get("run_id")), safe=""),
    })
    for m in ALL_METRICS:
        value = pooled.get(m)
        out[m] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    compatible = compatible if isinstance(compatible := pooled.get("paper_compatible"), dict) else {}
    out["paper_compatible_dice"] = compatible.get("dice")
    out["evaluator_version"] = metrics.get("evaluator_version")
    out["benchmark"] = benchmark_name(row.get("split_sha256"))
    out["constant_prediction"] = constant_prediction(metrics) or ""  # blank, not "None", in the board
    external = external if isinstance(external := run.get("external"), dict) else {}
    test_data = test_data if isinstance(test_data := external.get("test_dataset"), dict) else {}
    gap = gap if isinstance(gap := metrics.get("gap"), dict) else {}
    internal = internal if isinstance(internal := metrics.get("internal"), dict) else {}
    mapping = mapping if isinstance(mapping := external.get("class_mapping"), dict) else {}
    out.update({
        "test_dataset": test_data.get("name"),
        "external_train": external.get("train"),
        "class_mapping": mapping.get("rule"),
        "internal_value": (internal.get("headline") or {}).get("value"),
        "gap_value": gap.get("value"), "gap_ci_low": gap.get("ci_low"), "gap_ci_high": gap.get("ci_high"),
    })
    out["budget"] = budget_text(run)
    out["convergence"] = convergence(run, metrics, read_fold_results(row.get("run_dir"), run)).text()
    return out


def board_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """All runs of a store as one frame, one row per run (see :func:`flatten`)."""
    frame = pd.DataFrame([flatten(r) for r in rows])
    if frame.empty:
        return pd.DataFrame(columns=[*flatten({}).keys()])
    return frame


def apply_filters(frame: pd.DataFrame, *, datasets: list[str] | None = None, protocols: list[str] | None = None,
                  tuned: bool | None = None, pretrained: bool | None = None) -> pd.DataFrame:
    """Rows matching every filter given (``None`` or an empty list means no filter on that column)."""
    keep = pd.Series(True, index=frame.index)
    if datasets:
        keep &= frame["dataset"].isin(datasets)
    if protocols:
        keep &= frame["protocol"].fillna("(none)").isin(protocols)
    if tuned is not None:
        keep &= frame["tuned"].fillna(False).astype(bool) == tuned
    if pretrained is not None:
        keep &= frame["pretrained"].fillna(False).astype(bool) == pretrained
    return frame[keep]


def newest_per_config(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest run of every configuration, with ``runs``: how many runs the configuration has."""
    if frame.empty:
        return frame.assign(runs=pd.Series(dtype=int))
    # str() of each value (None and NaN included) so that missing fields group together.
    key = frame[CONFIG[0]].map(str)  # column by column, not row by row: 5x faster at 1,000 runs
    for column in CONFIG[1:]:
        key = key + "|" + frame[column].map(str)
    ordered = frame.assign(_key=key).sort_values(["created", "run_id"], na_position="first")
    counts = ordered.groupby("_key")["run_id"].transform("size")
    newest = ordered.assign(runs=counts).drop_duplicates("_key", keep="last")
    return newest.drop(columns="_key")


def ranking(frame: pd.DataFrame, task: str, *, per_config: bool = True) -> pd.DataFrame:
    """The clean ranking of one task: completed clean-protocol runs, best headline first, with ``rank``.

    Protocol-audit runs are left out, the audit's clean baseline included (it belongs to its audit).

    Scores on two split files are never ranked together: ``rank`` restarts for every split file (``split_sha256``),
    and :func:`by_split` hands the board one ranking per split.
    """
    # An audit's clean run is the baseline of its leaky runs, shown with them on the Audit page, never ranked.
    clean = frame[(frame["task"] == task) & (frame["status"] == "completed") & (frame["protocol"] == "clean")
                  & (frame["kind"] != "protocol-audit")]
    board = newest_per_config(clean) if per_config else clean.assign(runs=1)
    board = board.sort_values(["headline_value", "run_id"], ascending=[False, True], na_position="last")
    ranks = board.groupby(board["split_sha256"].fillna(""), sort=False).cumcount() + 1
    return board.assign(rank=ranks.to_numpy())


def by_split(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A ranking cut into one board per split file, newest split first: ``(title, rows)`` pairs.

    The title names the split file and its grouping, e.g. ``"splits/busi/5fold_examination.json (examination,
    1a2b3c4d)"``.
    """
    out = []
    for sha, rows in board.groupby(board["split_sha256"].fillna(""), sort=False):
        path = next((p for p in rows["split_path"] if isinstance(p, str) and p), "split file not recorded")
        group = next((g for g in rows["split_group"] if isinstance(g, str) and g), "?")
        out.append((f"{path} ({group}, {str(sha)[:8]})", rows, rows["created"].max()))
    out.sort(key=lambda t: str(t[2] or ""), reverse=True)
    return [(title, rows) for title, rows, _ in out]


def external(frame: pd.DataFrame, task: str) -> list[tuple[str, pd.DataFrame]]:
    """The external-validation boards of one task: ``(title, rows)``, one per external split file.

    An external split file fixes the pair of datasets and the scored classes (three classes, or benign vs
    malignant: other chance levels), so each board holds the completed ``busbench external`` runs of one file, best
    external headline first, with ``rank``; the title names both datasets and the file (its benchmark name when it
    is a committed one). They are never ranked with runs scored on the training data's own folds: other data, other
    question.
    """
    runs = frame[(frame["task"] == task) & (frame["status"] == "completed") & (frame["kind"] == "external")]
    out = []
    keys = [runs["dataset"].fillna("?"), runs["test_dataset"].fillna("?"), runs["split_sha256"].fillna("")]
    for (train, test, sha), rows in runs.groupby(keys, sort=True):
        rows = rows.sort_values(["headline_value", "run_id"], ascending=[False, True], na_position="last")
        path = next((p for p in rows["split_path"] if isinstance(p, str) and p), "split file not recorded")
        named = benchmark_name(sha)
        where = f"{named}: {path}" if named else f"{path} ({str(sha)[:8]})"
        out.append((f"trained on {train}, tested on {test}, {where}", rows.assign(rank=range(1, len(rows) + 1))))
    return out


def leaky(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """Scored runs of one task on a leaky protocol (not clean, not external validation), with ``why`` it leaks."""
    out = frame[(frame["task"] == task) & frame["status"].isin(["completed", "partial"])
                & (frame["protocol"] != "clean") & (frame["kind"] != "external")]
    out = out.sort_values(["protocol", "headline_value"], ascending=[True, False], na_position="last")
    return out.assign(why=[protocol_label(p) for p in out["protocol"]])


def failed(frame: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """Failed runs (newest first), each with its first error."""
    out = frame[frame["status"] == "failed"]
    if task is not None:
        out = out[out["task"] == task]
    return out.sort_values("created", ascending=False, na_position="last")


def unfinished(frame: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """Runs still running or stopped part-way (``partial``), which are never ranked."""
    out = frame[frame["status"].isin(["running", "partial"])]
    return out if task is None else out[out["task"] == task]


def provenance(run: dict[str, Any]) -> list[tuple[str, str]]:
    """Where a run's numbers come from, as (field, value) pairs of text."""
    split = split if isinstance(split := run.get("split"), dict) else {}
    data = data if isinstance(data := run.get("dataset"), dict) else {}
    compute = compute if isinstance(compute := run.get("compute"), dict) else {}
    versions = versions if isinstance(versions := run.get("versions"), dict) else {}
    fields = [
        ("run id", run.get("run_id")),
        ("kind", run.get("kind")),
        ("status", run.get("status")),
        ("git commit", run.get("git_commit")),
        ("created", run.get("created")),
        ("finished", run.get("finished")),
        ("seed", run.get("seed")),
        ("split file", split.get("path")),
        ("split sha256", split.get("sha256")),
        ("split grouping", split.get("group")),
        ("split protocol", split.get("protocol")),
        ("dataset", data.get("name")),
        ("dataset fingerprint", data.get("fingerprint")),
        ("device", " ".join(str(compute.get(k)) for k in ("device", "device_name") if compute.get(k))),
        ("precision", compute.get("precision")),
        ("threads", compute.get("threads")),
        ("image size", run.get("image_size")),
        ("epochs", run.get("epochs")),
        ("tuned", run.get("tuned")),
        ("pretrained", run.get("pretrained")),
        ("hyper-parameters", run.get("hparams")),
        *((f"version: {k}", v) for k, v in versions.items()),
    ]
    return [(name, "" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            for name, value in fields]


# ---- The board as shown: one row per submission, text cells, inflation of leaky runs --------------------------------

#: What may differ between two configurations of one submission, and how a row names it.
CONFIG_FIELDS = (("image_size", "px"), ("epochs", "ep"), ("pretrained", "pretrained"), ("tuned", "tuned"),
                 ("kind", "kind"), ("dataset", "data"))
#: A leaky run's clean twin shares these: the same submission trained on the same data with the same budget.
TWIN = ("task", "submission", "dataset", "image_size", "epochs", "pretrained", "tuned", "headline_metric")


def missing(value: Any) -> bool:
    """Whether a cell value is absent: ``None`` or NaN (pandas fills gaps in a numeric column with NaN)."""
    return value is None or (isinstance(value, float) and value != value)


def short(value: Any, digits: int = 3) -> str:
    """A number for a cell: ``"0.812"``, ``"-"`` when missing (never ``"None"`` or ``"nan"``)."""
    if missing(value) or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if missing(value) else str(value)
    return f"{value:.{digits}f}"


def headline_text(value: Any, low: Any, high: Any) -> str:
    """The headline with its 95% interval as one short text: ``"0.812 [0.78, 0.84]"`` (``"-"`` when unscored)."""
    if missing(value):
        return "-"
    if missing(low) or missing(high):
        return short(value)
    return f"{short(value)} [{short(low, 2)}, {short(high, 2)}]"


def yes_no(value: Any) -> str:
    """``True``/``False``/missing as ``"yes"``/``"no"``/``"-"``."""
    return "-" if missing(value) else "yes" if bool(value) else "no"


def _field_text(field: str, value: Any) -> str:
    if field in ("pretrained", "tuned"):
        return yes_no(value)
    if missing(value):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def differences(rows: pd.DataFrame) -> str:
    """What differs between the configurations ``rows`` of one submission, e.g. ``"px 128/224; pretrained no/yes"``.

    Values are listed in the order of the rows (best first); ``""`` when there is one configuration.
    """
    parts = []
    for field, name in CONFIG_FIELDS:
        if field not in rows:
            continue
        values = list(dict.fromkeys(_field_text(field, v) for v in rows[field]))
        if len(values) > 1:
            parts.append(f"{name} {'/'.join(values)}")
    return "; ".join(parts)


def best_per_submission(board: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per submission and split file: its best-ranked configuration; and the configurations left out.

    ``board`` is a :func:`ranking`. The first frame keeps its order, re-ranked per split file, with ``configs``
    (how many configurations the submission has on that split) and ``differs`` (:func:`differences`); the second
    holds the other configurations, with ``rank`` of their submission's shown row and ``differs``.
    """
    if board.empty:
        empty = board.assign(configs=pd.Series(dtype=int), differs=pd.Series(dtype=str))
        return empty, empty
    key = board["split_sha256"].fillna("").astype(str) + "\x00" + board["submission"].fillna("").astype(str)
    groups = board.groupby(key, sort=False)
    counts = groups["run_id"].transform("size")
    diff = groups.apply(differences, include_groups=False) if board.shape[0] else pd.Series(dtype=str)
    board = board.assign(configs=counts.to_numpy(), differs=key.map(diff).fillna("").to_numpy())
    first = ~key.duplicated(keep="first")
    best = board[first.to_numpy()]
    ranks = best.groupby(best["split_sha256"].fillna(""), sort=False).cumcount() + 1
    best = best.assign(rank=ranks.to_numpy())
    rank_of = dict(zip(key[first].to_numpy(), best["rank"].to_numpy(), strict=True))
    others = board[(~first).to_numpy()]
    others = others.assign(rank=[rank_of[k] for k in key[~first]])
    return best, others


def with_inflation(leaks: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Leaky runs with their inflation over the matching clean run.

    Adds ``clean_run``, ``clean_value`` and ``inflation_pp`` (leaky minus clean headline in percentage points;
    missing where no clean twin exists). The clean twin is a completed clean-protocol run of the same submission,
    task, data and budget (input size, epochs, pretrained, tuned) scored with the same headline metric; a run of the
    same kind is preferred (a protocol audit's own clean baseline for its leaky runs), then the newest.
    """
    if leaks.empty:
        return leaks.assign(clean_run=pd.Series(dtype=str), clean_value=pd.Series(dtype=float),
                            inflation_pp=pd.Series(dtype=float))
    clean = frame[(frame["status"] == "completed") & (frame["protocol"] == "clean") & (frame["kind"] != "external")]
    clean = clean.sort_values(["created", "run_id"], na_position="first")

    def key(row: Any) -> tuple[str, ...]:
        return tuple(str(row[c]) if not missing(row[c]) else "" for c in TWIN)

    by_key: dict[tuple[str, ...], list[Any]] = {}
    for row in clean[list({*TWIN, "run_id", "kind", "headline_value"})].itertuples(index=False):
        by_key.setdefault(key(row._asdict()), []).append(row)
    runs, values = [], []
    for row in leaks[list({*TWIN, "kind"})].to_dict("records"):
        twins = by_key.get(key(row), [])
        same_kind = [t for t in twins if t.kind == row["kind"]]
        twin = (same_kind or twins or [None])[-1]
        runs.append(twin.run_id if twin is not None else "")
        values.append(float(twin.headline_value) if twin is not None and not missing(twin.headline_value)
                      else float("nan"))
    values_s = pd.Series(values, index=leaks.index, dtype=float)
    return leaks.assign(clean_run=runs, clean_value=values_s,
                        inflation_pp=(leaks["headline_value"].astype(float) - values_s) * 100)


def summary(board: pd.DataFrame, leaks: pd.DataFrame, gaps: pd.Series | None = None) -> dict[str, Any]:
    """The facts of the Boards page's summary line.

    Args:
        board: A task's clean ranking (best first within each split; the newest split's board first).
        leaks: Its leaky runs with :func:`with_inflation`.
        gaps: Published minus clean, percentage points, one per comparable published headline number.

    Returns:
        ``best`` (its row as a dict, or ``None``), ``median_gap_pp`` and ``gaps`` (how many), ``inflation`` (the
        leaky row with the largest inflation, as a dict, or ``None``).
    """
    best = None
    if not board.empty and board["headline_value"].notna().any():
        top = board.sort_values(["headline_value", "run_id"], ascending=[False, True], na_position="last")
        best = top.iloc[0].to_dict()
    gaps = pd.Series(dtype=float) if gaps is None else pd.Series(gaps, dtype=float).dropna()
    inflated = leaks[leaks["inflation_pp"].notna()] if "inflation_pp" in leaks else leaks.iloc[0:0]
    worst = inflated.loc[inflated["inflation_pp"].idxmax()].to_dict() if not inflated.empty else None
    return {"best": best, "median_gap_pp": float(gaps.median()) if len(gaps) else None, "gaps": int(len(gaps)),
            "inflation": worst}
