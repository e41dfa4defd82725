"""``busbench report``: the curated ledger of published BUSI results, and the seed papers beside our clean runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.plugins import load_errors
from benchmark.reports.blocks import block_is_current, write_block
from benchmark.reports.published import default_source, write_published
from benchmark.reports.seeds import BLOCK, seeds_markdown


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
                    "system on the 5-fold grouped BUSI split (95%% CI, budget, difference), and the choices each "
                    "seed submission made where its paper is silent.")
    seeds.add_argument("--results", type=Path, default=Path("leaderboard/results"), help="published runs")
    seeds.add_argument("--published", type=Path, default=Path("leaderboard/published.csv"), help="the ledger")
    mode = seeds.add_mutually_exclusive_group()
    mode.add_argument("--check", type=Path, metavar="README", help="exit 1 if README's seeds block is stale")
    mode.add_argument("--write", type=Path, metavar="README", help="replace README's seeds block")
    seeds.set_defaults(run=run_seeds)


def run_published(args: argparse.Namespace) -> int:
    """``busbench report published``."""
    source = args.source or default_source()
    rows = write_published(source, args.out)
    mapped = sum(1 for r in rows if r["busbench_submission"])
    headline = sum(1 for r in rows if r["headline"] == "1")
    print(f"wrote {args.out}: {len(rows)} rows from {source} ({mapped} mapped to a submission, {headline} headline)")
    return 0


def run_seeds(args: argparse.Namespace) -> int:
    """``busbench report seeds``: print, check or write the Markdown."""
    markdown = seeds_markdown(args.published, args.results)
    if load_errors():  # a plugin that fails to import is missing from the choices table; say so, off stdout
        print(f"busbench: note: {len(load_errors())} plugin(s) failed to load, so their models are not in the "
              "report (see 'busbench list')", file=sys.stderr)
    if args.check:
        if not block_is_current(args.check, BLOCK, markdown):
            print(f"busbench: {args.check}: the seed-paper block is out of date; run "
                  f"'busbench report seeds --write {args.check}'", file=sys.stderr)
            return 1
        print(f"{args.check}: the seed-paper block is up to date")
    elif args.write:
        write_block(args.write, BLOCK, markdown)
        print(f"wrote the seed-paper block of {args.write}")
    else:
        print(markdown, end="")
    return 0
