"""Scoring predictions made outside busbench (``busbench evaluate``): same checks, same scores, same run folder.

The evaluator owns the ground truth; a submission hands over only predictions, keyed by case id, with the fold
each case was predicted in (its test fold in the split).

The formats are :mod:`benchmark.evaluation.formats`.

Rules: every test case of every scored fold is predicted exactly once, in the fold it is a test case of; ids not in
the split, folds the split does not have, duplicated ids, bad numbers, masks without a row and rows without a mask
are errors. Every check runs before anything is written, and each failure is one :class:`BusbenchError` naming the
file and the rows (the header is row 1) or cases. With ``folds`` given, only those folds are scored: rows of other
folds are still checked, then left out.

The result is a run folder of kind ``"predictions"`` (layout of :mod:`benchmark.results.rundir`):
``fold-<k>/predictions.csv`` (probabilities written with full float precision, so re-reading them gives the very
numbers scored) or ``fold-<k>/masks.npz``, ``metrics.json`` from :func:`score_predictions`, and ``run.json`` with
the keys a trained run has. The folder name is the submission name plus a hash of the predictions' sha256, the
dataset fingerprint, the split file's sha256, the task and the scored folds. ``run.json`` is written last, so a
folder without it is an interrupted evaluation and is written again; a folder with a finished ``run.json`` is kept
as it is (scoring is deterministic, so it would come out the same) and only indexed again.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.classes import TASKS
from benchmark.data.dataset import Dataset
from benchmark.data.images import decode_binary_mask
from benchmark.data.manifest import CsvTable, format_rows, read_csv_table
from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError, list_some
from benchmark.evaluation.formats import SEGMENTATION_CSV, SEGMENTATION_HEADER
from benchmark.evaluation.score import constant_prediction, score_predictions
from benchmark.evaluation.training import trained_text
from benchmark.fileio import atomic_write_json, read_json
from benchmark.metrics.classification import PROB_SUM_TOLERANCE
from benchmark.results.rundir import (
    RunDir,
    config_hash,
    file_sha256,
    prob_columns,
    read_masks,
    write_class_predictions,
    write_masks,
)
from benchmark.results.rundoc import NOT_TRAINED, new_run_doc, now
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.schema import SplitFile
from benchmark.splits.verify import load_split

#: The CSV inside a segmentation predictions folder that says which fold each mask was predicted in.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class EvaluateRequest:
    """What ``busbench evaluate`` was asked to do (see ``busbench evaluate --help``)."""

    predictions: Path
    dataset: str
    splits: Path
    task: str | None = None
    name: str | None = None
    folds: tuple[int, ...] | None = None
    out: Path = Path("runs")
    results_url: str | None = None


@dataclass
class EvaluateOutcome:
    """An evaluation's run folder, status (completed or partial), metrics, and whether it was evaluated before."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    reused: bool


@dataclass(frozen=True)
class _Row:
    line: int
    case_id: str
    fold: int


def _cases_at(rows: Sequence[_Row]) -> str:
    """``"rows 3, 7 (benign-2, normal-1)"``: where the offending rows are and which cases they name."""
    return f"{format_rows([r.line for r in rows])} ({list_some([r.case_id for r in rows])})"


