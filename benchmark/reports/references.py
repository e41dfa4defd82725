"""The clean-reference report: the runs on the leaderboard split, how each was trained, what pretraining adds.

Markdown for the README block ``references`` (``busbench report references --write README.md``; ``--check`` fails
when it is stale, and the test suite runs the check):

- one table per task, one row per configuration (submission, ImageNet weights or scratch, input size, epochs; the
  newest of its runs), with the headline and its 95% cluster-bootstrap interval, the task's other figures, the
  budget and convergence flags (:func:`benchmark.evaluation.training.trained_text`), the largest fold's wall time
  and the run id;
- the effect of pretraining: for every classification submission with a pretrained and a scratch configuration at
  the same input size and epochs, the paired difference of the headline (pretrained minus scratch) by the paired
  cluster bootstrap and the Nadeau-Bengio corrected resampled t-test over folds, as ``busbench compare`` computes
  them (:func:`benchmark.evaluation.compare.paired_comparison`) with the labels the split file records. Segmentation
  pairs need the dataset's masks, so the report gives the ``busbench compare`` command instead of a number.

Only files are read (the run folders and the split file), so the block is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.evaluation.compare import RecordedLabels, paired_comparison
from benchmark.evaluation.score import HEADLINE, collapse_note
from benchmark.evaluation.training import trained_text
from benchmark.reports.runs import Measured, clean_run_folders
from benchmark.splits.schema import read_split

BLOCK = "references"
REPO = Path(__file__).resolve().parents[2]
SPLIT = Path("splits/busi/5fold_examination.json")
#: Columns per task: (heading, pooled metric key); the headline comes first with its interval.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "classification": (("accuracy", "accuracy"), ("macro F1", "macro_f1"), ("macro AUC (OvR)", "auc_ovr_macro"),
                       ("malignant AUC", "auc_malignant"), ("malignant sens.", "sensitivity_malignant"),
                       ("malignant spec.", "specificity_malignant")),
    "segmentation": (("lesion IoU", "iou"), ("pooled-pixel Dice", "pooled_dice"),
                     ("false-positive rate on normal images", "empty_reference_false_positive_rate")),
}
HEADINGS = {"balanced_accuracy": "balanced accuracy", "dice": "lesion Dice"}


def configurations(runs: list[Measured]) -> list[Measured]:
    """The newest run of every configuration (submission, pretrained, input size, epochs), in a stable order.

    ``n_runs`` of each says how many runs the configuration has.
    """
    groups: dict[tuple[Any, ...], list[Measured]] = {}
    for m in runs:  # oldest first (clean_run_folders' order)
        key = (m.run["task"], m.run["submission"]["name"], not bool(m.run.get("pretrained")), m.run.get("image_size"),
               m.run.get("epochs"))
        groups.setdefault(key, []).append(m)
    return [Measured(ms[-1].run_id, ms[-1].run, ms[-1].metrics, len(ms), ms[-1].folder)
            for _, ms in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0]))]


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _headline(metrics: dict[str, Any]) -> str:
    head = metrics.get("headline") or {}
    return f"**{_number(head.get('value'))}** [{_number(head.get('ci_low'))}, {_number(head.get('ci_high'))}]"


def _slowest_fold_minutes(run: dict[str, Any]) -> str:
    recorded = [f.get("seconds") for f in (run.get("folds") or {}).values() if isinstance(f, dict)]
    seconds = [s for s in recorded if isinstance(s, (int, float))]
    return f"{max(seconds) / 60:.0f} min" if seconds else "-"


def table(task: str, rows: list[Measured]) -> list[str]:
    """The Markdown table of one task's configurations."""
    heads = [h for h, _ in COLUMNS[task]]
    lines = [f"| model | weights | budget; convergence | {HEADINGS[HEADLINE[task]]} [95% CI] | {' | '.join(heads)} "
             "| slowest fold | run |",
             "|" + "---|" * (len(heads) + 6)]
    for m in rows:
        pooled = m.metrics.get("pooled") or {}
        weights = "ImageNet" if m.run.get("pretrained") else "scratch"
        runs = f" (newest of {m.n_runs})" if m.n_runs > 1 else ""
        cells = [f"`{m.run['submission']['name']}`", weights, trained_text(m.run, m.metrics, m.folder),
                 _headline(m.metrics) + collapse_note(m.metrics), *(_number(pooled.get(k)) for _, k in COLUMNS[task]),
                 _slowest_fold_minutes(m.run), f"`{m.run_id}`{runs}"]
        lines.append("| " + " | ".join(" ".join(str(c).split()).replace("|", "\\|") for c in cells) + " |")
    return lines


