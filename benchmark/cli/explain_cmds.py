"""``busbench explain``: Grad-CAM pictures of chosen cases of a finished classification run.

The command parses its options and delegates to :func:`benchmark.explain.run.explain_run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.classes import CLASSES
from benchmark.errors import BusbenchError

#: What ``--class`` may name: the predicted class, the true one, or a class.
CLASS_CHOICES = ("predicted", "true", *CLASSES)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``explain`` command."""
    ex = commands.add_parser(
        "explain", help="Grad-CAM pictures of chosen cases of a finished classification run",
        description="Write <out>/<case_id>.png (the grey input beside a Grad-CAM heat overlay) and <out>/index.json "
        "for each case, using the model of the fold whose test part holds the case.")
    ex.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder (has run.json and fold-K/model.pt)")
    ex.add_argument("--cases", required=True, metavar="ID[,ID...]", help="comma-separated case ids")
    ex.add_argument("--dataset", metavar="SPEC", help="the run's data, where it is now (default: run.json's spec)")
    ex.add_argument("--class", dest="explain_class", choices=CLASS_CHOICES, default="predicted",
                    help="class whose evidence is shown (default: the predicted class)")
    ex.add_argument("--out", type=Path, help="output folder (default RUN_DIR/gradcam)")
    ex.set_defaults(run=run_explain)


def parse_cases(text: str) -> list[str]:
    """Comma-separated case ids, stripped, duplicates dropped, order kept."""
    ids = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not ids:
        raise BusbenchError("--cases", "give at least one case id")
    return ids


def run_explain(args: argparse.Namespace) -> int:
    """``busbench explain``: exit 0 once every case's picture and index entry are written."""
    from benchmark.explain.run import ExplainRequest, explain_run

    outcome = explain_run(ExplainRequest(args.run_dir, parse_cases(args.cases), args.dataset, args.explain_class,
                                         args.out))
    for cid, e in outcome.entries.items():
        print(f"{cid}: fold {e['fold']}, {e['class_explained']} explained (predicted {e['predicted_class']}, "
              f"true {e['true_label']}) -> {outcome.index_path.parent / e['png']}", file=sys.stderr)
    print(f"wrote {len(outcome.entries)} picture(s) and {outcome.index_path}")
    return 0
