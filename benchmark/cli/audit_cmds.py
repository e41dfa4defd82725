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

from benchmark.audit.leaks import LUCKY_DRAWS, PROTOCOLS
from benchmark.audit.paper_protocols import PUBLISHED
from benchmark.cli.common import print_json, show_progress, training_hparams
from benchmark.cli.data_cmds import DATASET_HELP


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


def _protocols_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="busbench audit protocols", description="Protocol inflation: train one submission with the same "
        "budget and seeds under the clean protocol and under leaky protocols used by published BUSI papers "
        "(image-level split, augmentation before the split, ground-truth mask overlay, epoch selection on the "
        "test part, best of N lucky splits, normal images scored 1), alone or combined as a paper combined them, "
        "and report each score beside the clean one with 95% intervals, the inflation in percentage points and "
        "the paired bootstrap difference. Writes a run folder per protocol and protocols.json; finished protocols "
        "are reused.")
    p.add_argument("submission", metavar="SUBMISSION", help="registered model name")
    p.add_argument("--task", choices=("classification", "segmentation"), help="the submission's task (checked)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--protocols", metavar="LIST",
                   help=f"comma-separated protocols, each one of {', '.join(PROTOCOLS)} or leaks joined by '+' "
                        "(e.g. naive+overlay+select; short names naive, augment, overlay, select, lucky, empty), "
                        "or 'papers': every combination that reproduces a headline number of the published ledger; "
                        "clean is always run. Default: every single protocol that applies to the task")
    p.add_argument("--splits", type=Path, metavar="FILE",
                   help="committed split file whose folds are the clean ones (lucky draws keep its groups); "
                        "default: a duplicate-grouped split made with --k and --seed")
    p.add_argument("--published", type=Path, default=PUBLISHED,
                   help=f"the published-results ledger 'papers' reads (default {PUBLISHED})")
    p.add_argument("--epochs", type=int, help="epochs (default: the submission's)")
    p.add_argument("--image-size", type=int, help="input size in pixels (default: the submission's)")
    p.add_argument("--k", type=int, help="number of folds of the split made here (default 5, or the --splits file's)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a hyper-parameter (repeatable; VALUE is JSON or a string)")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                   help="start from pretrained weights found locally (never downloaded); default: the model's")
    p.add_argument("--seed", type=int, default=0, help="seed of folds and training (default 0)")
    p.add_argument("--lucky-draws", type=int, default=LUCKY_DRAWS, metavar="N",
                   help=f"random single splits for lucky-split (default {LUCKY_DRAWS})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (default auto)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("runs/protocol-audit"),
                   help="output folder (default runs/protocol-audit)")
    p.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")
    p.add_argument("--json", action="store_true", help="print protocols.json instead of the table")
    return p


def run_protocols(argv: list[str]) -> int:
    """``busbench audit protocols SUBMISSION ...``; exits 1 when a protocol failed."""
    from benchmark.audit.protocols import AuditRequest, audit_protocols, format_table

    args = _protocols_parser().parse_args(argv)
    summary = audit_protocols(AuditRequest(
        submission=args.submission, dataset=args.dataset, task=args.task, protocols=args.protocols,
        splits=args.splits, published=args.published, hparams=training_hparams(args.submission, args.set,
                                                                               args.pretrained),
        epochs=args.epochs, image_size=args.image_size, k=args.k, seed=args.seed, lucky_draws=args.lucky_draws,
        device=args.device, precision=args.precision, threads=args.threads, out=args.out, results_url=args.results,
        progress=show_progress()))
    if args.json:
        print_json(summary)
    else:
        print(format_table(summary))
        print(f"wrote {args.out / 'protocols.json'}")
    return 1 if any(r["status"] != "completed" for r in summary["rows"]) else 0


def run_dataset_audit(argv: list[str]) -> int:
    """``busbench audit DATASET ...``."""
    from benchmark.audit.report import audit_with_page, check_writable, default_out, write_audit
    from benchmark.data.open import open_dataset

    args = _dataset_parser().parse_args(argv)
    dataset = open_dataset(args.dataset)
    out = args.out or default_out(dataset)
    check_writable(out)  # fail before minutes of work, not after
    doc, page = audit_with_page(dataset, splits=args.splits, split_csvs=args.split_csv, progress=show_progress())
    json_path, html_path = write_audit(doc, page, out)
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
    from benchmark.audit.rescore import rescore_run

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
    "protocols": (_protocols_parser, run_protocols),
}


def _description() -> str:
    forms = [_dataset_parser()] + [make() for make, _ in ACTIONS.values()]
    return "\n\n".join(p.format_help().strip() for p in forms)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command."""
    audit = commands.add_parser(
        "audit", help="audit a dataset for duplicates, conflicts, burnt-in marks and split leakage; re-score runs",
        usage="\n  busbench audit DATASET [options]\n  busbench audit rescore RUN [options]\n"
              "  busbench audit protocols SUBMISSION --dataset D [options]",
        description=_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("target", metavar="DATASET|ACTION", help="a dataset, or one of: " + ", ".join(ACTIONS))
    audit.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS, metavar="...")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch on the first positional argument."""
    if args.target in ACTIONS:
        return ACTIONS[args.target][1](list(args.rest))
    return run_dataset_audit([args.target, *args.rest])
