"""``busbench audit``: audit a dataset (duplicates, conflicts, burnt-in marks, split leakage) or re-score a run.

The first positional argument chooses the action: an action name (``rescore``) or else a dataset. Each action has
its own parser, so ``busbench audit rescore --help`` and ``busbench audit DATASET --help`` show their options and
``busbench audit --help`` shows all of them; a new action is one entry in :data:`ACTIONS`. A dataset folder that
happens to be named like an action is given as ``./rescore``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmark.audit.html import render_html
from benchmark.audit.report import audit_dataset, check_writable, default_out, write_audit
from benchmark.audit.rescore import rescore_run
from benchmark.cli.common import print_json, show_progress
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.data.open import open_dataset


def _dataset_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="busbench audit", description="Audit a dataset: duplicate clusters (cross-class first), mask "
        "conflicts, burnt-in annotations and colour overlays, and the leakage of the given splits. Writes "
        "audit.json and a self-contained report.html.")
    p.add_argument("dataset", metavar="DATASET", help=DATASET_HELP)
    p.add_argument("--splits", type=Path, action="append", default=[], metavar="FILE",
                   help="busbench split file to audit for leakage (repeatable)")
    p.add_argument("--split-csv", type=Path, action="append", default=[], metavar="FILE",
                   help="published split as CSV: a file column (filename/file/image/path/case_id/id) and a part "
                        "column (split/part/subset/set/fold) with train/val/test; one fold (repeatable)")
    p.add_argument("--out", type=Path, help="output folder (default runs/audit/<dataset name>/)")
    return p


def _rescore_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="busbench audit rescore", description="Re-score a finished run (trained or predictions-only) on its "
        "test cases with and without a near-duplicate or same-patient image on their training side: headline "
        "metric with 95% cluster-bootstrap intervals and the difference.")
    p.add_argument("run", type=Path, metavar="RUN", help="run folder")
    p.add_argument("--dataset", help="data the run was scored on (default: the spec in its run.json)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run_dataset_audit(argv: list[str]) -> int:
    """``busbench audit DATASET ...``."""
    args = _dataset_parser().parse_args(argv)
    dataset = open_dataset(args.dataset)
    out = args.out or default_out(dataset)
    check_writable(out)  # fail before minutes of work, not after
    doc = audit_dataset(dataset, splits=args.splits, split_csvs=args.split_csv, progress=show_progress())
    json_path, html_path = write_audit(doc, render_html(doc, dataset), out)
    dup = doc["duplicates"]
    print(f"{dataset.name}: {dup['n_clusters']} duplicate clusters ({dup['n_cases_in_clusters']} images), "
          f"{len(doc['cross_class'])} cross-class, {len(doc['mask_conflicts']['pairs'])} mask conflicts, "
          f"{doc['burnt_in']['n_annotated']} annotated and {doc['burnt_in']['n_colour']} colour images "
          f"({doc['seconds']} s)")
    for s in doc["splits"]:
        t = s["total"]
        print(f"{s['source']}: {t['leaked']} of {t['n_test']} test cases leak ({100 * t['leaked_fraction']:.1f}%); "
              "per fold " + ", ".join(str(f["leaked"]) for f in s["folds"]))
    print(f"wrote {json_path} and {html_path}")
    return 0


def _fmt(block: dict) -> str:
    if block["value"] is None:
        return f"undefined ({block['reason']})"
    ci = ("no interval" if block["ci_low"] is None else
          f"95% CI {block['ci_low']:+.4f} to {block['ci_high']:+.4f}")
    return f"{block['value']:+.4f} ({ci}, n={block['n_cases']})"


def run_rescore(argv: list[str]) -> int:
    """``busbench audit rescore RUN``."""
    args = _rescore_parser().parse_args(argv)
    result = rescore_run(args.run, args.dataset, progress=show_progress())
    if args.json:
        print_json(result)
        return 0
    print(f"{result['run_id']}: {result['metric']} by leakage (bootstrap unit: {result['unit']})")
    for name in ("all", "leaking", "clean", "difference"):
        label = "leaking - clean" if name == "difference" else name
        print(f"  {label:<16} {_fmt(result[name])}")
    return 0


#: Actions chosen by the first positional argument; anything else is a dataset.
ACTIONS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[[list[str]], int]]] = {
    "rescore": (_rescore_parser, run_rescore),
}


def _description() -> str:
    forms = [_dataset_parser()] + [make() for make, _ in ACTIONS.values()]
    return "\n\n".join(p.format_help().strip() for p in forms)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command."""
    audit = commands.add_parser(
        "audit", help="audit a dataset for duplicates, conflicts, burnt-in marks and split leakage; re-score runs",
        usage="busbench audit DATASET [options] | busbench audit rescore RUN [options]",
        description=_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("target", metavar="DATASET|ACTION", help="a dataset, or one of: " + ", ".join(ACTIONS))
    audit.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS, metavar="...")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch on the first positional argument."""
    if args.target in ACTIONS:
        return ACTIONS[args.target][1](list(args.rest))
    return run_dataset_audit([args.target, *args.rest])
