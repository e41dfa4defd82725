"""The seed-paper report: each paper's published number beside our clean-protocol measurement of the same system.

Two Markdown tables. (a) Every headline row of ``leaderboard/published.csv`` with its short protocol flags, our
measurement of the same metric with its 95% cluster-bootstrap interval, our budget, and the difference (published
minus ours, in percentage points). Only completed clean-protocol runs on the 5-fold duplicate-grouped BUSI split
(``splits/busi/5fold_grouped.json``, identified by its sha256) count, never protocol-audit runs (leaky protocols on
the same folds); with several runs of a submission, the newest is used and the table says how many there were. Ours
is the clean convention: segmentation Dice/IoU over images with a lesion; where the paper averaged normal images in,
scored 1, our paper-compatible figure is shown beside it. A run that predicted one class for every case says so
(its accuracy is that class's share, not a trained model's); its budget column says how it was trained and what its
training history shows (:func:`benchmark.evaluation.training.trained_text`).
(b) The choices each registered seed submission made where its paper is silent (from its ``ModelSpec.notes``).

The README keeps the output between ``<!-- seeds:begin -->`` and ``<!-- seeds:end -->``; ``busbench report seeds
--check README.md`` fails when it is stale, ``--write README.md`` renews it.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.audit.paper_protocols import flag_words, read_published
from benchmark.evaluation.score import collapse_note
from benchmark.evaluation.training import trained_text
from benchmark.plugins import ModelSpec, get, list_models
from benchmark.reports.runs import Measured, clean_runs
from benchmark.reports.seed_papers import NO_PUBLISHED_METRIC

REPO = Path(__file__).resolve().parents[2]
SPLIT = Path("splits/busi/5fold_grouped.json")
BLOCK = "seeds"


def _flags(row: dict[str, str]) -> str:
    words = flag_words(row)
    budget = [f"{row['image_size']} px" if row["image_size"][:1].isdigit() else "",
              f"{row['epochs']} epochs" if row["epochs"][:1].isdigit() else
              ("epochs contradictory" if row["epochs"] == "contradictory" else "")]
    return ", ".join(w for w in [*words, *budget] if w) or "-"


def _fraction(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


def _ours(row: dict[str, str], measured: Measured) -> tuple[str, float | None]:
    metric = row["metric"]
    pooled, ci = measured.metrics.get("pooled", {}), measured.metrics.get("ci", {}).get(metric) or {}
    value = pooled.get(metric)
    if not isinstance(value, (int, float)):
        return f"no {metric} in metrics.json", None
    text = f"{value:.3f}"
    if isinstance(ci.get("low"), (int, float)) and isinstance(ci.get("high"), (int, float)):
        text += f" [{ci['low']:.3f}, {ci['high']:.3f}]"
    compatible = (pooled.get("paper_compatible") or {}).get(metric)
    if row["empty_mask_convention"] == "normal_included_iou_1" and isinstance(compatible, (int, float)):
        text += f"; paper-compatible {compatible:.3f}"
    if measured.n_runs > 1:
        text += f" (newest of {measured.n_runs} runs)"
    return text + collapse_note(measured.metrics), float(value)


def _headline(measured: Measured) -> str:
    head = measured.metrics.get("headline") or {}
    if not isinstance(head.get("value"), (int, float)):
        return "no headline in metrics.json"
    return f"{head.get('metric')} {head['value']:.3f} [{head.get('ci_low', float('nan')):.3f}, " \
           f"{head.get('ci_high', float('nan')):.3f}]" + collapse_note(measured.metrics)


def _budget(measured: Measured) -> str:
    return f"`{measured.run_id}`: {trained_text(measured.run, measured.metrics, measured.folder)}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def published_vs_clean(rows: list[dict[str, str]], measured: dict[str, Measured], registered: set[str]) -> list[str]:
    """Table (a), as Markdown lines (``registered``: seed submissions in the registry)."""
    lines = ["| paper | system | published (where; condition) | protocol as published | ours, clean protocol "
             "[95% CI] | our run: budget; convergence | published - ours |", "|---|---|---|---|---|---|---|"]
    headline = [r for r in rows if r["headline"] == "1"]
    papers = list(dict.fromkeys(r["paper"] for r in headline))
    for paper in papers:
        for row in (r for r in headline if r["paper"] == paper):
            name, published = row["busbench_submission"], _fraction(row["value"])
            ours, value, budget, diff = "not yet run", None, "-", "-"
            if name in measured:
                ours, value = _ours(row, measured[name])
                budget = _budget(measured[name])
            if value is not None and published is not None:
                diff = f"{(published - value) * 100:+.1f} pp"
            where = f"{row['metric']} = {row['value']} ({row['table_or_section']}; {row['condition']})"
            system = f"{row['model']} (`{name}`)"
            lines.append("| " + " | ".join(_cell(c) for c in (paper, system, where, _flags(row), ours, budget,
                                                             diff)) + " |")
        prefixes = {r["busbench_submission"].split("_")[0] for r in headline if r["paper"] == paper}
        for name, why in sorted(NO_PUBLISHED_METRIC.items()):  # systems a paper describes but never scores
            if name.split("_")[0] in prefixes and (name in registered or name in measured):
                ours, budget = (_headline(measured[name]), _budget(measured[name])) if name in measured \
                    else ("not yet run", "-")
                lines.append("| " + " | ".join(_cell(c) for c in (paper, f"`{name}`", f"none: {why}", "-", ours,
                                                                 budget, "-")) + " |")
    return lines


def silent(notes: tuple[str, ...]) -> list[str]:
    """The choices among a spec's notes: the ``choice:`` parts when it uses the ``paper:``/``choice:`` convention."""
    parts = [p.strip() for note in notes for p in re.split(r";\s*(?=choice:|paper:)", note)]
    choices = [p.removeprefix("choice:").strip() for p in parts if p.startswith("choice:")]
    return choices or list(notes)


