"""Time generation of the default phantom set (780 BUSI-sized images) and print the figure.

Usage: ``python benchmarks/bench_synthetic.py [--n 780] [--size none|S] [--workers W]``. Writes into a temporary
folder that is removed afterwards; prints seconds, images per second and the size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmark.data.synthetic import SyntheticConfig, generate


def main() -> None:
    """Generate one phantom set into a temporary folder and print how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=780)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="none", help="'none' for BUSI-like sizes, or the longer side in pixels")
    parser.add_argument("--workers", type=int, default=None, help="worker threads (default: the generator's)")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    config = SyntheticConfig(n=args.n, seed=args.seed, size=None if args.size == "none" else int(args.size))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = generate(config, Path(tmp) / "set", workers=args.workers)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        shutil.rmtree(root)
    print(
        f"generated {config.n} images ({'BUSI-like sizes' if config.size is None else f'size {config.size}'}) "
        f"in {seconds:.1f} s = {config.n / seconds:.0f} images/s on {os.cpu_count()} CPUs; {size / 1e6:.0f} MB"
    )
    if args.json:
        doc = {"n": config.n, "size": config.size, "workers": args.workers, "cpus": os.cpu_count(),
               "seconds": seconds, "megabytes": size / 1e6}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
