"""Reading a split published elsewhere (a CSV of file names and their part) so that its leakage can be audited.

Format: a CSV with a header row (UTF-8; column names and part values are matched case-insensitively):

* a file column, the first of ``filename``, ``file``, ``image``, ``image_path``, ``path``, ``case_id``, ``id``
  present: a file name with or without folder and extension (``benign (12).png``, ``Dataset_BUSI_with_GT/benign/
  benign (12).png``) or a busbench case id (``benign-12``); it is mapped to a case id by
  ``case_id_from_name`` of its stem;
* a part column, the first of ``split``, ``part``, ``subset``, ``set``, ``fold`` present: ``train``/``training``,
  ``val``/``valid``/``validation``/``dev`` or ``test``/``testing``.

The whole file is one fold: its test part is audited against its train and val parts together. Cases of the
dataset the file does not list are in no part (published splits often leave some out; their number is reported).
Errors (each one :class:`BusbenchError` naming the file and the rows, the header being row 1): missing columns,
no rows, a file that is no case of the dataset, a case listed twice, an unknown part value, no test row or no
training row.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchmark.data.case import case_id_from_name
from benchmark.data.csvtable import format_rows, read_csv_table
from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError, list_some

FILE_COLUMNS = ("filename", "file", "image", "image_path", "path", "case_id", "id")
PART_COLUMNS = ("split", "part", "subset", "set", "fold")
PART_VALUES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test", "testing": "test"}


@dataclass(frozen=True)
class ExternalSplit:
    """One published split: its parts as case ids, and the dataset cases it does not list."""

    path: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    unlisted: tuple[str, ...]


def _case_id(text: str) -> str:
    name = PurePosixPath(text.replace("\\", "/")).name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return case_id_from_name(stem)


def read_split_csv(path: str | os.PathLike[str], dataset: Dataset) -> ExternalSplit:
    """Read and check a published split CSV against ``dataset`` (format in the module docstring).

    Raises:
        BusbenchError: Naming the file and the offending rows.
    """
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BusbenchError(where, f"cannot be read ({exc.strerror or exc})") from exc
    table = read_csv_table(data, where)
    file_col = next((c for c in FILE_COLUMNS if c in table.header), None)
    part_col = next((c for c in PART_COLUMNS if c in table.header), None)
    if file_col is None or part_col is None:
        wanted = "a file column (" + "/".join(FILE_COLUMNS) + ")" if file_col is None else \
            "a part column (" + "/".join(PART_COLUMNS) + ")"
        raise BusbenchError(where, f"missing {wanted}; found {','.join(table.header) or 'nothing'}")
    if not table.rows:
        raise BusbenchError(where, "has a header but no rows")
    known = {c.case_id for c in dataset.cases}
    rows_of: dict[str, list[int]] = defaultdict(list)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    unknown, bad_part = [], []
    for line, cells in table.rows:
        cid = _case_id(cells[file_col])
        part = PART_VALUES.get(cells[part_col].lower())
        if cid not in known:
            unknown.append((line, cells[file_col]))
        if part is None:
            bad_part.append((line, cells[part_col]))
        rows_of[cid].append(line)
        if cid in known and part is not None:
            parts[part].append(cid)
    if unknown:
        raise BusbenchError(where, f"{format_rows([u[0] for u in unknown])}: not a case of {dataset.name} "
                                   f"({list_some([u[1] for u in unknown], 4)})")
    if bad_part:
        raise BusbenchError(where, f"{format_rows([b[0] for b in bad_part])}: unknown part "
                                   f"{bad_part[0][1]!r} (expected train, val or test)")
    twice = {cid: lines for cid, lines in rows_of.items() if len(lines) > 1}
    if twice:
        lines = sorted(n for ls in twice.values() for n in ls)
        raise BusbenchError(where, f"{format_rows(lines)}: case(s) listed more than once ({list_some(list(twice), 4)})")
    if not parts["test"] or not parts["train"] + parts["val"]:
        raise BusbenchError(where, f"has no {'test' if not parts['test'] else 'train or val'} rows")
    listed = set(rows_of)
    unlisted = tuple(sorted(c.case_id for c in dataset.cases if c.case_id not in listed))
    train, val, test = (tuple(sorted(parts[p])) for p in ("train", "val", "test"))
    return ExternalSplit(where, train, val, test, unlisted)
