"""What each published run cost: seconds per epoch and minutes per run, from the runs' own records.

Usage: ``python benchmarks/seed_run_costs.py [--results leaderboard/results] [--pattern GLOB]... [--audit]``

Reads ``run.json`` and ``fold-*/result.json`` of every published run whose submission matches a pattern (default:
the seed papers' submissions, names like ``cheyi2024_cnn``) and prints a Markdown table for BENCHMARKS.md:
parameters, input size, epochs, weights, device and threads, the median seconds per epoch over all folds, training
images per second (a fold's training images over its median epoch, validation included), the run's total wall time
and the largest fold's peak memory (host resident memory on CPU, GPU memory on CUDA; "-" for runs made before
busbench recorded it). ``--audit`` lists protocol-audit runs instead (each named with its protocol; a lucky split's
draws are its folds). The figures are whatever the machine gave the run
(state in BENCHMARKS.md what else ran beside it); they plan budgets, they do not rank models.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
from pathlib import Path


def run_costs(results: Path, patterns: tuple[str, ...] = ("*20??_*",), *,
              audit: bool = False) -> list[dict[str, object]]:
    """One row per published run whose submission name matches one of ``patterns``, sorted by submission name.

    With ``audit``, the protocol-audit runs instead of the trained ones, named ``submission (protocol)``.
    """
    rows = []
    for run_json in sorted(results.glob("*/run.json")):
        run = json.loads(run_json.read_text())
        name = run["submission"]["name"]
        if not any(fnmatch.fnmatch(name, p) for p in patterns) or run.get("status") != "completed" \
                or bool(run.get("protocol")) != audit:
            continue
        if audit:
            name = f"{name} ({run['protocol']['name']})"
        results_of = [*run_json.parent.glob("fold-*/result.json"), *run_json.parent.glob("draw-*/fold-*/result.json")]
        folds = [json.loads(f.read_text()) for f in sorted(results_of)]
        epochs = [h["seconds"] for f in folds for h in f.get("history", [])]
        rates = [f["n_train"] / statistics.median(h["seconds"] for h in f["history"]) for f in folds
                 if f.get("history") and f.get("n_train")]
        gpu = str(run["compute"]["device"]).startswith("cuda")
        rows.append({
            "submission": name, "params": run.get("params"), "image_size": run["image_size"],
            "epochs": run["epochs"], "device": run["compute"]["device"], "threads": run["compute"]["threads"],
            "precision": run["compute"]["precision"],
            "s_per_epoch": statistics.median(epochs) if epochs else None,
            "minutes": sum(f["seconds"] for f in run["folds"].values()) / 60,
            "peak_mib": max((f["memory"].get("gpu_mib" if gpu else "host_mib") or 0 for f in run["folds"].values()
                             if "memory" in f), default=None),
            "weights": "ImageNet" if run.get("pretrained") else "scratch",
            "images_per_s": statistics.median(rates) if rates else None,
            "device_name": run["compute"].get("device_name", ""),
        })
    return sorted(rows, key=lambda r: str(r["submission"]))


def markdown(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| submission | parameters | input | epochs | weights | device, precision, threads | s / epoch (median) "
             "| training img/s | run, all folds (min) | peak memory (MiB) |",
             "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in rows:
        params = f"{r['params'] / 1e6:.2f} M" if r["params"] else "-"
        per_epoch = f"{r['s_per_epoch']:.1f}" if r["s_per_epoch"] is not None else "-"
        rate = f"{r['images_per_s']:.1f}" if r["images_per_s"] is not None else "-"
        peak = f"{r['peak_mib']:,.0f}" if r["peak_mib"] else "-"
        device = f"{r['device']} ({r['device_name']})" if str(r["device"]).startswith("cuda") else r["device"]
        lines.append(f"| `{r['submission']}` | {params} | {r['image_size']} px | {r['epochs']} | {r['weights']} | "
                     f"{device}, {r['precision']}, {r['threads']} | {per_epoch} | {rate} | {r['minutes']:.1f} | "
                     f"{peak} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("leaderboard/results"))
    parser.add_argument("--pattern", action="append", help="submission names (glob; repeat; default '*20??_*')")
    parser.add_argument("--audit", action="store_true", help="the protocol-audit runs instead of the trained ones")
    args = parser.parse_args()
    print(markdown(run_costs(args.results, tuple(args.pattern or ("*20??_*",)), audit=args.audit)))


if __name__ == "__main__":
    main()
