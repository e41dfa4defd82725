"""Seconds each test file took, kept in ``tests/durations.json`` so that the heaviest files start first.

pytest-xdist's ``--dist loadfile`` hands test files to the workers in collection order; a long file handed out last
keeps one worker busy while the others have finished. ``tests/conftest.py`` orders the files by these figures, longest
first (any order is correct; this one finishes soonest). Refresh them from a whole run's durations::

    .venv/bin/python -m pytest -q --durations=0 > report.txt; .venv/bin/python -m tests.durations report.txt
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from benchmark.fileio import atomic_write_json

FILE = Path(__file__).with_name("durations.json")
_LINE = re.compile(r"^\s*([\d.]+)s (?:call|setup|teardown)\s+(tests/\S+?\.py)::")


def file_seconds(report: str) -> dict[str, float]:
    """Seconds per test file (calls, setups and teardowns) in a ``pytest --durations=0`` report."""
    seconds: Counter[str] = Counter()
    for line in report.splitlines():
        if match := _LINE.match(line):
            seconds[match.group(2)] += float(match.group(1))
    return {name: round(value, 1) for name, value in sorted(seconds.items())}


def load() -> dict[str, float]:
    """The stored figures (none when the file is missing or unreadable: the order is then collection order)."""
    try:
        return {str(k): float(v) for k, v in json.loads(FILE.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def main(argv: list[str]) -> int:
    """Write ``tests/durations.json`` from the report named in ``argv``."""
    if len(argv) != 1:
        print("usage: python -m tests.durations REPORT (pytest --durations=0 output)", file=sys.stderr)
        return 2
    try:
        seconds = file_seconds(Path(argv[0]).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{argv[0]}: cannot read the report ({exc})", file=sys.stderr)
        return 1
    if not seconds:
        print(f"{argv[0]}: no durations found (run pytest with --durations=0)", file=sys.stderr)
        return 1
    atomic_write_json(FILE, seconds)  # the old figures stay whole until the new ones are
    print(f"{FILE}: {len(seconds)} files, {sum(seconds.values()):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
