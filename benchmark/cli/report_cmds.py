"""``busbench report``: the ledger of published BUSI results, the seed papers beside our runs, the references."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.audit.paper_protocols import PUBLISHED, read_published


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` command group."""
    report = commands.add_parser("report", help="published results and the seed-paper report").add_subparsers(
        dest="report_command", required=True
    )
    published = report.add_parser(
        "published", help="build leaderboard/published.csv from the seed papers' published numbers",
        description="Build the curated ledger of published BUSI results: every published number verbatim, the "
                    "paper's citation, normalised protocol flags, the busbench submission of each system and the "
                    "headline rows the README compares.")
    published.add_argument("--source", type=Path, default=None,
                           help="seed_published_results.csv (default: $BUSBENCH_SHARED/reference/, else "
                                "../shared/reference/ next to the checkout)")
    published.add_argument("--out", type=Path, default=Path("leaderboard/published.csv"))
    published.set_defaults(run=run_published)

    seeds = report.add_parser(
        "seeds", help="Markdown: each seed paper's number beside our clean-protocol run",
        description="Print each seed paper's published headline number beside our measurement of the same "
                    "system on the 5-fold grouped BUSI split (95% CI, budget, difference), and the choices each "
                    "seed submission made where its paper is silent.")
    seeds.add_argument("--published", type=Path, default=Path("leaderboard/published.csv"), help="the ledger")
    _block_options(seeds, "seeds")
    seeds.set_defaults(run=run_seeds)

    refs = report.add_parser(
        "references", help="Markdown: the clean references on the leaderboard split, and what pretraining adds",
        description="Print every completed clean-protocol run on the examination-grouped BUSI split (newest per "
                    "configuration) with its 95% CI, budget and convergence flags, and the paired effect of ImageNet "
                    "pretraining where a scratch run of the same budget exists.")
    _block_options(refs, "references")
    refs.set_defaults(run=run_references)

    repro = report.add_parser(
        "reproduction", help="Markdown: each published number, its protocol reproduced, and the clean run",
        description="Print every headline number of the ledger beside the strong reference trained under that "
                    "paper's protocol (leaks combined, each reading of an ambiguous paper) and under the clean "
                    "protocol, both with 95% CIs, and split published - clean into what the protocol explains "
                    "(reproduced - clean) and what it does not (published - reproduced). Reads the committed "
                    "audits (leaderboard/run_protocol_audit.sh).")
    repro.add_argument("--published", type=Path, default=PUBLISHED, help="the ledger")
    _block_options(repro, "reproduction")
    repro.set_defaults(run=run_reproduction)


def _block_options(parser: argparse.ArgumentParser, block: str) -> None:
    """``--results`` and the ``--check``/``--write`` pair of a report that owns a README block."""
    parser.add_argument("--results", type=Path, default=Path("leaderboard/results"), help="published runs")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", type=Path, metavar="README", help=f"exit 1 if README's {block} block is stale")
    mode.add_argument("--write", type=Path, metavar="README", help=f"replace README's {block} block")


def run_published(args: argparse.Namespace) -> int:
    """``busbench report published``."""
    from benchmark.reports.published import default_source, write_published

    source = args.source or default_source()
    rows = write_published(source, args.out)
    mapped = sum(1 for r in rows if r["busbench_submission"])
    headline = sum(1 for r in rows if r["headline"] == "1")
    print(f"wrote {args.out}: {len(rows)} rows from {source} ({mapped} mapped to a submission, {headline} headline)")
    return 0


def run_seeds(args: argparse.Namespace) -> int:
    """``busbench report seeds``: print, check or write the Markdown."""
    from benchmark.plugins import load_errors
    from benchmark.reports.seeds import BLOCK, seeds_markdown

    markdown = seeds_markdown(args.published, args.results)
    if load_errors():  # a plugin that fails to import is missing from the choices table; say so, off stdout
        print(f"busbench: note: {len(load_errors())} plugin(s) failed to load, so their models are not in the "
              "report (see 'busbench list')", file=sys.stderr)
    return _emit(args, BLOCK, "seed-paper", "seeds", markdown)


def run_references(args: argparse.Namespace) -> int:
    """``busbench report references``: print, check or write the Markdown."""
    from benchmark.reports.references import references_markdown

    return _emit(args, "references", "references", "references", references_markdown(args.results))


def run_reproduction(args: argparse.Namespace) -> int:
    """``busbench report reproduction``: print, check or write the Markdown."""
    from benchmark.reports.reproduction import BLOCK as REPRODUCTION
    from benchmark.reports.reproduction import reproduction_markdown

    markdown = reproduction_markdown(read_published(args.published), args.results)
    return _emit(args, REPRODUCTION, "reproduction", "reproduction", markdown)


def _emit(args: argparse.Namespace, block: str, what: str, command: str, markdown: str) -> int:
    """Check, write or print a report's README block."""
    from benchmark.reports.blocks import block_is_current, write_block

    if args.check:
        if not block_is_current(args.check, block, markdown):
            print(f"busbench: {args.check}: the {what} block is out of date; run "
                  f"'busbench report {command} --write {args.check}'", file=sys.stderr)
            return 1
        print(f"{args.check}: the {what} block is up to date")
    elif args.write:
        write_block(args.write, block, markdown)
        print(f"wrote the {what} block of {args.write}")
    else:
        print(markdown, end="")
    return 0
