"""Reading and checking predictions files: a classification CSV, a segmentation folder, a run folder's predictions.

The formats are :mod:`benchmark.evaluation.formats`; ``busbench evaluate`` (:mod:`benchmark.evaluation.evaluate`)
scores what these readers return, and every command that reads a run folder's predictions again uses them too.

Rules: every test case of every scored fold is predicted exactly once, in the fold it is a test case of; ids not in
the split, folds the split does not have, duplicated ids, bad numbers, masks without a row and rows without a mask
are errors. Each failure is one :class:`BusbenchError` naming the file and the rows (the header is row 1) or cases.
With ``folds`` given, only those folds are returned: rows of other folds are still checked, then left out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.classes import TASKS
from benchmark.data.csvtable import CsvTable, format_rows, read_csv_table
from benchmark.data.dataset import Dataset
from benchmark.data.images import decode_binary_mask
from benchmark.errors import BusbenchError, list_some
from benchmark.evaluation.formats import SEGMENTATION_CSV, SEGMENTATION_HEADER
from benchmark.metrics.classification import PROB_SUM_TOLERANCE
from benchmark.results.rundir import RunDir, file_sha256, prob_columns, read_masks
from benchmark.splits.schema import SplitFile


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
    """Read and check a classification predictions CSV (format in :mod:`benchmark.evaluation.formats`).

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
    """Read and check a segmentation predictions folder (format in :mod:`benchmark.evaluation.formats`).

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


def read_run_predictions(rd: RunDir, task: str, split: SplitFile, folds: Sequence[int]) -> dict[str, tuple[int, Any]]:
    """The per-fold predictions of a run folder (trained or predictions-only), read through the strict readers."""
    out: dict[str, tuple[int, Any]] = {}
    for k in folds:
        if task == "classification":
            out.update(read_class_predictions(rd.fold_dir(k) / "predictions.csv", split, [k]))
        else:
            out.update({cid: (k, m) for cid, m in read_masks(rd.fold_dir(k) / "masks.npz").items()})
    return out
