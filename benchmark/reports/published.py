"""The curated ledger of published BUSI results, ``leaderboard/published.csv``, built from the seed papers' numbers.

The source, ``shared/reference/seed_published_results.csv``, has one row per number printed in a seed paper (its
own results and the works it cites), with free-text protocol flags that quote the paper with line numbers. The
ledger keeps every row and every value verbatim (a published number is shown as published, never corrected), keeps
the free-text flags as ``source_*`` columns, and adds: a stable ``row_id`` (paper key and a hash of the row's
identifying columns), the seed paper's full ``citation``, normalised flags, the ``busbench_submission`` that
re-implements the system (with ``busbench_notes`` where there is none), and ``headline``.

Normalised flags (closed vocabularies; ``n/a`` where the flag does not apply to the row):

* ``split``: ``kfold`` (k-fold cross-validation), ``single_random_split`` (one hold-out split, stated to be
  shuffled or random), ``single_split`` (one hold-out split, how it was drawn not stated), ``contradictory`` (the
  paper states two incompatible protocols), ``not_stated``.
* ``augmentation_timing``: ``training_only`` (stated or clearly implied), ``before_split_possible`` (described as a
  dataset-level step, so augmented copies may reach the test side), ``ambiguous`` (stated as training-only but
  contradicted elsewhere in the paper), ``none`` (no augmentation), ``not_stated``.
* ``mask_in_input`` (classification): ``yes`` (masks, or class labels, are overlaid on the classifier's input:
  Cheyi's "enhancing and overlaying", Li's "label overlay"), ``no``, ``unclear`` (masks or segmented images may
  reach the input, the paper does not say how), ``not_stated``; ``n/a`` for segmentation rows and parameter counts.
* ``selection_on_test``: was the model (epoch, hyper-parameters) chosen on the images whose score is reported?
  ``yes``, ``likely``, ``no``, ``unknown``.
* ``empty_mask_convention`` (segmentation): ``normal_included_iou_1`` (normal images, whose masks are empty, are
  averaged in and an empty prediction scores 1), ``lesion_only`` (the value is over images with a lesion only),
  ``not_stated``; ``n/a`` for other rows.
* ``pretrained``: ``imagenet``, ``pretrained_unnamed`` (pretrained or fine-tuned, source not named), ``mixed``
  (ImageNet, then another data set), ``none`` (from scratch), ``not_stated``.
* ``image_size``, ``epochs``: the stated number (``224``, ``50``), ``contradictory`` or ``not_stated``.

Rules: a seed paper's own rows start from its defaults (:data:`~benchmark.reports.seed_papers.PAPERS`, from
``seed_protocols.md``) and are refined per row: Cheyi's "with"/"without enhancing and overlaying" conditions set
``mask_in_input`` yes/no; Li's "validation set" rows were selected on that set (yes), its "independent test set"
rows were not (no); Baniadam's per-class IoU rows for benign or malignant are lesion-only, its normal and averaged
ones include normal images scored 1. Rows of cited works get ``not_stated`` (``unknown`` for selection) unless
their source text says otherwise, and no submission. ``pretrained``, ``image_size`` and ``epochs`` are read from
the source's per-row text for every row.

Headline (the rows the README compares, ``headline`` = 1): a seed paper's own row that maps to a submission and is
the paper's summary score of that system in one published condition: overall accuracy for classification, IoU or
Dice for segmentation (not per-class, count or pixel-accuracy rows). For Cheyi only the "all layers trained"
conditions, with and without overlay (two rows per system); for Li both validation and test accuracy (the table
column says which); for Baniadam's U-Net the averaged IoU.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from pathlib import Path

from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_text
from benchmark.reports.seed_papers import NO_SUBMISSION, PAPERS, SYSTEMS, SeedPaper

SOURCE_NAME = "seed_published_results.csv"
SOURCE_COLUMNS = ("source_file", "paper", "cited_work", "table_or_section", "task", "classes", "dataset", "model",
                  "condition", "metric", "averaging", "value", "split_protocol", "augmentation_timing",
                  "uses_mask_in_input", "pretrained", "image_size", "epochs", "notes")
#: Columns that identify a published number (its value and the curator's notes may be corrected without a new id).
IDENTITY = ("source_file", "cited_work", "table_or_section", "task", "classes", "dataset", "model", "condition",
            "metric", "averaging")
FACTS = ("source_file", "paper", "citation", "cited_work", "table_or_section", "task", "classes", "dataset",
         "model", "condition", "metric", "averaging", "value")
#: Normalised flag -> its closed vocabulary (``image_size`` and ``epochs`` may also be a number).
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "split": ("kfold", "single_random_split", "single_split", "contradictory", "not_stated", "n/a"),
    "augmentation_timing": ("training_only", "before_split_possible", "ambiguous", "none", "not_stated", "n/a"),
    "mask_in_input": ("yes", "no", "unclear", "not_stated", "n/a"),
    "selection_on_test": ("yes", "likely", "no", "unknown"),
    "empty_mask_convention": ("normal_included_iou_1", "lesion_only", "not_stated", "n/a"),
    "pretrained": ("imagenet", "pretrained_unnamed", "mixed", "none", "not_stated", "n/a"),
    "image_size": ("contradictory", "not_stated", "n/a"),
    "epochs": ("contradictory", "not_stated", "n/a"),
}
VERBATIM = {"split_protocol": "source_split_protocol", "augmentation_timing": "source_augmentation_timing",
            "uses_mask_in_input": "source_uses_mask_in_input", "pretrained": "source_pretrained",
            "image_size": "source_image_size", "epochs": "source_epochs", "notes": "source_notes"}
COLUMNS = ("row_id", *FACTS, *VOCABULARIES, *VERBATIM.values(), "busbench_submission", "busbench_notes", "headline")


def default_source() -> Path:
    """``$BUSBENCH_SHARED/reference/...``, else ``../shared/reference/...`` next to the busbench checkout."""
    shared = os.environ.get("BUSBENCH_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared"
    return root / "reference" / SOURCE_NAME


def read_source(path: Path) -> list[dict[str, str]]:
    """The source rows, checked: every column present, every row complete, every paper one of the seeds.

    Raises:
        BusbenchError: For a missing, unreadable or malformed file (one line naming it and the problem).
    """
    if not path.is_file():
        raise BusbenchError(path, "does not exist (the seed papers' published results; pass --source)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BusbenchError(path, f"cannot be read as UTF-8 text: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in SOURCE_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise BusbenchError(path, f"is not the published-results CSV: missing column(s) {', '.join(missing)}")
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):  # DictReader's marks of extra and missing fields
            fields = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or ())
            raise BusbenchError(path, f"line {line}: has {fields} fields where the header has "
                                      f"{len(reader.fieldnames or ())}")
        if row["source_file"] not in PAPERS:
            raise BusbenchError(path, f"line {line}: unknown source_file {row['source_file']!r} (not a seed paper)")
        rows.append(row)
    if not rows:
        raise BusbenchError(path, "has no rows")
    return rows


def _split(row: dict[str, str], paper: SeedPaper) -> str:
    if not row["cited_work"]:
        return paper.split
    text = row["split_protocol"].lower()
    if text.startswith("n/a"):
        return "n/a"
    if not text or text.startswith("not stated"):
        return "not_stated"
    if "k-fold" in text or "cross-validation" in text:
        return "kfold"
    return "single_split" if re.search(r"\b(train|training|test|testing|validation)\b", text) else "not_stated"


def _augmentation(row: dict[str, str], paper: SeedPaper) -> str:
    if not row["cited_work"]:
        return paper.augmentation_timing
    # A cited result "on an augmented ... dataset": the augmented copies existed before any split.
    return "before_split_possible" if re.search(r"\baugmented\b[^'.]*\bdataset\b", row["augmentation_timing"]) \
        else "not_stated"


def _mask_in_input(row: dict[str, str], paper: SeedPaper) -> str:
    if row["task"] == "segmentation" or row["condition"].startswith("model size"):
        return "n/a"
    if row["cited_work"]:
        text = row["uses_mask_in_input"].lower()
        if text.startswith("yes"):
            return "yes"
        if re.match(r"no\b", text):  # "no", not "not stated"
            return "no"
        return "unclear" if "segmented" in text else "not_stated"
    if paper.key == "cheyi2024":  # Tables 2-5 and Section 4.1 compare "with" and "without enhancing and overlaying"
        condition = row["condition"].lower()
        return "no" if "without" in condition or "no enhancing" in condition else "yes"
    return paper.mask_in_input


def _selection(row: dict[str, str], paper: SeedPaper) -> str:
    if row["cited_work"]:
        return "unknown"
    if paper.key == "li2025":  # Tables 2-3: the set that picked "(best)" and drove the schedule; Table 4: held out
        if row["condition"].startswith("validation set"):
            return "yes"
        return "no" if row["condition"].startswith("independent test set") else "unknown"
    return paper.selection_on_test


def _empty_mask(row: dict[str, str], paper: SeedPaper) -> str:
    if "segmentation" not in row["task"] or row["condition"].startswith("model size"):
        return "n/a"
    if paper.key == "baniadam2021" and not row["cited_work"]:  # Table 3: IoU per class, normal (U-Net 1.00) averaged in
        per_lesion_class = row["averaging"] in ("per-class: benign", "per-class: malignant")
        return "lesion_only" if per_lesion_class else "normal_included_iou_1"
    return "not_stated"


def _pretrained(text: str) -> str:
    text = text.lower()
    for prefix, flag in (("imagenet then", "mixed"), ("imagenet", "imagenet"), ("scratch", "none"),
                         ("pretrained", "pretrained_unnamed"), ("n/a", "n/a")):
        if text.startswith(prefix):
            return flag
    return "not_stated"


def _image_size(text: str, model: str) -> str:
    # "224x224 for VGG16 (L122); others not stated" holds for that model only.
    match = re.match(r"(\d+)x(\d+)(?: px)?(?: for (\S+))?", text)
    if match and match.group(3) not in (None, model):
        return "not_stated"
    if match:
        width, height = match.group(1), match.group(2)
        return width if width == height else f"{width}x{height}"
    return "n/a" if text.startswith("n/a") else "not_stated"


def _epochs(text: str) -> str:
    match = re.match(r"(\d+)\b", text)
    if match:
        return match.group(1)
    for prefix in ("contradictory", "n/a"):
        if text.startswith(prefix):
            return prefix
    return "not_stated"


def _submission(row: dict[str, str], paper: SeedPaper) -> tuple[str, str]:
    if row["cited_work"]:
        return "", ""
    key = (paper.key, row["task"], row["model"])
    return SYSTEMS.get(key, ""), NO_SUBMISSION.get(key, "")


def is_headline(row: dict[str, str], paper: SeedPaper, submission: str) -> bool:
    """Whether the README compares this row (see the module docstring for the rule)."""
    if not submission or row["cited_work"] or row["averaging"].startswith(("per-class", "count")):
        return False
    if paper.key == "cheyi2024" and not row["condition"].startswith("all layers trained"):
        return False
    wanted = {"classification": ("accuracy",), "segmentation": ("iou", "dice")}.get(row["task"], ())
    return row["metric"] in wanted


def _row_id(row: dict[str, str], paper: SeedPaper, seen: set[str]) -> str:
    digest = hashlib.sha256("\x1f".join(row[c] for c in IDENTITY).encode()).hexdigest()[:8]
    row_id, n = f"{paper.key}-{digest}", 1
    while row_id in seen:  # two numbers with identical identifying columns: number them in source order
        n += 1
        row_id = f"{paper.key}-{digest}-{n}"
    seen.add(row_id)
    return row_id


def normalise(row: dict[str, str], seen: set[str]) -> dict[str, str]:
    """One ledger row from one source row (``seen`` collects the row ids given so far)."""
    paper = PAPERS[row["source_file"]]
    submission, notes = _submission(row, paper)
    out = {"row_id": _row_id(row, paper, seen), **{c: row[c] for c in FACTS if c != "citation"}}
    out["citation"] = paper.citation
    out.update({
        "split": _split(row, paper),
        "augmentation_timing": _augmentation(row, paper),
        "mask_in_input": _mask_in_input(row, paper),
        "selection_on_test": _selection(row, paper),
        "empty_mask_convention": _empty_mask(row, paper),
        "pretrained": _pretrained(row["pretrained"]),
        "image_size": _image_size(row["image_size"], row["model"]),
        "epochs": _epochs(row["epochs"]),
    })
    out.update({new: row[old] for old, new in VERBATIM.items()})
    out.update(busbench_submission=submission, busbench_notes=notes,
               headline="1" if is_headline(row, paper, submission) else "0")
    for flag, vocabulary in VOCABULARIES.items():  # the rules above may only produce documented values
        if out[flag] not in vocabulary and not (flag in ("image_size", "epochs") and out[flag][:1].isdigit()):
            raise ValueError(f"bug: flag {flag}={out[flag]!r} is outside its vocabulary")
    return {c: out[c] for c in COLUMNS}


def build_published(source: Path) -> list[dict[str, str]]:
    """The ledger rows, in source order (deterministic: the same source gives the same bytes)."""
    seen: set[str] = set()
    return [normalise(row, seen) for row in read_source(source)]


def to_csv(rows: list[dict[str, str]]) -> str:
    """The ledger as CSV text (header first, Unix line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_published(source: Path, out: Path) -> list[dict[str, str]]:
    """Build the ledger from ``source`` and write it to ``out`` atomically; returns its rows."""
    rows = build_published(source)
    atomic_write_text(out, to_csv(rows))
    return rows
