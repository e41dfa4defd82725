"""External-validation split files: train on one dataset's folds, test on every case of another.

An external split file is JSON::

    {
      "format": "busbench-external/1",
      "train": {<the training dataset's split file, whole: its folds, cases and generator>},
      "test": {"dataset": {"name", "fingerprint", "n_cases", "classes"}, "generator": {...},
               "cases": {"<case_id>": {"fingerprint", "label", "group", "cluster", ("patient")}},
               "duplicates_of_training": [{"test", "train", "kind", "score"}, ...]},
      "class_mapping": {"head": [...], "scored": [...], "rule": "identity" | "renormalise"}
    }

Both sides are verified against their data on every load (:func:`load_external`), as a split file is: a changed
image, label or case of either dataset is an error naming it. The test side's ``group`` is the bootstrap unit of the
external score's intervals (patient and near-duplicate chains united where the data have patient ids, else
duplicate clusters), made as ``busbench splits make`` groups. ``duplicates_of_training`` lists the test images that
are also in the training data, exactly or nearly (:func:`benchmark.data.duplicates.cross_duplicates`): a model
may have trained on them, so their number is reported wherever the external score is.

The class mapping says how the model's head becomes the scored probabilities: ``identity`` when the head's classes
are the scored ones; ``renormalise`` when a three-class head (normal, benign, malignant) is scored on benign vs
malignant: ``p_benign / (p_benign + p_malignant)`` and ``p_malignant / (p_benign + p_malignant)``, and ``0.5`` each
where the head gives both zero. A two-class head cannot be scored on data with normal images: the test side is then
made with ``classes=("benign", "malignant")`` (its normal images left out, and recorded).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import DetectorParams, cross_duplicates
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_json, read_json
from benchmark.splits.make import case_records, class_set, grouping, library_versions
from benchmark.splits.schema import CaseRecord, Fold, SplitFile, cases_from_json, cases_to_json, split_from_json
from benchmark.splits.verify import verify_split

FORMAT = "busbench-external/1"
RULES = ("identity", "renormalise")


@dataclass(frozen=True)
class ClassMapping:
    """How a head's probabilities become the scored classes' (see module docstring).

    Attributes:
        head: The model's classes (the training split's).
        scored: The classes the test side scores.
    """

    head: tuple[str, ...]
    scored: tuple[str, ...]

    @property
    def rule(self) -> str:
        """``identity`` or ``renormalise``."""
        return "identity" if self.head == self.scored else "renormalise"

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """The scored classes' probabilities from the head's, ``(N, len(head))`` -> ``(N, len(scored))``."""
        p = np.asarray(probs, dtype=float)
        if self.rule == "identity":
            return p
        kept = p[:, [self.head.index(c) for c in self.scored]]
        total = kept.sum(axis=1, keepdims=True)
        even = np.full_like(kept, 1 / kept.shape[1])
        return np.where(total > 0, kept / np.where(total > 0, total, 1), even)

    def to_json(self) -> dict[str, Any]:
        """The ``class_mapping`` record (in the file and in every external run)."""
        return {"head": list(self.head), "scored": list(self.scored), "rule": self.rule}


def class_mapping(head: tuple[str, ...], scored: tuple[str, ...], where: str) -> ClassMapping:
    """The mapping from ``head`` to ``scored``.

    Raises:
        BusbenchError: If a scored class has no output in the head (a two-class head on data with normal images).
    """
    missing = [c for c in scored if c not in head]
    if missing:
        raise BusbenchError(where, f"the model's head ({', '.join(head)}) has no output for {', '.join(missing)}; "
                                   "score the test data on benign vs malignant (--test-classes benign,malignant)")
    return ClassMapping(tuple(head), tuple(scored))


@dataclass(frozen=True)
class ExternalTest:
    """The test side of an external split: every case of the test dataset in the scored classes.

    Attributes:
        dataset_name: The test dataset's name.
        dataset_fingerprint: Its fingerprint.
        classes: The classes scored.
        generator: How the side was made (grouping, classes, duplicate detector, library versions).
        cases: Per case id, its fingerprint, label, group (the bootstrap unit), cluster and patient.
        duplicates_of_training: Test cases whose image is also in the training data: ``{test case: {"train",
            "kind", "score"}}``.
    """

    dataset_name: str
    dataset_fingerprint: str
    classes: tuple[str, ...]
    generator: dict[str, Any]
    cases: dict[str, CaseRecord]
    duplicates_of_training: dict[str, dict[str, Any]]

    @property
    def case_ids(self) -> tuple[str, ...]:
        """Every test case, sorted."""
        return tuple(sorted(self.cases))

    def as_split(self, classes: tuple[str, ...] | None = None) -> SplitFile:
        """The side as a one-fold split whose test part is every case: what the readers and the scorer take.

        Args:
            classes: The probability columns (the model head's, to read a fold's raw predictions); default: the
                scored classes.
        """
        return SplitFile(self.dataset_name, self.dataset_fingerprint, classes or self.classes, self.generator,
                         dict(self.cases), [Fold((), (), self.case_ids)])

    def to_json(self) -> dict[str, Any]:
        """The ``test`` section."""
        return {"dataset": {"name": self.dataset_name, "fingerprint": self.dataset_fingerprint,
                            "n_cases": len(self.cases), "classes": list(self.classes)},
                "generator": self.generator, "cases": cases_to_json(self.cases),
                "duplicates_of_training": [{"test": b, **d} for b, d in sorted(self.duplicates_of_training.items())]}


@dataclass(frozen=True)
class ExternalSplit:
    """A parsed external split: the training split, the test side and the class mapping."""

    train: SplitFile
    test: ExternalTest
    mapping: ClassMapping

    def to_json(self) -> dict[str, Any]:
        """The JSON document (see module docstring)."""
        return {"format": FORMAT, "train": self.train.to_json(), "test": self.test.to_json(),
                "class_mapping": self.mapping.to_json()}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically."""
        atomic_write_json(path, self.to_json(), indent=1)

    def provenance(self, path: str, sha256: str) -> dict[str, Any]:
        """The ``split`` record of an external run: the file, the training split's folds and the test side."""
        return {**self.train.provenance(path, sha256, protocol="external"), "test_dataset": self.test.dataset_name,
                "test_group": self.test.generator.get("group"), "test_classes": list(self.test.classes),
                "class_mapping": self.mapping.to_json()}