def silent_choices(rows: list[dict[str, str]], specs: dict[str, ModelSpec]) -> list[str]:
    """Table (b), as Markdown lines: one row per registered seed submission, its choices (see :func:`silent`)."""
    lines = ["| system | paper | task | choices where the paper is silent |", "|---|---|---|---|"]
    paper_of = {r["busbench_submission"].split("_")[0]: r["paper"] for r in rows if r["busbench_submission"]}
    for prefix, paper in paper_of.items():
        for name in sorted(n for n in specs if n.split("_")[0] == prefix):
            notes = "<br>".join(_cell(choice) for choice in silent(specs[name].notes)) or "none recorded"
            lines.append(f"| `{name}` | {_cell(paper)} | {specs[name].task} | {notes} |")
    if len(lines) == 2:
        lines.append("| - | - | - | no seed submission is registered yet |")
    return lines


def registered_seed_specs(rows: list[dict[str, str]]) -> dict[str, ModelSpec]:
    """The ``ModelSpec`` of every registered submission named after a seed paper (``cheyi2024_*`` ...)."""
    prefixes = sorted({r["busbench_submission"].split("_")[0] for r in rows if r["busbench_submission"]})
    return {name: get(name).spec for prefix in prefixes for name in list_models(f"{prefix}_*")}


def seeds_markdown(published: Path, results: Path, *, split_file: Path = REPO / SPLIT,
                   specs: dict[str, ModelSpec] | None = None) -> str:
    """The report's Markdown (both tables), ending with a newline.

    Args:
        published: ``leaderboard/published.csv``.
        results: Folder of published runs (``leaderboard/results``).
        split_file: The split our runs must have used.
        specs: Seed submissions' specs (default: from the registry).
    """
    rows = read_published(published)
    specs = registered_seed_specs(rows) if specs is None else specs
    measured = clean_runs(results, split_file)
    parts = ["### Published number beside our clean measurement", "",
             *published_vs_clean(rows, measured, set(specs)), "",
             "### Choices where the paper is silent", "", *silent_choices(rows, specs)]
    return "\n".join(parts) + "\n"
