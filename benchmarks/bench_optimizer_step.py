"""Time of one Adam step on CPU for torch's three implementations: per-tensor loop, foreach, fused.

Usage: ``python benchmarks/bench_optimizer_step.py [--threads 1] [--repeats 3]``

The parameters are AlexNet's two hidden dense layers (9216x4096 and 4096x4096, 54.5 M weights), the part of a
large-head classifier where the optimiser step outweighs the convolutions on a CPU. ``benchmark.training.recipes.adam``
uses the fused kernel; this measures why. Figures go to BENCHMARKS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def seconds_per_step(implementation: dict[str, bool], repeats: int, times: list[float] | None = None) -> float:
    """Median seconds of one Adam step over ``repeats`` steps, after one warm-up step that creates the state.

    Every step's seconds are appended to ``times`` when it is given.
    """
    params = [torch.nn.Parameter(torch.randn(4096, 9216)), torch.nn.Parameter(torch.randn(4096, 4096))]
    for p in params:
        p.grad = torch.randn_like(p)
    optimiser = torch.optim.Adam(params, lr=1e-4, **implementation)
    optimiser.step()
    times = [] if times is None else times
    for _ in range(repeats):
        start = time.perf_counter()
        optimiser.step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    """Print seconds per step for each implementation."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'implementation':<16}{'s / step':>10}   (54.5 M parameters, {args.threads} thread(s))")
    rows = []
    for label, implementation in (("per-tensor loop", {"foreach": False}), ("foreach", {"foreach": True}),
                                  ("fused", {"fused": True})):
        times: list[float] = []
        median = seconds_per_step(implementation, args.repeats, times)
        print(f"{label:<16}{median:>10.3f}")
        rows.append({"implementation": label, "median": median, "times": times})
    if args.json:
        doc = {"threads": args.threads, "repeats": args.repeats, "parameters": 54.5e6, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
