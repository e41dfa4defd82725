"""``busbench report reproduction``: each published headline number beside its protocol reproduced and the clean run.

For every headline row of ``leaderboard/published.csv`` and every reading of its protocol flags
(:func:`benchmark.audit.paper_protocols.readings`), the audit of the strong reference of its task (a committed
``protocols-*.json`` summary of ``busbench audit protocols --protocols papers`` with a committed split file as
the clean folds) gives two measured numbers on the paper's own metric:

* reproduced: the reference trained and scored under the paper's protocol (its leaks combined), 95% CI;
* clean: the same reference, same budget, under the clean protocol, 95% CI.

The gap ``published - clean`` splits into **explained by the protocol** (``reproduced - clean``) and
**unexplained** (``published - reproduced``: budget, preprocessing, architecture, or a number that cannot be
reproduced). The reference stands in for the paper's own system (named in the block), since most seed systems
have no pretrained weights here. A reading whose protocol was not run (or failed) is listed as such. The block
(``<!-- reproduction:begin/end -->``) is generated, and the test suite checks it is current.

Below each task's table, every protocol the audit trained (each leak alone and each paper's combination) is listed
on the audit's own metric with its inflation over the clean run and the paired difference on the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.audit.leaks import parse_protocol
from benchmark.audit.paper_protocols import readings
from benchmark.errors import BusbenchError
from benchmark.evaluation.training import convergence, read_fold_results
from benchmark.fileio import read_json

BLOCK = "reproduction"
#: The audits the report reads: summaries published beside the runs.
SUMMARIES = "protocols-*.json"
#: The paper metrics the audit's rows carry a figure (with its interval) for.
METRICS = {"classification": ("accuracy", "balanced_accuracy"), "segmentation": ("dice", "iou")}


@dataclass(frozen=True)
class Figure:
    """A measured figure with its 95% interval."""

    value: float
    low: float | None
    high: float | None

    def text(self, signed: bool = False) -> str:
        """``0.812 [0.780, 0.841]`` (``+0.064 [+0.025, +0.104]`` when ``signed``)."""
        f = "+.3f" if signed else ".3f"
        if self.low is None or self.high is None:
            return f"{self.value:{f}}"
        return f"{self.value:{f}} [{self.low:{f}}, {self.high:{f}}]"


@dataclass(frozen=True)
class Reproduction:
    """One published number under one reading of its protocol.

    Attributes:
        row: The published row.
        protocol: The protocol that reproduces it (leaks joined by ``+``).
        label: The reading, where the paper allows two (empty otherwise).
        notes: What the reading could not reproduce.
        reproduced: The reference under that protocol on the paper's metric, or ``None`` when not run.
        clean: The same reference under the clean protocol, or ``None``.
        flags: The convergence flags of the reproduced run, then of the clean run (empty when none).
        stand_in: The reference system and budget, in words (``None`` without an audit of the task).
    """

    row: dict[str, str]
    protocol: str
    label: str
    notes: tuple[str, ...]
    reproduced: Figure | None
    clean: Figure | None
    stand_in: str | None
    flags: tuple[str, str] = ("", "")

    @property
    def published(self) -> float:
        """The published number."""
        return float(self.row["value"])

    @property
    def explained(self) -> float | None:
        """``reproduced - clean``: what the protocol adds to the honest number."""
        return None if self.reproduced is None or self.clean is None else self.reproduced.value - self.clean.value

    @property
    def unexplained(self) -> float | None:
        """``published - reproduced``: what the protocol does not explain."""
        return None if self.reproduced is None else self.published - self.reproduced.value


def read_audits(results: Path) -> dict[str, dict[str, Any]]:
    """The newest audit summary per task that ran on a committed split file with ``papers`` readings in it.

    Raises:
        BusbenchError: If a summary is not valid JSON.
    """
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(results.glob(SUMMARIES)):
        summary = read_json(path)
        if not summary.get("clean_split") or summary.get("task") not in METRICS:
            continue  # an audit on a split made on the fly (the small_cnn one) is not a reference audit
        summary["_file"] = path.name
        for row in summary.get("rows", []):
            row["_flags"] = _flags(results / Path(str(row.get("run_dir", ""))).name)
        found[summary["task"]] = summary
    return found


def _flags(run_dir: Path) -> str:
    """The convergence flags of a published audit run (empty when it has none, or is not in the folder)."""
    if not (run_dir / "run.json").is_file():
        return ""
    run = read_json(run_dir / "run.json")
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else None
    return convergence(run, metrics, read_fold_results(run_dir, run)).text()


def _figure(row: dict[str, Any] | None, metric: str) -> Figure | None:
    if row is None or row.get("status") != "completed":
        return None
    figure = (row.get("figures") or {}).get(metric)
    if figure is None or figure.get("value") is None:
        return None
    return Figure(figure["value"], figure.get("ci_low"), figure.get("ci_high"))


def _stand_in(summary: dict[str, Any]) -> str:
    source = "ImageNet-pretrained" if summary.get("pretrained") else "from scratch"
    return (f"`{summary['submission']}` ({source}), {summary['image_size']} px, {summary['epochs']} epochs, "
            f"clean folds `{summary['clean_split']}`")


def reproductions(published: list[dict[str, str]], audits: dict[str, dict[str, Any]]) -> list[Reproduction]:
    """Every headline row under every reading of its flags, measured where the task's audit ran the protocol."""
    out = []
    for row in published:
        if row.get("headline") != "1" or row.get("task") not in METRICS or row["metric"] not in METRICS[row["task"]]:
            continue
        audit = audits.get(row["task"])
        by_name = {r["protocol"]: r for r in (audit or {}).get("rows", [])}
        for reading in readings(row):
            measured, clean = by_name.get(reading.protocol.name) or {}, by_name.get("clean") or {}
            out.append(Reproduction(row, reading.protocol.name, reading.label, reading.notes,
                                    _figure(measured, row["metric"]), _figure(clean, row["metric"]),
                                    None if audit is None else _stand_in(audit),
                                    (measured.get("_flags", ""), clean.get("_flags", ""))))
    return out


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pp"


