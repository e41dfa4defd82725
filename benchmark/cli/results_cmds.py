"""``busbench results``: list, reindex, publish, verify and export runs.

Publishing copies a finished run's small files for the leaderboard; verifying scores a run again from its stored
predictions and checks its ``metrics.json``; exporting writes a task's boards as the leaderboard ranks them, as CSV,
a LaTeX table or BibTeX (:mod:`leaderboard.export`, which needs the checkout's ``leaderboard`` folder and the
``leaderboard`` extra).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmark.cli.leaderboard_cmds import leaderboard_module
from benchmark.errors import BusbenchError

#: What a published run keeps: provenance, scores and per-fold predictions (probabilities, or masks as packed bits,
#: about 0.2 MB a fold on BUSI), so that anyone can re-score it, and a tuned run's study reports (its tuning
#: history, which the study storage holds but a published run cannot reach); never weights or checkpoints.
PUBLISHED = ("run.json", "metrics.json", "split.json", "fold-*/result.json", "fold-*/predictions.csv",
             "fold-*/external.csv", "fold-*/masks.npz", "fold-*/tuning.json", "draw-*/run.json", "draw-*/metrics.json",
             "draw-*/split.json",
             "draw-*/fold-*/result.json", "draw-*/fold-*/predictions.csv", "draw-*/fold-*/masks.npz")

#: Differences printed per run (the rest are counted).
SHOWN = 20


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``results`` command group."""
    results = commands.add_parser("results", help="the results store").add_subparsers(
        dest="results_command", required=True
    )
    lister = results.add_parser("list", help="runs in a results store")
    lister.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder whose index to read")
    lister.add_argument("--results", metavar="URL", help="store URL (default: sqlite index in --runs)")
    lister.add_argument("--task", choices=("classification", "segmentation"))
    lister.add_argument("--format", choices=("text", "json", "csv"), default="text",
                        help="text (default), or one record per run as JSON or CSV (the columns of LIST_COLUMNS)")
    lister.set_defaults(run=run_list)

    reindex = results.add_parser("reindex", help="(re)build the index of every run folder under a folder")
    reindex.add_argument("folder", type=Path)
    reindex.add_argument("--results", metavar="URL", help="store URL (default: sqlite index in FOLDER)")
    reindex.set_defaults(run=run_reindex)

    publish = results.add_parser("publish", help="copy a finished run's small files to a results folder")
    publish.add_argument("run_dir", type=Path)
    publish.add_argument("--to", type=Path, default=Path("leaderboard/results"))
    publish.set_defaults(run=run_publish)

    verify = results.add_parser(
        "verify", help="score runs again from their stored predictions and check their metrics.json",
        description="Score each run again from its stored predictions with this busbench's evaluator and check that "
                    "every figure its metrics.json records comes out again, and that its run id is the hash of its "
                    "identity, scoring the folds run.json and the split say (never the file's own list). Exit status "
                    "1 if one does not, or if the file lacks a figure this evaluator computes; for a run scored by "
                    "an older busbench, --update writes such figures in, only for runs whose recorded figures all "
                    "reproduced.")
    verify.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN")
    verify.add_argument("--dataset", help="the data the runs were scored on (default: the spec in each run.json)")
    verify.add_argument("--update", action="store_true", help="write the added figures into metrics.json")
    verify.set_defaults(run=run_verify)

    export = results.add_parser(
        "export", help="write a task's boards as CSV, a LaTeX table with CIs, or BibTeX of what they cite",
        description="Write the clean boards of one task (one per split file), ranked as the leaderboard ranks "
                    "them, with each score's 95% CI, budget and convergence flags: as CSV, as LaTeX tables "
                    "(booktabs), or as BibTeX of busbench, the datasets and the ranked submissions' references.")
    export.add_argument("--results", metavar="URL_OR_FOLDER",
                        help="a store URL or a folder of run folders (default: the committed leaderboard/results)")
    export.add_argument("--task", choices=("classification", "segmentation"), default="classification")
    export.add_argument("--format", choices=("csv", "latex", "bibtex"), default="csv")
    export.add_argument("--out", type=Path, help="file to write (default: standard output); written whole or not")
    export.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    export.set_defaults(run=run_export)


#: The columns of ``busbench results list --format json|csv``: what a paper's table needs of each run.
LIST_COLUMNS = ("run_id", "kind", "status", "task", "submission", "dataset", "test_dataset", "protocol", "split",
                "split_sha256", "benchmark", "evaluator_version", "headline_metric", "headline_value",
                "headline_ci_low", "headline_ci_high", "budget", "collapsed", "image_size", "epochs", "pretrained",
                "tuned", "seed", "params", "device", "created", "finished", "git_commit", "busbench_version")


def list_record(row: dict[str, Any]) -> dict[str, Any]:
    """One store row as a record of :data:`LIST_COLUMNS` (the score with its interval, budget and flags)."""
    from benchmark.evaluation.score import constant_prediction
    from benchmark.evaluation.training import how_trained
    from benchmark.splits.named import benchmark_name

    run = row.get("run_json") or {}
    external = external if isinstance(external := run.get("external"), dict) else {}
    record = {k: row.get(k) for k in LIST_COLUMNS if k in row}
    record.update({
        "test_dataset": (external.get("test_dataset") or {}).get("name"),
        "split": (run.get("split") or {}).get("path"),
        "budget": how_trained(row),
        "collapsed": constant_prediction(row.get("metrics_json") or {}),
        "busbench_version": (run.get("versions") or {}).get("busbench"),
        "benchmark": benchmark_name(row.get("split_sha256")),
        "evaluator_version": (row.get("metrics_json") or {}).get("evaluator_version"),
    })
    return {k: record.get(k) for k in LIST_COLUMNS}