def _p(value: Any) -> str:
    """``p = 0.012``, ``p < 0.001``, or ``p = -`` when there is none."""
    return "p = -" if not isinstance(value, (int, float)) else ("p < 0.001" if value < 0.001 else f"p = {value:.3f}")


def pretraining_effects(rows: list[Measured], split_file: Path) -> list[str]:
    """One Markdown bullet per submission with a pretrained and a scratch configuration at the same budget."""
    split = None
    out = []
    by_budget: dict[tuple[Any, ...], dict[bool, Measured]] = {}
    for m in rows:
        key = (m.run["task"], m.run["submission"]["name"], m.run.get("image_size"), m.run.get("epochs"))
        by_budget.setdefault(key, {})[bool(m.run.get("pretrained"))] = m
    for (task, name, size, epochs), pair in sorted(by_budget.items(), key=lambda kv: tuple(map(str, kv[0]))):
        if set(pair) != {True, False}:
            continue
        scratch, pretrained = pair[False], pair[True]
        metric = HEADLINE[task]
        if task != "classification":
            out.append(f"- `{name}` ({size} px, {epochs} epochs), {HEADINGS[metric]}: needs the reference masks: "
                       f"`busbench compare leaderboard/results/{scratch.run_id} "
                       f"leaderboard/results/{pretrained.run_id} --dataset path/to/BUSI`")
            continue
        split = split or read_split(split_file)
        if scratch.folder is None or pretrained.folder is None:  # clean_run_folders always records them
            raise TypeError("a compared run needs its folder")
        # RecordedLabels has all of a Dataset that classification scoring reads (see paired_comparison's truth)
        result = paired_comparison(scratch.folder, pretrained.folder, task, split,
                                   RecordedLabels(split), metric)  # type: ignore[arg-type]
        boot, ttest = result["bootstrap"], result["ttest"]
        ttest_text = (f"corrected resampled t-test over folds {_p(ttest.get('p_value'))}"
                      if "undefined" not in ttest else f"t-test undefined: {ttest['undefined']}")
        if boot["difference"] is None or boot["low"] is None:
            difference = f"difference undefined ({boot['reason']})"
        else:
            difference = (f"difference **{boot['difference']:+.3f}** [{boot['low']:+.3f}, {boot['high']:+.3f}] "
                          f"(paired bootstrap over {result['unit']} groups, {_p(boot['p_value'])})")
        out.append(f"- `{name}` ({size} px, {epochs} epochs), {HEADINGS[metric]}: ImageNet "
                   f"{result['b']['value']:.3f} against scratch {result['a']['value']:.3f}, {difference}; {ttest_text}")
    return out


def references_markdown(results: Path, *, split_file: Path = REPO / SPLIT) -> str:
    """The block's Markdown (see the module docstring)."""
    rows = configurations(clean_run_folders(results, split_file))
    shown = split_file.relative_to(REPO) if split_file.is_relative_to(REPO) else split_file
    parts = [f"Runs on `{shown.as_posix()}`, the newest of each configuration.", ""]
    for task in ("classification", "segmentation"):
        of_task = [m for m in rows if m.run["task"] == task]
        parts += [*table(task, of_task), ""] if of_task else [f"No completed {task} run on this split yet.", ""]
    effects = pretraining_effects(rows, split_file)
    if effects:
        parts += ["What ImageNet pretraining adds (pretrained minus scratch, same architecture, recipe, input size "
                  "and epochs; the same 780 cases):", "", *effects, ""]
    return "\n".join(parts)