def _flag_text(flags: tuple[str, str]) -> str:
    reproduced, clean = flags
    parts = [f"reproduced: {reproduced}" if reproduced else "", f"clean: {clean}" if clean else ""]
    return "; ".join(p for p in parts if p) or "-"


def reproduction_markdown(published: list[dict[str, str]], results: Path) -> str:
    """The block's Markdown: per task, the stand-in, then one table row per published number and reading."""
    audits = read_audits(results)
    items = reproductions(published, audits)
    parts: list[str] = []
    for task in METRICS:
        of_task = [r for r in items if r.row["task"] == task]
        if not of_task:
            continue
        stand_in = of_task[0].stand_in
        if stand_in is None:
            parts += [f"No {task} reference audit is committed yet (`leaderboard/run_protocol_audit.sh {task}`).", ""]
            continue
        parts += [f"**{task.capitalize()}**, stand-in for every system: {stand_in} "
                  f"(`{audits[task]['_file']}`).", "",
                  "| paper | system | metric | published | reading | as published, reproduced [95% CI] | clean "
                  "[95% CI] | published - clean | explained by the protocol | unexplained | convergence |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in of_task:
            reading = f"`{r.protocol}`" + (f" ({r.label})" if r.label else "")
            reproduced = r.reproduced.text() if r.reproduced else "not run yet"
            clean = r.clean.text() if r.clean else "not run yet"
            gap = None if r.clean is None else r.published - r.clean.value
            condition = f", {r.row['condition']}" if r.row.get("condition") else ""
            parts.append(f"| {r.row['paper']} | {r.row['model']}{condition} | {r.row['metric']} | "
                         f"{r.published:.3f} | {reading} | {reproduced} | {clean} | {_pp(gap)} | "
                         f"{_pp(r.explained)} | {_pp(r.unexplained)} | {_flag_text(r.flags)} |")
        notes = sorted({(r.row["paper"], n) for r in of_task for n in r.notes})
        if notes:
            parts += ["", "Flags not reproduced, or read one way:", ""]
            parts += [f"- {paper}: {note}" for paper, note in notes]
        parts += ["", *protocol_table(audits[task])]
        parts.append("")
    return "\n".join(parts)


def _what(protocol: str) -> str:
    """A single leak's description; a combination is named by its leaks, each described in its own row."""
    try:
        parsed = parse_protocol(protocol)
    except BusbenchError:
        return "not a protocol busbench knows"
    return parsed.describe() if len(parsed.leaks) < 2 else "the leaks named, combined in one run"


def protocol_table(summary: dict[str, Any]) -> list[str]:
    """Markdown lines: every protocol of an audit summary on its own metric, inflation and paired difference.

    The paired difference (leaky minus clean, over the same cases, cluster bootstrap) is missing where the cases
    differ (the lucky split scores its best draw's test part only); the reason is given instead.
    """
    metric = str(summary.get("metric", ""))
    label = metric.replace("_", " ")
    lines = [f"Every protocol of that audit on {label} (95% CI; the paired difference is over the same cases, leaky "
             "minus clean):", "",
             f"| protocol | what leaks | {label} [95% CI] | inflation over clean | paired difference [95% CI] | "
             "convergence |", "|---|---|---|---|---|---|"]
    for row in summary.get("rows", []):
        name = str(row.get("protocol"))
        figure = _figure(row, metric)
        pair = row.get("paired") if isinstance(row.get("paired"), dict) else {}
        if name == "clean":
            paired = "-"
        elif pair.get("difference") is not None:
            paired = Figure(pair["difference"], pair.get("low"), pair.get("high")).text(signed=True)
        else:
            paired = str(pair.get("reason") or "-")
        inflation = row.get("inflation_pp")
        lines.append(f"| `{name}` | {_what(name)} | {figure.text() if figure else str(row.get('status'))} | "
                     f"{'-' if name == 'clean' or inflation is None else f'{inflation:+.1f} pp'} | {paired} | "
                     f"{row.get('_flags') or '-'} |")
    return lines
