"""A finished run folder read back for scoring again: its record, its data and its split, each checked against it.

Re-scoring (``busbench results verify``, ``busbench audit rescore``) and paired comparison (``busbench compare``)
read a run's stored predictions with the evaluator's ground truth. The data must be the data the run was scored on
(same fingerprint) and the split the same file (same sha256, verified against the data as every split load is):
anything else would score the predictions against other labels without saying so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.fileio import read_json as read_json_file
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.splits.external import ExternalSplit, load_external
from benchmark.splits.schema import SplitFile
from benchmark.splits.verify import load_split

#: The busbench checkout (the folder holding ``benchmark/``), where committed split files lie.
CHECKOUT = Path(__file__).resolve().parents[2]


def read_scored_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scored run's ``run.json`` and ``metrics.json``.

    Raises:
        BusbenchError: If the folder is no run, its run has no scores, or ``metrics.json`` is not JSON.
    """
    rd = RunDir(run_dir)
    doc = rd.read_run()
    if doc is None:
        raise BusbenchError(run_dir, "is not a run folder (no run.json)")
    if doc.get("status") not in ("completed", "partial") or not rd.metrics_json.exists():
        raise BusbenchError(run_dir, f"run is {doc.get('status')}; only scored runs can be re-scored")
    return doc, read_json(rd.metrics_json)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON document that must exist and parse.

    Raises:
        BusbenchError: Naming the file, if it is missing or not valid JSON.
    """
    doc = read_json_file(path, missing="is missing")
    if not isinstance(doc, dict):
        raise BusbenchError(path, "is not a JSON object")
    return doc


def dataset_candidates(doc: dict[str, Any], dataset_spec: str | None = None, *,
                       first: tuple[str, ...] = ()) -> list[str]:
    """Where a run's data may be, in the one order every reader of a stored run looks.

    ``dataset_spec`` alone when the user gave one. Otherwise ``first`` (a caller's own setting, e.g. the
    leaderboard's data folder), then ``$BUSBENCH_BUSI``, then the spec ``run.json`` records: as it is when it is a
    synthetic spec or an absolute path, else relative to the working directory and then to this busbench checkout
    (runs record the path as typed where they ran, usually the repository root), like :func:`split_candidates`.
    """
    if dataset_spec:
        return [dataset_spec]
    out = [*first, *([os.environ["BUSBENCH_BUSI"]] if os.environ.get("BUSBENCH_BUSI") else [])]
    spec = (doc.get("dataset") or {}).get("spec")
    if isinstance(spec, str) and spec:
        if spec == "synthetic" or spec.startswith("synthetic:") or Path(spec).is_absolute():
            out.append(spec)
        else:
            out += [str(Path.cwd() / spec), str(CHECKOUT / spec)]
    return list(dict.fromkeys(out))


def open_matching(candidates: list[str], fingerprint: str | None) -> tuple[Dataset | None, str]:
    """The first candidate dataset whose fingerprint is ``fingerprint`` (data is matched by its pixels).

    Returns:
        ``(dataset, location)``, or ``(None, what was tried and why each failed)``.
    """
    tried = []
    for spec in candidates:
        if not spec.startswith("synthetic") and not Path(spec).exists():
            tried.append(f"{spec}: not found")
            continue
        try:
            dataset = open_dataset(spec)
            if dataset.fingerprint() == fingerprint:
                return dataset, spec
        except BusbenchError as exc:
            tried.append(f"{spec}: {exc.problem}")
            continue
        tried.append(f"{spec}: other data (fingerprint differs)")
    return None, "; ".join(tried) or "the run records no dataset location"


def run_dataset(run_dir: Path, doc: dict[str, Any], dataset_spec: str | None = None) -> Dataset:
    """The data a run was scored on, checked by its fingerprint.

    ``dataset_spec`` if given, else the first of :func:`dataset_candidates` whose fingerprint is the recorded one.

    Raises:
        BusbenchError: If the given data's fingerprint differs from the recorded one, or no candidate matches.
    """
    fingerprint = (doc.get("dataset") or {}).get("fingerprint")
    if dataset_spec:
        dataset = open_dataset(dataset_spec)
        if dataset.fingerprint() != fingerprint:
            raise BusbenchError(dataset_spec, f"is not the data {run_dir} was scored on (fingerprint differs)")
        return dataset
    candidates = dataset_candidates(doc)
    if not candidates:
        raise BusbenchError(run_dir, "run.json does not say which data it was scored on; give --dataset")
    found, where = open_matching(candidates, fingerprint)
    if found is None:
        raise BusbenchError(run_dir, f"the data it was scored on was not found ({where}); give --dataset")
    return found


def split_candidates(run_dir: Path, doc: dict[str, Any]) -> list[Path]:
    """Where a run's split file may be, in the one order every reader of a stored run looks.

    The folder's own ``split.json`` (protocol-audit runs and published runs carry it), then the path ``run.json``
    records: as it is when absolute, else relative to the working directory and then to this busbench checkout
    (runs name it as typed where they ran, usually the repository root).
    """
    out = [Path(run_dir) / "split.json"]
    recorded = (doc.get("split") or {}).get("path")
    if isinstance(recorded, str) and recorded:
        path = Path(recorded)
        out += [path] if path.is_absolute() else [Path.cwd() / path, CHECKOUT / path]
    return list(dict.fromkeys(out))


def find_split_file(run_dir: Path, doc: dict[str, Any]) -> Path:
    """The split file a run was made on: the first of :func:`split_candidates` that exists, with the recorded sha256.

    The first file found is the one: a run's own ``split.json`` or a split file at the recorded path that differs
    from the one the run recorded is an error, never passed over for another copy.

    Raises:
        BusbenchError: If no candidate exists, or the first that exists has another sha256 than the recorded one.
    """
    recorded = doc.get("split") or {}
    sha = recorded.get("sha256")
    for path in split_candidates(run_dir, doc):
        if path.is_file():
            if sha and file_sha256(path) != sha:
                raise BusbenchError(path, f"is not the split file {run_dir} was made on (sha256 differs)")
            return path
    where = recorded.get("path") or run_dir
    raise BusbenchError(where, f"split file of {run_dir} not found (looked beside the run, in the working directory "
                               "and in this busbench checkout)")


def external_run_data(run_dir: Path, doc: dict[str, Any],
                      dataset_spec: str | None = None) -> tuple[ExternalSplit, Dataset, Dataset]:
    """The external split, training data and test data of a ``busbench external`` run, each checked.

    The test data is opened from the spec its ``run.json`` records.

    Raises:
        BusbenchError: If a dataset's fingerprint or the split file's sha256 differ from the recorded ones, or the
            split does not verify against both datasets.
    """
    train_data = run_dataset(run_dir, doc, dataset_spec)
    recorded = ((doc.get("external") or {}).get("test_dataset") or {})
    if not recorded.get("spec"):
        raise BusbenchError(run_dir, "run.json does not say which data the external scores are on")
    test_data = open_dataset(recorded["spec"])
    if test_data.fingerprint() != recorded.get("fingerprint"):
        raise BusbenchError(recorded["spec"], f"is not the test data {run_dir} was scored on (fingerprint differs)")
    return load_external(find_split_file(run_dir, doc), train_data, test_data), train_data, test_data


def run_data(run_dir: Path, doc: dict[str, Any], dataset_spec: str | None = None) -> tuple[Dataset, SplitFile]:
    """The data and the split a run was scored on, checked against what its ``run.json`` recorded.

    The split is found by :func:`find_split_file`.

    Args:
        run_dir: The run folder.
        doc: Its ``run.json``.
        dataset_spec: Where the data is (default: the spec recorded in ``run.json``).

    Raises:
        BusbenchError: If the data's fingerprint or the split file's sha256 differ from the recorded ones, or the
            split does not verify against the data.
    """
    dataset = run_dataset(run_dir, doc, dataset_spec)
    return dataset, load_split(find_split_file(run_dir, doc), dataset)
