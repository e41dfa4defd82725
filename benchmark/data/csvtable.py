"""CSV tables with a header row, read strictly: the reader behind manifests and third-party metadata files.

:func:`read_csv_table` gives every row with its row number (the header is row 1, as a spreadsheet shows it) and
refuses, with one message naming the file and the row, what would otherwise be read wrongly in silence: bytes that
are not UTF-8, malformed CSV, a repeated column name, a row with more cells than the header, and a spreadsheet's
export separated by ``;``, a tab or ``|``. Column names are stripped and lower-cased, cells stripped, blank lines
skipped and short rows padded with empty cells. What the columns mean is the caller's business (the manifest
format is :mod:`benchmark.data.manifest`'s).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from benchmark.errors import BusbenchError


@dataclass(frozen=True)
class CsvTable:
    """A parsed CSV file: lower-cased header names and the non-blank rows.

    Attributes:
        where: The file, as named in messages.
        header: Column names, stripped and lower-cased (empty names of trailing separators dropped).
        rows: ``(row_number, {column: stripped cell})``; row numbers count the header as row 1.

    """

    where: str
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]


def format_rows(numbers: Sequence[int], most: int = 8) -> str:
    """Format row numbers for a message: ``"rows 4, 9"``, ``"row 3"`` or ``"rows 2, 3, ... and 5 more"``."""
    ordered = sorted(numbers)
    shown = ", ".join(str(n) for n in ordered[:most])
    rest = len(ordered) - most
    return ("row " if len(ordered) == 1 else "rows ") + shown + (f" and {rest} more" if rest > 0 else "")


def read_csv_table(data: bytes, where: str, *, lenient_encoding: bool = False, delimiter: str = ",") -> CsvTable:
    """Parse CSV bytes with a header row into a :class:`CsvTable`.

    Args:
        data: The file content.
        where: How to name the file in messages.
        lenient_encoding: Read bytes that are not UTF-8 as Latin-1 instead of failing (for third-party files
            whose columns of interest are ASCII anyway).
        delimiter: The cell separator. With the default ``,`` a header that is one cell holding ``;``, a tab or
            ``|`` is refused as a spreadsheet export in another locale.

    Raises:
        BusbenchError: If the file is not UTF-8 (unless lenient), is malformed CSV, has no header row, repeats a
            column name, or has a row with more cells than the header.

    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not lenient_encoding:
            raise BusbenchError(
                where, f"cannot be decoded as UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 CSV"
            ) from exc
        text = data.decode("latin-1")
    if "\x00" in text:
        # A NUL byte means a binary file (or UTF-16) was given where a CSV was expected.
        raise BusbenchError(where, "is not a text CSV file (it contains NUL bytes; UTF-16 is not supported)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            stripped = [c.strip() for c in cells]
            if not any(stripped):
                continue
            if header is None:
                header = [c.lower() for c in stripped]
                named = [c for c in header if c]
                repeated = sorted({c for c in named if named.count(c) > 1})
                if repeated:
                    raise BusbenchError(where, f"column {repeated[0]!r} appears more than once in the header")
                separator = next((s for s in ";\t|" if delimiter == "," and len(named) == 1 and s in named[0]),
                                 None)
                if separator is not None:  # a spreadsheet's export in a locale with decimal commas
                    raise BusbenchError(where, f"is separated by {separator!r}, not by commas; save it as CSV with "
                                               "',' between cells and '.' as the decimal mark")
                continue
            extra = [c for c in stripped[len(header):] if c]
            extra += [v for name, v in zip(header, stripped, strict=False) if not name and v]
            if extra:
                raise BusbenchError(
                    where, f"row {reader.line_num}: has more cells than the header names ({extra[0]!r} is unnamed)"
                )
            padded = (stripped + [""] * len(header))[: len(header)]  # short rows: missing cells are empty
            rows.append((reader.line_num, {name: value for name, value in zip(header, padded, strict=True) if name}))
    except csv.Error as exc:
        raise BusbenchError(where, f"is not valid CSV (row {reader.line_num}: {exc})") from exc
    if header is None:
        raise BusbenchError(where, "is empty (no header row)")
    return CsvTable(where, tuple(c for c in header if c), rows)
