"""The split file format, and its structural checks.

A split file is JSON::

    {
      "format": "busbench-splits/1",
      "dataset": {"name": "BUSI", "fingerprint": "<sha256>", "n_cases": 780, "classes": [...]},
      "generator": {"command": "...", "k": 5, "seed": 0, "group": "duplicates", ..., "versions": {...}},
      "cases": {"<case_id>": {"fingerprint": "<sha256>", "label": "benign", "group": "<id>", "cluster": "<id>",
                              "patient": "<id>"}},
      "folds": [{"fold": 0, "train": [...], "val": [...], "test": [...]}, ...]
    }

``group`` is what the folds were grouped by (a duplicate cluster, a patient, both united, or the case itself for
``none``); ``cluster`` is the duplicate cluster found at generation time, kept for every grouping so that leakage
of an ungrouped split can be reported from the file alone; ``patient`` is the patient id where the data publish one
(absent otherwise), kept for every grouping so that patient leakage is reported from the file alone too. Every
fold's ``train``, ``val`` and ``test`` are disjoint and together hold every case; each case is a test case of
exactly one fold.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BusbenchError, list_some
from benchmark.fileio import atomic_write_json, read_json

#: What ``busbench splits make --group`` can keep within one fold. ``auto`` is ``patient+duplicates`` for data with
#: a patient id on every case, else ``duplicates`` (:func:`benchmark.splits.make.resolve_grouping`).
GROUPINGS = ("auto", "examination", "patient+duplicates", "duplicates", "patient", "none")

FORMAT = "busbench-splits/1"
PARTS = ("train", "val", "test")
#: The groupings whose folds keep every group on one side: the leaderboard's clean protocol.
GROUPED = ("examination", "patient+duplicates", "duplicates", "patient")


@dataclass(frozen=True)
class Fold:
    """One outer fold: inner training part, inner validation part (from the training side) and test part."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class CaseRecord:
    """What a split file records about one case, to check it against the data later."""

    fingerprint: str
    label: str
    group: str
    cluster: str
    patient: str | None = None


