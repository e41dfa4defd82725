"""What each published seed-paper run cost: seconds per epoch and minutes per run, from the runs' own records.

Usage: ``python benchmarks/seed_run_costs.py [--results leaderboard/results]``

Reads ``run.json`` and ``fold-*/result.json`` of every published run of a seed-paper submission (names like
``cheyi2024_cnn``) and prints a Markdown table for BENCHMARKS.md: parameters, input size, epochs, device and
threads, the median seconds per epoch over all folds, the run's total wall time and the largest fold's peak
resident memory ("-" for runs made before busbench recorded it). The figures are whatever the machine gave the run
(state in BENCHMARKS.md what else ran beside it); they plan budgets, they do not rank models.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
from pathlib import Path


def run_costs(results: Path, pattern: str = "*20??_*") -> list[dict[str, object]]:
    """One row per published run whose submission name matches ``pattern``, sorted by submission name."""
    rows = []
    for run_json in sorted(results.glob("*/run.json")):
        run = json.loads(run_json.read_text())
        name = run["submission"]["name"]
        if not fnmatch.fnmatch(name, pattern) or run.get("status") != "completed" or run.get("protocol"):
            continue
        epochs = [h["seconds"] for f in sorted(run_json.parent.glob("fold-*/result.json"))
                  for h in json.loads(f.read_text()).get("history", [])]
        rows.append({
            "submission": name, "params": run.get("params"), "image_size": run["image_size"],
            "epochs": run["epochs"], "device": run["compute"]["device"], "threads": run["compute"]["threads"],
            "precision": run["compute"]["precision"],
            "s_per_epoch": statistics.median(epochs) if epochs else None,
            "minutes": sum(f["seconds"] for f in run["folds"].values()) / 60,
            "peak_mib": max((f["memory"]["host_mib"] for f in run["folds"].values() if "memory" in f), default=None),
        })
    return sorted(rows, key=lambda r: str(r["submission"]))


def markdown(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| submission | parameters | input | epochs | device, precision, threads | s / epoch (median) | "
             "run, 5 folds (min) | peak memory (MiB) |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        params = f"{r['params'] / 1e6:.2f} M" if r["params"] else "-"
        per_epoch = f"{r['s_per_epoch']:.1f}" if r["s_per_epoch"] is not None else "-"
        peak = f"{r['peak_mib']:,.0f}" if r["peak_mib"] is not None else "-"
        lines.append(f"| `{r['submission']}` | {params} | {r['image_size']} px | {r['epochs']} | {r['device']}, "
                     f"{r['precision']}, {r['threads']} | {per_epoch} | {r['minutes']:.1f} | {peak} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("leaderboard/results"))
    args = parser.parse_args()
    print(markdown(run_costs(args.results)))


if __name__ == "__main__":
    main()