def run_list(args: argparse.Namespace) -> int:
    """``busbench results list``."""
    from benchmark.evaluation.score import collapse_note
    from benchmark.evaluation.training import how_trained
    from benchmark.results.store import ResultsStore, default_store_url

    with ResultsStore(args.results or default_store_url(args.runs)) as store:
        rows = store.list_runs(task=args.task)
    if args.format == "json":
        print(json.dumps([list_record(r) for r in rows], indent=1))
        return 0
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=LIST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(list_record(r) for r in rows)
        return 0
    if not rows:
        print("no runs indexed yet: train one with 'busbench run' or score predictions with 'busbench evaluate'")
    for r in rows:
        score = "-"
        if r["headline_value"] is not None:
            low, high = r["headline_ci_low"], r["headline_ci_high"]
            score = f"{r['headline_metric']} {r['headline_value']:.4f} [{low:.4f}, {high:.4f}]"
        split = ((r.get("run_json") or {}).get("split") or {}).get("path") or r.get("split_group") or "-"
        print(f"{r['run_id']:<40} {r['status']:<9} {r['task']:<14} {r['dataset']:<12} {r['protocol'] or '-':<11} "
              f"{Path(split).name:<24} {score}{collapse_note(r['metrics_json'] or {})}  ({how_trained(r)})"
              f"{'  error: ' + r['error'] if r['error'] else ''}")
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    """``busbench results reindex``."""
    from benchmark.results.store import ResultsStore, default_store_url

    with ResultsStore(args.results or default_store_url(args.folder)) as store:
        print(f"indexed {store.reindex(args.folder)} run(s)")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    """``busbench results publish``: only completed runs, and never over an existing published copy."""
    from benchmark.results.rundir import RunDir

    doc = RunDir(args.run_dir).read_run()
    if doc is None:
        raise BusbenchError(args.run_dir, "is not a run folder (no run.json)")
    if doc.get("status") != "completed":
        raise BusbenchError(args.run_dir, f"run is {doc.get('status')}, only completed runs are published")
    target = args.to / doc["run_id"]
    if target.exists():
        raise BusbenchError(target, "is published already; published results are never rewritten")
    staging = args.to / f".{doc['run_id']}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for pattern in PUBLISHED:
        for src in sorted(args.run_dir.glob(pattern)):
            dst = staging / src.relative_to(args.run_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    staging.rename(target)  # the published copy appears whole or not at all
    print(f"published {target}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``busbench results verify``."""
    from benchmark.evaluation.verify import verify_run, write_added
    from benchmark.results.identity import IDENTITY_VERSION

    status = 0
    for run_dir in args.run_dirs:
        try:
            check = verify_run(run_dir, args.dataset)
        except BusbenchError as exc:  # one bad folder does not stop the others
            print(f"busbench: error: {exc}", file=sys.stderr)
            status = 2
            continue
        changed, added = check.differences.changed, check.differences.added
        if check.identity_problem:
            print(f"{run_dir}: {check.identity_problem}")
            status = max(status, 1)
        if changed:
            print(f"{run_dir}: {len(changed)} recorded figure(s) did not reproduce:")
            for path, recorded, now in changed[:SHOWN]:
                print(f"  {path}: recorded {recorded!r}, now {now!r}")
            if len(changed) > SHOWN:
                print(f"  ... and {len(changed) - SHOWN} more")
            status = max(status, 1)
            continue
        note = ""
        if check.identity_version is not None and check.identity_version < IDENTITY_VERSION:
            note += f"; run id of identity v{check.identity_version} (made before plugin code and threads counted)"
        print(f"{run_dir}: every recorded figure reproduced{note}")
        if added and args.update and not check.identity_problem:
            write_added(check)
            print(f"  wrote {len(added)} missing figure(s) into {len(check.documents)} metrics.json file(s)")
        elif added:
            shown = ", ".join(added[:SHOWN]) + (f" and {len(added) - SHOWN} more" if len(added) > SHOWN else "")
            print(f"{run_dir}: {len(added)} figure(s) this evaluator computes are missing from metrics.json: "
                  f"{shown} (a run scored by an older busbench: --update writes them in)")
            status = max(status, 1)
    return status


def run_export(args: argparse.Namespace) -> int:
    """``busbench results export``: the work is :mod:`leaderboard.export`'s."""
    from benchmark.fileio import atomic_write_text

    export, sources, tables = (leaderboard_module(m) for m in ("export", "sources", "tables"))
    if args.out is not None and args.out.exists() and not args.force:
        raise BusbenchError(args.out, "exists; pass --force to overwrite it")
    rows, problems = sources.runs_of(args.results)
    for problem in problems:
        print(f"busbench: warning: run folder left out of the export: {problem}", file=sys.stderr)
    text = export.export(tables.board_frame(rows), args.task, args.format, cited=export.references(rows))
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
