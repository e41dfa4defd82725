"""Start-up time of the ``busbench`` command: what a user waits for before anything happens.

Usage::

    .venv/bin/python benchmarks/bench_cli.py [--repeats 7]

Times whole processes, as a shell starts them (``.venv/bin/busbench ...``), median of ``--repeats`` runs each after
one untimed warm-up run (so the operating system's file cache and the submission catalog are warm, as on every run
but the first after a change): ``--version``, ``--help``, a command's own ``--help``, ``busbench list``, a
misspelled model name (exit status 2), and bare ``python -c pass`` for the floor. Targets (issue 19): ``--help`` and
``--version`` at most 0.3 s, the others at most 1 s. Prints the machine's core count and load average, which
decide these figures as much as the code does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUSBENCH = str(Path(sys.executable).with_name("busbench"))

CASES = [
    ("python -c pass (floor)", [sys.executable, "-c", "pass"], 0),
    ("busbench --version", [BUSBENCH, "--version"], 0),
    ("busbench --help", [BUSBENCH, "--help"], 0),
    ("busbench run --help", [BUSBENCH, "run", "--help"], 0),
    ("busbench list", [BUSBENCH, "list"], 0),
    ("busbench run <misspelled name>", [BUSBENCH, "run", "small_cnnn", "--dataset", "x", "--splits", "y"], 2),
]


def timed(argv: list[str], status: int) -> float:
    """Seconds one process takes; fails if it exits with another status than expected."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != status:
        raise SystemExit(f"{' '.join(argv)}: exit status {done.returncode}, expected {status}: {done.stderr[-500:]!r}")
    return seconds


def main() -> int:
    """Time each case; print every time and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    cases = []
    for label, argv, status in CASES:
        timed(argv, status)  # warm-up: file cache, and the submission catalog built if the plugins changed
        times = [timed(argv, status) for _ in range(args.repeats)]
        print(f"{label:<34} median {statistics.median(times):.2f} s  ({', '.join(f'{t:.2f}' for t in times)})")
        cases.append({"label": label, "median": statistics.median(times), "times": times})
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"repeats": args.repeats, "cases": cases}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
