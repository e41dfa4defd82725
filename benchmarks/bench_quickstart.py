"""Wall time of ``busbench quickstart``, the README's first command after the install: cold and warm.

Usage::

    .venv/bin/python benchmarks/bench_quickstart.py [--cold 3] [--warm 3]

* cold: a fresh busbench cache (``$BUSBENCH_CACHE_DIR``: the 780 synthetic phantoms are generated and decoded, the
  submission catalog is built) and a fresh ``--out``: everything the command does on a new machine after the
  install;
* warm: the cache kept from a cold run, a fresh ``--out``: the data is read back, the split is made again and every
  fold trains again.

Each run is a whole ``busbench quickstart`` process (as the README runs it), median of the repeats; the target
(issue 19) is at most 30 s cold on 2 cores. Prints the machine's core count and load average: a busy machine slows
the training folds most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUSBENCH = str(Path(sys.executable).with_name("busbench"))


def quickstart(cache: Path, out: Path) -> float:
    """Seconds one ``busbench quickstart`` takes with this cache and output folder."""
    env = {**os.environ, "BUSBENCH_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    done = subprocess.run([BUSBENCH, "quickstart", "--out", str(out)], cwd=REPO, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"quickstart failed ({done.returncode}): {done.stderr[-800:]}")
    return seconds


def main() -> int:
    """Run the cold and warm quickstarts; print every time and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as tmp:
        root = Path(tmp)
        cold = [quickstart(root / f"cache-{i}", root / f"cold-{i}") for i in range(args.cold)]
        warm = [quickstart(root / "cache-0", root / f"warm-{i}") for i in range(args.warm)]
    for label, times in (("cold", cold), ("warm", warm)):
        if times:
            print(f"quickstart {label}: median {statistics.median(times):.1f} s "
                  f"({', '.join(f'{t:.1f}' for t in times)})")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        doc = {label: {"median": statistics.median(times) if times else None, "times": times}
               for label, times in (("cold", cold), ("warm", warm))}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