@dataclass
class SplitFile:
    """A parsed split file.

    Attributes:
        dataset_name: Name of the dataset the split was made from.
        dataset_fingerprint: That dataset's fingerprint (``Dataset.fingerprint()``).
        classes: The dataset's classes.
        generator: How the file was made (command, parameters, library versions).
        cases: Per case id, its recorded fingerprint, label, group and duplicate cluster.
        folds: The folds in order.
    """

    dataset_name: str
    dataset_fingerprint: str
    classes: tuple[str, ...]
    generator: dict[str, Any]
    cases: dict[str, CaseRecord]
    folds: list[Fold] = field(default_factory=list)

    @property
    def k(self) -> int:
        """Number of folds."""
        return len(self.folds)

    def chosen_folds(self, requested: Sequence[int] | None) -> list[int]:
        """The folds a command's ``--folds`` names, sorted and without repeats (``None``: every fold).

        Raises:
            BusbenchError: If a requested fold does not exist in this split.
        """
        chosen = sorted(set(requested)) if requested is not None else list(range(self.k))
        bad = [k for k in chosen if not 0 <= k < self.k]
        if bad:
            raise BusbenchError("--folds", f"fold(s) {bad} do not exist; the split has folds 0..{self.k - 1}")
        return chosen

    @property
    def protocol(self) -> str:
        """``"clean"`` (grouped, :data:`GROUPED`), ``"naive-split"`` (image-level) or ``"manual"`` (edited by hand).

        Only grouped splits made by busbench are the leaderboard's clean protocol; an image-level split is kept to
        measure leakage, and a hand-edited one is reported as such.
        """
        if self.generator.get("command") == "manual":  # edited by hand (benchmark.splits.provenance)
            return "manual"
        return "clean" if self.generator.get("group") in GROUPED else "naive-split"

    def provenance(self, path: str | None, sha256: str | None, *, protocol: str | None = None) -> dict[str, Any]:
        """The ``split`` record of a run document: which file, its sha256, folds, grouping, protocol and classes.

        Args:
            path: The split file as the user named it (``split.json`` for an audit's own split).
            sha256: The file's sha256.
            protocol: The evaluation protocol, when it is not the split's own (:attr:`protocol`): an audit's leak.
        """
        return {"path": path, "sha256": sha256, "k": self.k, "group": self.generator.get("group"),
                "protocol": protocol or self.protocol, "classes": list(self.classes)}

    def to_json(self) -> dict[str, Any]:
        """The JSON document (see module docstring)."""
        return {
            "format": FORMAT,
            "dataset": {
                "name": self.dataset_name,
                "fingerprint": self.dataset_fingerprint,
                "n_cases": len(self.cases),
                "classes": list(self.classes),
            },
            "generator": self.generator,
            "cases": cases_to_json(self.cases),
            "folds": [
                {"fold": i, "train": sorted(f.train), "val": sorted(f.val), "test": sorted(f.test)}
                for i, f in enumerate(self.folds)
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Check the structure, then write the file atomically."""
        check_structure(self, str(path))
        atomic_write_json(path, self.to_json(), indent=1)


def _case_json(record: CaseRecord) -> dict[str, str]:
    doc = {"fingerprint": record.fingerprint, "label": record.label, "group": record.group, "cluster": record.cluster}
    if record.patient is not None:  # files of data without patient ids stay as they were
        doc["patient"] = record.patient
    return doc


def _get(doc: dict, key: str, kind: type, where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise BusbenchError(where, f"not a busbench split file: missing {key!r}")
    value = doc[key]
    if not isinstance(value, kind):
        raise BusbenchError(where, f"not a busbench split file: {key!r} should be a {kind.__name__}")
    return value


def read_split(path: str | os.PathLike[str]) -> SplitFile:
    """Read a split file and check its structure (not yet against any data: see ``verify.verify_split``).

    Raises:
        BusbenchError: If the file is unreadable, not JSON, not a split file, or structurally inconsistent.
    """
    where = str(path)
    doc = read_json(path, missing="split file does not exist", invalid="cannot read split file as JSON")
    return split_from_json(doc, where)


def split_from_json(doc: Any, where: str) -> SplitFile:
    """A split from its JSON document (a file's, or one embedded in an external split), structure checked.

    Raises:
        BusbenchError: If the document is not a split or is structurally inconsistent, naming ``where``.
    """
    if not isinstance(doc, dict):
        raise BusbenchError(where, "is not a split file (not a JSON object)")
    if _get(doc, "format", str, where) != FORMAT:
        raise BusbenchError(where, f"unsupported split format {doc['format']!r} (expected {FORMAT!r})")
    dataset = _get(doc, "dataset", dict, where)
    cases = cases_from_json(_get(doc, "cases", dict, where), where)
    raw_folds = _get(doc, "folds", list, where)
    folds = []
    for i, raw in enumerate(raw_folds):
        if not isinstance(raw, dict) or raw.get("fold") != i:
            raise BusbenchError(where, f"fold entry {i} is malformed or out of order (expected 'fold': {i})")
        parts: list[Any] = [raw.get(p) for p in PARTS]
        if not all(isinstance(p, list) and all(isinstance(c, str) for c in p) for p in parts):
            raise BusbenchError(where, f"fold {i} needs 'train', 'val' and 'test' lists of case ids")
        folds.append(Fold(*(tuple(p) for p in parts)))
    split = SplitFile(
        dataset_name=str(_get(dataset, "name", str, where)),
        dataset_fingerprint=str(_get(dataset, "fingerprint", str, where)),
        classes=tuple(_get(dataset, "classes", list, where)),
        generator=_get(doc, "generator", dict, where),
        cases=cases,
        folds=folds,
    )
    expected_k = split.generator.get("k")
    if isinstance(expected_k, int) and expected_k != split.k:
        raise BusbenchError(where, f"fold(s) missing: the generator made k={expected_k} folds, the file has {split.k}")
    check_structure(split, where)
    return split


def cases_from_json(raw_cases: dict[str, Any], where: str) -> dict[str, CaseRecord]:
    """The ``cases`` section of a split document, parsed.

    Raises:
        BusbenchError: For a case without fingerprint, label, group or cluster.
    """
    cases: dict[str, CaseRecord] = {}
    for cid, rec in raw_cases.items():
        try:
            patient = rec.get("patient")
            cases[cid] = CaseRecord(str(rec["fingerprint"]), str(rec["label"]), str(rec["group"]), str(rec["cluster"]),
                                    None if patient is None else str(patient))
        except (TypeError, KeyError, AttributeError) as exc:
            raise BusbenchError(where, f"case {cid!r} lacks fingerprint, label, group or cluster") from exc
    return cases


def cases_to_json(cases: dict[str, CaseRecord]) -> dict[str, dict[str, str]]:
    """The ``cases`` section of a split document, sorted by case id."""
    return {cid: _case_json(r) for cid, r in sorted(cases.items())}


def check_structure(split: SplitFile, where: str) -> None:
    """Check a split's internal consistency.

    Every fold must partition exactly the recorded cases into disjoint train/val/test parts, each case must be a test
    case of exactly one fold, and there must be at least two folds.

    Raises:
        BusbenchError: Naming the fold, the part and the offending cases.
    """
    if split.k < 2:
        raise BusbenchError(where, f"needs at least 2 folds, has {split.k}")
    universe = set(split.cases)
    test_count: Counter[str] = Counter()
    for i, fold in enumerate(split.folds):
        seen: dict[str, str] = {}
        for part in PARTS:
            ids = getattr(fold, part)
            repeated = [c for c, n in Counter(ids).items() if n > 1]
            if repeated:
                raise BusbenchError(where, f"fold {i}: case(s) listed twice in {part}: {list_some(repeated)}")
            both = [c for c in ids if c in seen]
            if both:
                raise BusbenchError(
                    where, f"fold {i}: case(s) in two parts ({seen[both[0]]} and {part}): {list_some(both)}"
                )
            seen.update((c, part) for c in ids)
        unknown = set(seen) - universe
        if unknown:
            raise BusbenchError(where, f"fold {i}: case(s) not listed under 'cases': {list_some(unknown)}")
        absent = universe - set(seen)
        if absent:
            raise BusbenchError(where, f"fold {i}: case(s) in no part: {list_some(absent)}")
        if not fold.test or not fold.train:
            raise BusbenchError(where, f"fold {i}: empty {'test' if not fold.test else 'train'} part")
        test_count.update(fold.test)
    twice = [c for c, n in test_count.items() if n > 1]
    if twice:
        raise BusbenchError(where, f"case(s) in the test part of more than one fold: {list_some(twice)}")
    never = universe - set(test_count)
    if never:
        raise BusbenchError(where, f"case(s) in no fold's test part: {list_some(never)}")
