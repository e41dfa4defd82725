"""Which protocol reproduces a published number: the protocol flags of ``leaderboard/published.csv``, read as leaks.

:data:`FLAG_READINGS` is the one table that maps each flag value the ledger records (its closed vocabularies, see
:mod:`benchmark.reports.published`) to the leaks it means:

* One reading where the paper says what it did, or where its wording makes a leak likely.
* Two readings where the paper is ambiguous ("augmentation maybe before the split", "masks may reach the input"):
  both are run, and each reproduced number is labelled with its reading.
* No leak and a note where a flag cannot be reproduced (not stated, unknown): the table says so instead of guessing.

No seed paper groups duplicates or patients, so every split flag reads as an image-level split (``naive-split``):
a single hold-out split is reproduced as image-level k-fold cross-validation, whose pooled score is what one such
split gives on average (with an interval); the ``lucky-split`` row of the audit shows how far one draw can move.
:func:`readings` combines the flags of one published row into its protocols (the product of every flag's
readings); :func:`paper_protocols` collects those of every headline row of a task, for ``busbench audit protocols
--protocols papers``.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchmark.audit.leaks import Protocol
from benchmark.errors import BusbenchError

#: The ledger, as committed (commands take it relative to the repository root, where they run).
PUBLISHED = Path("leaderboard/published.csv")
#: The ledger's columns that busbench reads.
NEEDED = ("paper", "model", "busbench_submission", "headline", "table_or_section", "condition", "metric", "value",
          "split", "augmentation_timing", "mask_in_input", "selection_on_test", "empty_mask_convention", "pretrained",
          "image_size", "epochs")


def read_published(path: Path) -> list[dict[str, str]]:
    """The ledger's rows (see :mod:`benchmark.reports.published`)."""
    if not path.is_file():
        raise BusbenchError(path, "does not exist; build it with 'busbench report published'")
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    missing = [c for c in NEEDED if c not in (reader.fieldnames or ())]
    if missing:
        raise BusbenchError(path, f"is not the published-results ledger: missing column(s) {', '.join(missing)}")
    return list(reader)


#: Short words for the flags that make a published number optimistic or unverifiable (clean values say nothing).
FLAG_WORDS: dict[str, dict[str, str]] = {
    "split": {"single_random_split": "one random split", "single_split": "one split", "kfold": "k-fold CV",
              "contradictory": "split contradictory", "not_stated": "split not stated"},
    "augmentation_timing": {"before_split_possible": "augmentation maybe before split",
                            "ambiguous": "augmentation timing ambiguous",
                            "not_stated": "augmentation timing not stated"},
    "mask_in_input": {"yes": "mask/label overlay in input", "unclear": "masks in input unclear",
                      "not_stated": "input not described"},
    "selection_on_test": {"yes": "selected on the reported set", "likely": "likely selected on the reported set",
                          "unknown": "selection not described"},
    "empty_mask_convention": {"normal_included_iou_1": "normal images scored 1",
                              "not_stated": "normal images in/out not stated"},
    "pretrained": {"imagenet": "ImageNet weights", "pretrained_unnamed": "pretrained (source unnamed)",
                   "mixed": "multi-stage pretraining", "not_stated": "pretraining not stated"},
}


def flag_words(row: dict[str, str]) -> list[str]:
    """The ledger row's protocol flags in short words (:data:`FLAG_WORDS`), the flags that say nothing left out."""
    return [w for f in FLAG_WORDS if (w := FLAG_WORDS[f].get(row.get(f, ""), ""))]


@dataclass(frozen=True)
class FlagReading:
    """How one recorded flag value reads: alternatives of (leaks, label), and a note where it is not reproduced.

    Attributes:
        alternatives: Each reading's leaks and its label (empty when the flag has one reading).
        note: Said beside the reproduced number when the flag cannot be reproduced (empty otherwise).
    """

    alternatives: tuple[tuple[tuple[str, ...], str], ...]
    note: str = ""


def _one(*leaks: str, note: str = "") -> FlagReading:
    """A flag value with one reading: these leaks (none for a clean step)."""
    return FlagReading(((tuple(leaks), ""),), note)


def _either(leak: str, without: str, with_: str) -> FlagReading:
    """An ambiguous flag value: one reading without ``leak`` and one with it, labelled."""
    return FlagReading((((), without), ((leak,), with_)))