def make_external(train: SplitFile, train_dataset: Dataset, test_dataset: Dataset, *,
                  classes: tuple[str, ...] | None = None, group: str = "auto", progress: bool = False) -> ExternalSplit:
    """An external split: ``train``'s folds, and every case of ``test_dataset`` in the scored classes.

    Args:
        train: The training dataset's verified split (its folds train and select the models).
        train_dataset: The data ``train`` was verified against (searched for copies of the test images).
        test_dataset: The data every model predicts.
        classes: The classes scored on the test data (default: the training split's, where the test data have
            cases of each; else every class the test data have).
        group: The test side's grouping, the bootstrap unit (as ``busbench splits make --group``).
        progress: Show progress while decoding and detecting duplicates.

    Raises:
        BusbenchError: For classes the data lack or the head cannot score, an unknown grouping, or a test dataset
            that is the training dataset.
    """
    if test_dataset.fingerprint() == train.dataset_fingerprint:
        raise BusbenchError(test_dataset.name, "is the training split's own dataset; external validation tests on "
                                               "other data")
    if classes is None:
        labels = {c.label for c in test_dataset.cases}
        classes = train.classes if set(train.classes) <= labels else None
    chosen = class_set(test_dataset, classes)
    mapping = class_mapping(tuple(train.classes), chosen, "--test-classes")
    resolved, groups, report = grouping(test_dataset, group, progress=progress)
    clusters = report.cluster_ids([c.case_id for c in test_dataset.cases])
    groups = {c.case_id: groups[c.case_id] for c in test_dataset.cases if c.label in chosen}
    generator = {"command": "busbench splits external", "group": resolved, "classes": list(chosen),
                 "duplicate_detector": report.params.as_dict(), "versions": library_versions()}
    copies = {p.b: {"train": p.a, "kind": p.kind, "score": p.score}
              for p in cross_duplicates(train_dataset, test_dataset, report.params, progress=progress) if p.b in groups}
    test = ExternalTest(test_dataset.name, test_dataset.fingerprint(), chosen, generator,
                        case_records(test_dataset, groups, clusters), copies)
    return ExternalSplit(train, test, mapping)


