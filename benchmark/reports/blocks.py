"""Generated blocks of the README: Markdown between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

A report (``busbench report seeds``, ``busbench report references``) owns one block: ``--write README.md`` replaces
it atomically, ``--check README.md`` says whether it is current, and the test suite runs the check, so a table in
the README is always what the committed runs give.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_text


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BusbenchError(path, f"cannot be read: {exc}") from exc


def split_block(text: str, name: str, where: Path) -> tuple[str, str, str]:
    """``(head, block, tail)`` of ``text`` around block ``name``.

    Raises:
        BusbenchError: Unless the text holds exactly one begin marker followed by exactly one end marker.
    """
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise BusbenchError(where, f"needs exactly one {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    block, tail = rest.split(end, 1)
    return head, block, tail


def block_is_current(readme: Path, name: str, markdown: str) -> bool:
    """Whether the README's block ``name`` is exactly ``markdown``."""
    _, block, _ = split_block(_read_text(readme), name, readme)
    return block == "\n" + markdown


def write_block(readme: Path, name: str, markdown: str) -> None:
    """Replace the README's block ``name`` with ``markdown``, atomically."""
    head, _, tail = split_block(_read_text(readme), name, readme)
    begin, end = markers(name)
    atomic_write_text(readme, f"{head}{begin}\n{markdown}{end}{tail}")
