"""``busbench results verify``: score a finished run again from its stored predictions and check its metrics.json.

A published run keeps its per-fold predictions so that anyone can re-score it. Verifying does that with this
checkout's evaluator: every figure the run's ``metrics.json`` records must come out again (the bootstrap is seeded,
so intervals reproduce too), and the run id must be the hash of the identity its ``run.json`` records (or, for a run
made before identity version 2, of the version-1 identity its fields imply; :mod:`benchmark.results.identity`).
The folds scored are those ``run.json`` and the split say (:func:`expected_folds`), never the file's own list. A
figure this evaluator reports that the file lacks fails verification too (a deleted interval is not a pass); for a
run scored by an older busbench, ``--update`` writes such figures in, and only when nothing recorded changed, so a
published score is never silently replaced. A segmentation run's per-case table (``metrics.json`` key ``"cases"``:
every case's pixel counts, Dice, IoU, HD95 and NSD) is one of those figures: recomputed from the masks and compared
case by case (paths like ``cases.hd95[12]``), and written in by ``--update`` for a run scored before it was kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.evaluation.external import score_external
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import score_predictions
from benchmark.evaluation.stored_run import external_run_data, read_json, read_scored_run, run_data, run_dataset
from benchmark.fileio import atomic_write_json
from benchmark.results.identity import check_run_id, identity_of
from benchmark.results.rundir import RunDir
from benchmark.splits.schema import SplitFile
from benchmark.splits.verify import load_split

#: Relative tolerance for recorded floats: scoring is deterministic, but a BLAS or numpy change may move last bits.
REL_TOL = 1e-9


#: The recomputed value of a recorded figure this evaluator no longer reports.
MISSING = "<missing>"


@dataclass
class MetricDifferences:
    """How a recomputed ``metrics.json`` differs from the recorded one.

    Attributes:
        changed: ``(path, recorded, recomputed)`` for every recorded figure that came out otherwise; recomputed is
            :data:`MISSING` where this evaluator no longer reports the figure.
        added: Paths of figures the recomputed document has and the recorded one lacks.
    """

    changed: list[tuple[str, Any, Any]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def metric_differences(recorded: Any, recomputed: Any, path: str = "", rel_tol: float = REL_TOL) -> MetricDifferences:
    """Compare two ``metrics.json`` documents leaf by leaf.

    Floats compare within ``rel_tol`` (and NaN equals NaN); everything else compares exactly. Paths read like
    ``pooled.per_class.benign.recall`` and ``per_fold[2].dice``.

    Returns:
        The changed and the added figures (see :class:`MetricDifferences`).
    """
    out = MetricDifferences()
    _walk(recorded, recomputed, path, rel_tol, out)
    return out


def _walk(old: Any, new: Any, path: str, rel_tol: float, out: MetricDifferences) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            sub = f"{path}.{key}" if path else str(key)
            if key in new:
                _walk(old[key], new[key], sub, rel_tol, out)
            else:
                out.changed.append((sub, old[key], MISSING))
        out.added.extend(f"{path}.{key}" if path else str(key) for key in new if key not in old)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{i}]", rel_tol, out)
    elif not _same(old, new, rel_tol):
        out.changed.append((path, old, new))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any, rel_tol: float) -> bool:
    if _is_number(a) and _is_number(b):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0)
    return type(a) is type(b) and a == b


@dataclass
class Verification:
    """The outcome of verifying one run.

    Attributes:
        run_dir: The run folder.
        documents: Each ``metrics.json`` verified (the run's own, and a lucky-split audit's per-draw ones) and its
            recomputed content.
        differences: How the recorded documents differ from the recomputed ones (draws' paths start ``draw-<i>/``).
        identity_version: The identity recipe the run id was made with (1: before plugin code and threads counted),
            or ``None`` for a run whose identity ``run.json`` cannot rebuild (predictions-only runs).
        identity_problem: Why the run id is not its identity's hash, or ``None`` when it is (or cannot be rebuilt).
    """

    run_dir: Path
    documents: dict[Path, dict[str, Any]]
    differences: MetricDifferences
    identity_version: int | None = None
    identity_problem: str | None = None

    @property
    def reproduced(self) -> bool:
        """Whether every recorded figure came out again (figures missing from the file are :attr:`complete`'s)."""
        return not self.differences.changed

    @property
    def complete(self) -> bool:
        """Whether the file records every figure this evaluator computes (a deleted figure fails verification)."""
        return not self.differences.added


def verify_run(run_dir: Path, dataset_spec: str | None = None) -> Verification:
    """Re-score a finished run from its stored predictions and compare with its ``metrics.json``.

    A lucky-split protocol audit keeps one scored split per draw (``draw-<i>/``, each with its ``split.json``) and
    reports the best draw: each draw is verified, and the run's own ``metrics.json`` against the reported draw.

    Args:
        run_dir: A scored run folder (trained, tuned, predictions-only, a protocol audit or an external run).
        dataset_spec: Where its data is (default: the spec in ``run.json``).

    Raises:
        BusbenchError: If the folder holds no scored run, or the data or split are not the run's own.
    """
    run_dir = Path(run_dir)
    doc, recorded = read_scored_run(run_dir)
    version, rebuilt = identity_of(doc)
    identity: dict[str, Any] = {"identity_version": version if rebuilt is not None else None,
                                "identity_problem": check_run_id(doc)}
    protocol = doc.get("protocol") or {}
    if doc.get("kind") == "external":
        ext, train_data, test_data = external_run_data(run_dir, doc, dataset_spec)
        metrics = in_recorded_order(recorded, score_external(RunDir(run_dir), ext, train_data, test_data,
                                                             doc["external"]["train"], int(doc["external"]["n_folds"])))
        return Verification(run_dir, {RunDir(run_dir).metrics_json: metrics}, metric_differences(recorded, metrics),
                            **identity)
    if not protocol.get("draws"):
        dataset, split = run_data(run_dir, doc, dataset_spec)
        folds = expected_folds(doc, split)
        metrics = in_recorded_order(recorded, _score(run_dir, doc["task"], split, dataset, folds))
        differences = metric_differences(recorded, metrics)
        if sorted(int(k) for k in recorded.get("folds") or []) != folds:
            differences.changed.insert(0, ("folds", recorded.get("folds"), folds))
        return Verification(run_dir, {RunDir(run_dir).metrics_json: metrics}, differences, **identity)
    dataset = run_dataset(run_dir, doc, dataset_spec)
    documents, differences = {}, MetricDifferences()
    for draw in protocol["draws"]:
        draw_dir = run_dir / f"draw-{draw['draw']}"
        draw_recorded = read_json(RunDir(draw_dir).metrics_json)
        metrics = in_recorded_order(draw_recorded, _score(draw_dir, doc["task"], load_split(draw_dir / "split.json",
                                                                                            dataset), dataset, [0]))
        documents[RunDir(draw_dir).metrics_json] = metrics
        _merge(differences, metric_differences(draw_recorded, metrics), f"{draw_dir.name}/")
        if draw["draw"] == protocol.get("reported_draw"):
            documents[RunDir(run_dir).metrics_json] = metrics
            _merge(differences, metric_differences(recorded, metrics), "")
    return Verification(run_dir, documents, differences, **identity)


def in_recorded_order(recorded: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with its per-case table (``"cases"``) in the row order of the recorded one.

    The table is one row per case; its order is the order the scoring split listed the cases in, which is the
    dataset's order for a split made in memory (a protocol audit's) and case-id order for one read from a file, so
    a run scored from the first and verified from the second lists the same rows in another order. Rows are matched
    by case id, so every recorded row is compared with the recomputed row of its own case. When the two tables do
    not hold the same cases exactly once each, ``metrics`` is returned unchanged and the comparison reports it.
    """
    old = recorded.get("cases") if isinstance(recorded, dict) else None
    new = metrics.get("cases")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return metrics
    old_ids, new_ids = old.get("case_id"), new.get("case_id")
    if not isinstance(old_ids, list) or not isinstance(new_ids, list) or old_ids == new_ids:
        return metrics
    row = {cid: i for i, cid in enumerate(new_ids)}
    if len(row) != len(new_ids) or len(set(old_ids)) != len(old_ids) or set(old_ids) != set(row):
        return metrics
    order = [row[cid] for cid in old_ids]
    table = {col: [values[i] for i in order] if isinstance(values, list) and len(values) == len(order) else values
             for col, values in new.items()}
    return {**metrics, "cases": table}


def expected_folds(doc: dict[str, Any], split: SplitFile) -> list[int]:
    """The folds a run's ``metrics.json`` must score, from ``run.json`` and the split, never from the file itself.

    Predictions scored by ``busbench evaluate`` name theirs (``scored_folds``); a completed run scores every fold of
    its split; an unfinished one the folds its fold table holds.
    """
    if doc.get("kind") == "predictions" and doc.get("scored_folds") is not None:
        return sorted(int(k) for k in doc["scored_folds"])
    if doc.get("status") == "completed":
        return list(range(split.k))
    return sorted(int(k) for k in doc.get("folds") or {})


def _score(folder: Path, task: str, split: SplitFile, dataset: Dataset, folds: list[int]) -> dict[str, Any]:
    predictions = read_run_predictions(RunDir(folder), task, split, folds)
    return score_predictions(task, split, dataset, predictions, folds=folds)


def _merge(into: MetricDifferences, part: MetricDifferences, prefix: str) -> None:
    into.changed.extend((prefix + path, old, new) for path, old, new in part.changed)
    into.added.extend(prefix + path for path in part.added)


def write_added(verification: Verification) -> None:
    """Write the recomputed ``metrics.json`` documents of a reproduced run, each atomically.

    Raises:
        ValueError: If a recorded figure changed: a published score is never replaced.
    """
    if not verification.reproduced:
        raise ValueError(f"{verification.run_dir}: recorded figures changed; metrics.json is left as it is")
    for path, metrics in verification.documents.items():
        atomic_write_json(path, metrics)