def read_external(path: str | os.PathLike[str]) -> ExternalSplit:
    """Read an external split file and check its structure (not yet against the data: :func:`load_external`).

    Raises:
        BusbenchError: If the file is unreadable or not an external split file.
    """
    where = str(path)
    doc = read_json(path, missing="external split file does not exist", invalid="cannot read it as JSON")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise BusbenchError(where, f"is not an external split file (format {found!r}, expected {FORMAT!r}; make "
                                   "one with 'busbench splits external')")
    train = split_from_json(doc.get("train"), f"{where} (train)")
    raw, raw_mapping = doc.get("test"), doc.get("class_mapping")
    if not isinstance(raw, dict) or not isinstance(raw.get("dataset"), dict) or not isinstance(raw.get("cases"), dict):
        raise BusbenchError(where, "'test' needs 'dataset' and 'cases' objects")
    dataset = raw["dataset"]
    cases = cases_from_json(raw["cases"], f"{where} (test)")
    if not cases:
        raise BusbenchError(where, "the test side has no cases")
    copies: dict[str, dict[str, Any]] = {}
    for entry in raw.get("duplicates_of_training") or []:
        if not isinstance(entry, dict) or entry.get("test") not in cases or not entry.get("train"):
            raise BusbenchError(where, f"'duplicates_of_training' has an entry that names no test case: {entry!r}")
        copies[str(entry["test"])] = {k: entry.get(k) for k in ("train", "kind", "score")}
    test = ExternalTest(str(dataset.get("name")), str(dataset.get("fingerprint")),
                        tuple(str(c) for c in dataset.get("classes") or ()), dict(raw.get("generator") or {}), cases,
                        copies)
    if not isinstance(raw_mapping, dict):
        raise BusbenchError(where, "'class_mapping' is missing")
    mapping = class_mapping(tuple(raw_mapping.get("head") or ()), tuple(raw_mapping.get("scored") or ()), where)
    if mapping.head != tuple(train.classes) or mapping.scored != test.classes:
        raise BusbenchError(where, "'class_mapping' does not map the training split's classes to the test side's")
    if raw_mapping.get("rule") != mapping.rule:
        raise BusbenchError(where, f"'class_mapping' says rule {raw_mapping.get('rule')!r}, but its classes give "
                                   f"{mapping.rule!r}")
    stray = [cid for cid, r in cases.items() if r.label not in test.classes]
    if stray:
        raise BusbenchError(where, f"test case(s) of classes the side does not score: {', '.join(stray[:5])}")
    return ExternalSplit(train, test, mapping)


def load_external(path: str | os.PathLike[str], train_dataset: Dataset, test_dataset: Dataset) -> ExternalSplit:
    """Read an external split file and verify both sides against their data; the only way it is loaded for use.

    Raises:
        BusbenchError: If the file is malformed or either side does not match its data.
    """
    split = read_external(path)
    verify_split(split.train, train_dataset, f"{path} (training side)")
    verify_split(split.test, test_dataset, f"{path} (test side)")
    return split


def check_duplicates_of_training(split: ExternalSplit, train_dataset: Dataset, test_dataset: Dataset,
                                 where: str) -> None:
    """Run the detector across the two datasets again and check the file's ``duplicates_of_training``.

    Raises:
        BusbenchError: If the test images found in the training data are not the ones the file lists.
    """
    params = DetectorParams(**split.test.generator.get("duplicate_detector", {}))
    found = {p.b for p in cross_duplicates(train_dataset, test_dataset, params) if p.b in split.test.cases}
    listed = set(split.test.duplicates_of_training)
    if found != listed:
        unlisted = ", ".join(sorted(found - listed)[:5]) or "none"
        missing = ", ".join(sorted(listed - found)[:5]) or "none"
        raise BusbenchError(where, f"lists {len(listed)} test image(s) that are also in the training data, the "
                                   f"detector finds {len(found)} (not listed: {unlisted}; listed but not found: "
                                   f"{missing})")


def is_external(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds an external split file (by its ``format``); ``False`` for anything else."""
    try:
        doc = read_json(path, missing="does not exist", invalid="not JSON")
    except BusbenchError:
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def render_external(split: ExternalSplit) -> str:
    """What an external split trains on, tests on and how it maps classes, in a few lines."""
    train, test = split.train, split.test
    counts = Counter(r.label for r in test.cases.values())
    rule = split.mapping.rule
    how = ("the head's classes are the scored ones" if rule == "identity" else
           f"{', '.join(split.mapping.head)} head, scored on {' vs '.join(split.mapping.scored)} by renormalising "
           "those probabilities")
    return "\n".join([
        f"train: {train.dataset_name} ({len(train.cases)} cases, {train.k} folds, grouped by "
        f"{train.generator.get('group')}, classes {', '.join(train.classes)})",
        f"test:  {test.dataset_name} ({len(test.cases)} cases: "
        f"{', '.join(f'{counts[c]} {c}' for c in test.classes)}; {len({r.group for r in test.cases.values()})} "
        f"groups by {test.generator.get('group')}, the bootstrap unit)",
        f"class mapping: {rule} ({how})",
        f"test cases whose image is also in the training data: {len(test.duplicates_of_training)} of "
        f"{len(test.cases)}" + (f" ({', '.join(sorted(test.duplicates_of_training)[:5])}"
                                f"{', ...' if len(test.duplicates_of_training) > 5 else ''})"
                                if test.duplicates_of_training else ""),
    ])