_AUGMENT_MAYBE = _either("augment-before-split", "augmentation in training only", "augmentation before the split")

#: flag (a ``published.csv`` column) -> recorded value -> its reading. A value missing here is an error, never a guess.
FLAG_READINGS: dict[str, dict[str, FlagReading]] = {
    "split": {
        "kfold": _one("naive-split"),
        "single_split": _one("naive-split", note="single hold-out split, reproduced as image-level 5-fold CV"),
        "single_random_split": _one("naive-split", note="single random split, reproduced as image-level 5-fold CV"),
        "not_stated": _one("naive-split", note="split not stated: read as image-level (no grouping is described)"),
        "contradictory": _one("naive-split", note="split contradictory: read as image-level (no grouping is "
                                                  "described)"),
    },
    "augmentation_timing": {
        "training_only": _one(),
        "none": _one(),
        "before_split_possible": _AUGMENT_MAYBE,
        "ambiguous": _AUGMENT_MAYBE,
        "not_stated": _one(note="augmentation timing not stated: not reproduced (training only)"),
    },
    "mask_in_input": {
        "yes": _one("mask-overlay"),
        "no": _one(),
        "unclear": _either("mask-overlay", "no mask in the input", "mask overlaid on the input"),
        "not_stated": _one(note="mask in the input not stated: not reproduced"),
    },
    "selection_on_test": {
        "yes": _one("select-on-test"),
        "likely": _one("select-on-test", note="selection on the reported set likely: reproduced"),
        "no": _one(),
        "unknown": _one(note="selection on the reported set unknown: not reproduced"),
    },
    "empty_mask_convention": {
        "normal_included_iou_1": _one("empty-mask-scored-1"),
        "lesion_only": _one(),
        "not_stated": _one(note="empty-mask convention not stated: scored on lesion images only"),
    },
}
#: The flags that apply to each task.
TASK_FLAGS = {"classification": ("split", "augmentation_timing", "mask_in_input", "selection_on_test"),
              "segmentation": ("split", "augmentation_timing", "selection_on_test", "empty_mask_convention")}


@dataclass(frozen=True)
class Reading:
    """One way to reproduce a published number.

    Attributes:
        protocol: The leaks to run.
        label: Which reading of an ambiguous paper this is (empty when the paper allows only one).
        notes: The flags that could not be reproduced, and how the split was read.
    """

    protocol: Protocol
    label: str
    notes: tuple[str, ...]


class UnknownFlag(ValueError):
    """A published row records a flag value the reading table does not cover."""


def readings(row: dict[str, str]) -> list[Reading]:
    """The protocols that reproduce one published row (one per combination of its flags' readings).

    Args:
        row: A ``published.csv`` row (its ``task`` and protocol flags).

    Raises:
        UnknownFlag: If a flag value is not in :data:`FLAG_READINGS` (the table must be extended, not guessed).
    """
    task = row["task"]
    per_flag, notes = [], []
    for flag in TASK_FLAGS[task]:
        value = (row.get(flag) or "").strip()
        reading = FLAG_READINGS[flag].get(value)
        if reading is None:
            raise UnknownFlag(f"published row {row.get('row_id', '?')}: {flag} {value!r} has no reading in "
                              "benchmark.audit.paper_protocols.FLAG_READINGS")
        per_flag.append(reading.alternatives)
        if reading.note:
            notes.append(reading.note)
    out = []
    for combo in itertools.product(*per_flag):
        leaks = {leak for alternative, _ in combo for leak in alternative}
        if "augment-before-split" in leaks:
            leaks.discard("naive-split")  # the pool is dealt per image already (benchmark.audit.leaks)
        label = "; ".join(lbl for _, lbl in combo if lbl)
        out.append(Reading(Protocol(frozenset(leaks)), label, tuple(notes)))
    return out


def paper_protocols(rows: Iterable[dict[str, str]], task: str) -> list[Protocol]:
    """Every protocol that reproduces a headline row of ``task``, each once, in the order first met."""
    found: dict[Protocol, None] = {}
    for row in rows:
        if row.get("headline") == "1" and row.get("task") == task:
            for reading in readings(row):
                found.setdefault(reading.protocol)
    return list(found)