def infer_task(path: Path, task: str | None) -> str:
    """The task of a predictions path: a file holds classification, a folder segmentation predictions.

    Raises:
        BusbenchError: When the path does not exist, the task is unknown, or it contradicts what the path is.
    """
    if not path.exists():
        raise BusbenchError(path, "does not exist (give a predictions CSV file, or a folder of PNG masks)")
    kind = "segmentation" if path.is_dir() else "classification"
    if task is None:
        return kind
    if task not in TASKS:
        raise BusbenchError("--task", f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    if task != kind:
        wanted = "a folder of PNG masks with predictions.csv" if task == "segmentation" else "a CSV file"
        raise BusbenchError(path, f"is a {'folder' if path.is_dir() else 'file'}; {task} predictions are {wanted}")
    return task


def _read_table(path: Path, columns: Sequence[str]) -> CsvTable:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BusbenchError(path, f"cannot be read ({exc.strerror or exc})") from exc
    table = read_csv_table(data, str(path))
    missing = [c for c in columns if c not in table.header]
    if missing:
        raise BusbenchError(path, f"missing column(s) {', '.join(missing)} (the header must name "
                                  f"{','.join(columns)}; found {','.join(table.header) or 'nothing'})")
    if not table.rows:
        raise BusbenchError(path, "has a header but no rows")
    return table


def _parse_rows(table: CsvTable) -> list[_Row]:
    """Case id and fold of every row (each a non-empty id and an integer), in file order."""
    blank = [line for line, cells in table.rows if not cells["case_id"]]
    if blank:
        raise BusbenchError(table.where, f"{format_rows(blank)}: empty case_id")
    rows, bad = [], []
    for line, cells in table.rows:
        try:
            rows.append(_Row(line, cells["case_id"], int(cells["fold"])))
        except ValueError:
            bad.append((line, cells["fold"]))
    if bad:
        raise BusbenchError(table.where, f"{format_rows([b[0] for b in bad])}: fold is not an integer "
                                         f"(first: {bad[0][1]!r})")
    return rows


def _check_cases(rows: list[_Row], split: SplitFile, folds: Sequence[int], where: str) -> list[_Row]:
    """Check ids and folds against the split; return the rows of the scored folds.

    Raises:
        BusbenchError: For duplicated or unknown case ids, folds the split lacks, cases given in another fold than
            their test fold, and test cases of the scored folds without a row (in this order).
    """
    counts = Counter(r.case_id for r in rows)
    repeated = [r for r in rows if counts[r.case_id] > 1]
    if repeated:
        raise BusbenchError(where, f"{_cases_at(repeated)}: case id(s) given more than once")
    unknown = [r for r in rows if r.case_id not in split.cases]
    if unknown:
        raise BusbenchError(where, f"{_cases_at(unknown)}: case id(s) not in the split")
    no_fold = [r for r in rows if not 0 <= r.fold < split.k]
    if no_fold:
        raise BusbenchError(where, f"{_cases_at(no_fold)}: fold {no_fold[0].fold} does not exist; the split has "
                                   f"folds 0..{split.k - 1}")
    test_fold = {c: k for k in range(split.k) for c in split.folds[k].test}
    wrong = [r for r in rows if test_fold[r.case_id] != r.fold]
    if wrong:
        first = wrong[0]
        raise BusbenchError(where, f"{_cases_at(wrong)}: case(s) given in a fold they are not a test case of "
                                   f"(e.g. {first.case_id} is in fold {test_fold[first.case_id]}, given {first.fold})")
    given = {r.case_id for r in rows}
    missing = {k: [c for c in split.folds[k].test if c not in given] for k in folds}
    if any(missing.values()):
        where_missing = "; ".join(f"fold {k}: {list_some(cases)}" for k, cases in missing.items() if cases)
        raise BusbenchError(where, f"{sum(map(len, missing.values()))} test case(s) have no prediction "
                                   f"({where_missing})")
    scored = set(folds)
    return [r for r in rows if r.fold in scored]


def read_class_predictions(path: Path, split: SplitFile, folds: Sequence[int]) -> dict[str, tuple[int, np.ndarray]]:
    """Read and check a classification predictions CSV (format in the module docstring).

    Args:
        path: The CSV file.
        split: The verified split.
        folds: The folds to score; rows of other folds are checked and left out.

    Returns:
        case id -> (fold, probabilities in the split's class order), for the scored folds.

    Raises:
        BusbenchError: Naming the file and the offending rows or cases.
    """
    columns = prob_columns(split.classes)
    table = _read_table(path, ("case_id", "fold", *columns))
    rows = _parse_rows(table)
    probs: dict[int, np.ndarray] = {}
    unparsable, not_finite, out_of_range, off_sum = [], [], [], []
    for row, (_, cells) in zip(rows, table.rows, strict=True):
        try:
            p = np.array([float(cells[c]) for c in columns])
        except ValueError:
            unparsable.append(row)
            continue
        probs[row.line] = p
        if not np.isfinite(p).all():
            not_finite.append(row)
        elif ((p < 0) | (p > 1)).any():
            out_of_range.append(row)
        elif abs(p.sum() - 1.0) > PROB_SUM_TOLERANCE:
            off_sum.append(row)
    where = str(path)
    if unparsable:
        raise BusbenchError(where, f"{_cases_at(unparsable)}: a probability is not a number")
    if not_finite:
        raise BusbenchError(where, f"{_cases_at(not_finite)}: a probability is NaN or infinite")
    if out_of_range:
        raise BusbenchError(where, f"{_cases_at(out_of_range)}: a probability is outside [0, 1]")
    if off_sum:
        first = off_sum[0]
        raise BusbenchError(where, f"{_cases_at(off_sum)}: probabilities do not sum to 1 (tolerance "
                                   f"{PROB_SUM_TOLERANCE}; row {first.line} sums to {probs[first.line].sum():.6g}); "
                                   "give softmax outputs, not logits")
    return {r.case_id: (r.fold, probs[r.line]) for r in _check_cases(rows, split, folds, where)}


def read_mask_predictions(folder: Path, split: SplitFile, dataset: Dataset,
                          folds: Sequence[int]) -> dict[str, tuple[int, np.ndarray]]:
    """Read and check a segmentation predictions folder (format in the module docstring).

    Args:
        folder: The folder of ``<case_id>.png`` masks and ``predictions.csv``.
        split: The verified split.
        dataset: The data the split was verified against (gives each image's original size).
        folds: The folds to score; rows of other folds are checked and left out.

    Returns:
        case id -> (fold, boolean mask at the image's original size), for the scored folds.

    Raises:
        BusbenchError: Naming the file (CSV or mask) and the offending rows or cases.
    """
    csv_path = folder / SEGMENTATION_CSV
    if not csv_path.is_file():
        raise BusbenchError(folder, f"has no {SEGMENTATION_CSV} (a CSV with columns case_id,fold naming the fold "
                                    "each mask was predicted in)")
    rows = _parse_rows(_read_table(csv_path, SEGMENTATION_HEADER))
    pngs = {p.stem: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png"}
    listed = {r.case_id for r in rows}
    orphans = sorted(p.name for stem, p in pngs.items() if stem not in listed)
    if orphans:
        raise BusbenchError(folder, f"{len(orphans)} mask file(s) have no row in {SEGMENTATION_CSV}: "
                                    f"{list_some(orphans)}")
    maskless = [r for r in rows if r.case_id not in pngs]
    if maskless:
        raise BusbenchError(csv_path, f"{_cases_at(maskless)}: no mask file <case_id>.png in {folder}")
    scored = _check_cases(rows, split, folds, str(csv_path))
    facts = dataset.facts()
    masks: dict[str, tuple[int, np.ndarray]] = {}
    wrong_size: list[str] = []
    # Every mask is decoded, scored fold or not, so a corrupt file is reported whichever folds are asked for.
    for row in rows:
        path = pngs[row.case_id]
        mask = decode_binary_mask(path.read_bytes(), str(path))
        expected = (facts[row.case_id].height, facts[row.case_id].width)
        if mask.shape != expected:
            wrong_size.append(f"{path.name} is {mask.shape[0]}x{mask.shape[1]}, its image "
                              f"{expected[0]}x{expected[1]}")
        masks[row.case_id] = (row.fold, mask)
    if wrong_size:
        raise BusbenchError(folder, f"{len(wrong_size)} mask(s) are not at their image's original size (height x "
                                    f"width): {'; '.join(wrong_size[:8])}"
                                    + (f"; and {len(wrong_size) - 8} more" if len(wrong_size) > 8 else ""))
    return {r.case_id: masks[r.case_id] for r in scored}


def predictions_sha256(path: Path, task: str) -> str:
    """sha256 identifying the predictions as handed in.

    A classification CSV: the file's sha256. A segmentation folder: the sha256 of the ``sha256sum``-style listing
    of ``predictions.csv`` and every ``.png`` in it (one line ``<sha256>  <name>`` per file, sorted by name, each
    ending in a newline).
    """
    if task == "classification":
        return file_sha256(path)
    files = sorted((p for p in path.iterdir() if p.is_file() and (p.name == SEGMENTATION_CSV
                                                                  or p.suffix.lower() == ".png")),
                   key=lambda p: p.name)
    listing = "".join(f"{file_sha256(p)}  {p.name}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def submission_name(req: EvaluateRequest) -> str:
    """The name the results are shown under: ``--name``, else the predictions file (or folder) stem, made safe.

    Raises:
        BusbenchError: When ``--name`` is not a safe folder name.
    """
    if req.name is not None:
        if not _SAFE_NAME.fullmatch(req.name):
            raise BusbenchError("--name", f"{req.name!r} must be letters, digits, '.', '_' or '-' (starting with a "
                                          "letter or digit): it names the run folder")
        return req.name
    stem = req.predictions.resolve().stem if req.predictions.is_file() else req.predictions.resolve().name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "predictions"


def read_run_predictions(rd: RunDir, task: str, split: SplitFile, folds: Sequence[int]) -> dict[str, tuple[int, Any]]:
    """The per-fold predictions of a run folder (trained or predictions-only), read through the strict readers."""
    out: dict[str, tuple[int, Any]] = {}
    for k in folds:
        if task == "classification":
            out.update(read_class_predictions(rd.fold_dir(k) / "predictions.csv", split, [k]))
        else:
            out.update({cid: (k, m) for cid, m in read_masks(rd.fold_dir(k) / "masks.npz").items()})
    return out


def headline_text(metrics: dict[str, Any], run_dir: Path | None = None) -> str:
    """The headline line printed after scoring, as ``busbench run`` prints it: ``"dice: 0.8123 (95% CI ...)"``.

    A classifier that predicted one class for every case gets that said on the same line. Given the run folder of
    a trained run, so do its budget and its convergence flags (:mod:`benchmark.evaluation.training`).
    """
    h = metrics["headline"]

    def num(v: Any) -> str:
        return "undefined" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

    only = constant_prediction(metrics)
    collapsed = f"; the model predicted {only} for every case" if only else ""
    run = RunDir(run_dir).read_run() if run_dir is not None else None
    trained = f"; {trained_text(run, metrics, run_dir)}" if isinstance(run, dict) else ""
    return f"{h['metric']}: {num(h['value'])} (95% CI {num(h['ci_low'])}-{num(h['ci_high'])}){collapsed}{trained}"


def _load_json(path: Path) -> dict[str, Any]:
    return read_json(path)


def evaluate_predictions(req: EvaluateRequest) -> EvaluateOutcome:
    """Check, score and record predictions made outside busbench (see module docstring).

    Returns:
        The outcome; its ``metrics`` are the ``metrics.json`` document.

    Raises:
        BusbenchError: On any problem with the inputs; nothing is written then.
    """
    task = infer_task(req.predictions, req.task)
    name = submission_name(req)
    dataset = open_dataset(req.dataset)
    if task == "segmentation" and not dataset.has_masks:
        raise BusbenchError(dataset.name, "has no masks; segmentation predictions cannot be scored on it")
    split = load_split(req.splits, dataset)
    folds = split.chosen_folds(req.folds)
    if not folds:
        raise BusbenchError("--folds", "names no fold")
    sha = predictions_sha256(req.predictions, task)
    split_sha = file_sha256(req.splits)
    identity = {"kind": "predictions", "task": task, "predictions": sha, "dataset": dataset.fingerprint(),
                "split": split_sha, "folds": folds}
    rd = RunDir(req.out / f"{name}-{config_hash(identity)}")
    url = req.results_url or default_store_url(req.out)
    previous = rd.read_run()
    if previous is not None and previous.get("status") in ("completed", "partial") and rd.metrics_json.exists():
        recorded = (previous.get("predictions") or {}).get("sha256"), (previous.get("split") or {}).get("sha256")
        if recorded != (sha, split_sha):
            raise BusbenchError(rd.run_json, "records other predictions or another split than these; move the "
                                             "folder away to evaluate again")
        metrics = _load_json(rd.metrics_json)
        with ResultsStore(url) as store:
            store.index_run(rd.path)
        return EvaluateOutcome(rd.path, previous["status"], metrics, reused=True)

    if task == "classification":
        predictions = read_class_predictions(req.predictions, split, folds)
    else:
        predictions = read_mask_predictions(req.predictions, split, dataset, folds)
    where = str(req.predictions / SEGMENTATION_CSV if task == "segmentation" else req.predictions)
    metrics = score_predictions(task, split, dataset, predictions, folds=folds, where=where)
    with ResultsStore(url) as store:  # made before the first write: a bad URL leaves nothing behind
        if task == "classification":
            for k in folds:
                write_class_predictions(rd.fold_dir(k) / "predictions.csv",
                                        [(c, f, p) for c, (f, p) in predictions.items() if f == k], split.classes)
        else:
            for k in folds:
                write_masks(rd.fold_dir(k) / "masks.npz", {c: m for c, (f, m) in predictions.items() if f == k})
        atomic_write_json(rd.metrics_json, metrics)
        status = "completed" if metrics["complete"] else "partial"
        doc = new_run_doc(
            rd.path.name, "predictions", task=task, submission={"name": name, "task": task, "source": "predictions"},
            training=NOT_TRAINED, dataset=dataset.provenance(req.dataset),
            split=split.provenance(str(req.splits), split_sha), identity=None, code=None, compute=None,
            predictions={"path": str(req.predictions),
                         "format": "csv" if task == "classification" else f"png masks + {SEGMENTATION_CSV}",
                         "sha256": sha,
                         "n_cases": {str(k): sum(1 for f, _ in predictions.values() if f == k) for k in folds}},
            scored_folds=folds)
        doc.update({"errors": {}, "status": status, "finished": now()})
        # run.json goes last: a folder without it is an interrupted evaluation, written again next time.
        rd.write_run(doc)
        store.index_run(rd.path)
    return EvaluateOutcome(rd.path, status, metrics, reused=False)
