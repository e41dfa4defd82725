"""Training speed and peak memory on CPU with and without freed-memory reuse (``engine.host_memory``).

Usage: ``python benchmarks/bench_host_memory.py [--models dajam2025_vgg16 li2025_alexnet cheyi2024_resnet50]
[--size 64] [--threads 1] [--steps 10]``

The setting is process-wide and cannot be undone, so each measurement is its own process, with
``BUSBENCH_KEEP_FREED_MEMORY`` set to 0 or 1. Each times ``--steps`` training steps after two warm-up steps with
``bench_training``'s loop, at the submission's own batch size and the run default precision, and reports the
process's peak resident memory. Figures go to BENCHMARKS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(name: str, size: int, threads: int, steps: int) -> None:
    """Measure one model in this process and print ``images/s peak_MiB batch precision``."""
    from bench_training import images_per_second

    from benchmark.engine.device import resolve_compute
    from benchmark.plugins import create

    batch = int(create(name).hparams["batch_size"])
    precision = resolve_compute("cpu", "auto", threads).precision
    rate = images_per_second(name, size, precision, threads, batch, steps)
    print(f"{rate:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {batch} {precision}")


def main() -> None:
    """Print a table of images/s and peak memory per model, with the setting off and on."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["dajam2025_vgg16", "li2025_alexnet", "cheyi2024_resnet50"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.threads, args.steps)
        return
    print(f"{'model':<22}{'batch':>6}{'precision':>10}{'reuse':>7}{'img/s':>9}{'peak MiB':>10}   "
          f"({args.size} px, {args.threads} thread(s))")
    rows = []
    for name in args.models:
        for switch in ("0", "1"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--size", str(args.size), "--threads", str(args.threads),
                 "--steps", str(args.steps)],
                capture_output=True, text=True, check=True, env={**os.environ, "BUSBENCH_KEEP_FREED_MEMORY": switch},
            ).stdout.split()
            rate, peak, batch, precision = out[-4:]
            print(f"{name:<22}{batch:>6}{precision:>10}{'on' if switch == '1' else 'off':>7}{rate:>9}{peak:>10}")
            rows.append({"model": name, "size": args.size, "batch": int(batch), "precision": precision,
                         "reuse": switch == "1", "images_per_s": float(rate), "peak_mib": float(peak)})
    if args.json:
        doc = {"threads": args.threads, "steps": args.steps, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
