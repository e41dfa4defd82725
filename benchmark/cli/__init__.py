"""The ``busbench`` command: one sub-command group per concern (data, splits, quickstart).

Every user-input problem surfaces as a :class:`~benchmark.errors.BusbenchError` and is printed as one line,
``busbench: error: <file>: <problem>``, with exit status 2 (argument errors too, as argparse does).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import benchmark
from benchmark.errors import BusbenchError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-command modules add their own parsers).

    The sub-command modules only parse and delegate: each imports what its commands need (torch, scikit-learn,
    the data readers) inside the function that runs the command, so building the parser, ``--help`` and
    ``--version`` import none of it (``tests/cli/test_cli_imports.py``).
    """
    from benchmark.cli import (
        audit_cmds,
        data_cmds,
        evaluate_cmds,
        explain_cmds,
        external_cmds,
        leaderboard_cmds,
        models_cmds,
        quickstart,
        report_cmds,
        results_cmds,
        splits_cmds,
        tune_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="busbench",
        description="Honest benchmark harness for breast-ultrasound classification and segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"busbench {benchmark.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_cmds.register(commands)
    splits_cmds.register(commands)
    models_cmds.register(commands)
    results_cmds.register(commands)
    evaluate_cmds.register(commands)
    external_cmds.register(commands)
    quickstart.register(commands)
    audit_cmds.register(commands)
    report_cmds.register(commands)
    explain_cmds.register(commands)
    tune_cmds.register(commands)
    leaderboard_cmds.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 on bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BusbenchError as exc:
        print(f"busbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("busbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``busbench ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
