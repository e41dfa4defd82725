"""A split's folds tied to how the file says they were made: remade from its generator record and compared.

``busbench splits verify`` calls :func:`check_provenance` after the data check. A file made by ``busbench splits
make`` is made again with the settings its generator records (k, seed, grouping, validation fraction, detector
and examination rule); one imported by ``busbench splits import-busbra`` is imported again from the dataset's own
fold file. Every fold's parts and every case's group must come out the same, so a file whose folds or groups were
edited by hand fails, naming the first difference. A split edited on purpose says so: ``busbench splits
mark-edited FILE --reason TEXT`` records it as ``generator: {"command": "manual", ...}`` with a checksum of its
folds (later edits fail against the checksum), and its protocol is ``manual``, never the leaderboard's clean one.

Folds are only remade with the library versions the file records (scikit-learn decides how folds come out); with
others the check fails and says which versions to install, rather than passing unchecked.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError, list_some
from benchmark.splits.schema import PARTS, SplitFile

#: The generator command of a split edited by hand and recorded as such.
MANUAL = "manual"
MAKE = "busbench splits make"
IMPORT_BUSBRA = "busbench splits import-busbra"


def folds_sha256(split: SplitFile) -> str:
    """The sha256 of the folds (each part's sorted case ids) and of every case's group."""
    doc = {"folds": [{p: sorted(getattr(f, p)) for p in PARTS} for f in split.folds],
           "groups": {cid: r.group for cid, r in sorted(split.cases.items())}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def mark_edited(split: SplitFile, reason: str) -> SplitFile:
    """The same split, recorded as edited by hand: its generator becomes a ``manual`` record (see module docstring).

    Raises:
        BusbenchError: For an empty reason.
    """
    if not reason.strip():
        raise BusbenchError("--reason", "say why the split was edited (it is recorded in the file)")
    edited_from = split.generator
    generator = {"command": MANUAL, "reason": reason.strip(), "k": split.k, "group": edited_from.get("group"),
                 "edited_from": edited_from, "folds_sha256": folds_sha256(split)}
    return SplitFile(split.dataset_name, split.dataset_fingerprint, split.classes, generator, dict(split.cases),
                     list(split.folds))


def check_provenance(split: SplitFile, dataset: Dataset, where: str) -> str:
    """Check that the folds are what the file's generator made (see module docstring); say what was checked.

    Args:
        split: A split verified against ``dataset`` (``load_split``).
        dataset: The data.
        where: The split file's path, for messages.

    Returns:
        One line on what was checked.

    Raises:
        BusbenchError: If the folds or groups differ from what the generator makes, a ``manual`` split was edited
            after it was marked, or the folds cannot be remade here (other library versions, another generator).
    """
    generator = split.generator
    command = generator.get("command")
    if command == MANUAL:
        if generator.get("folds_sha256") != folds_sha256(split):
            raise BusbenchError(where, "was edited after it was marked as edited (its folds_sha256 does not match); "
                                       f"mark it again: busbench splits mark-edited {where} --reason TEXT")
        return f"hand-edited split ({generator.get('reason')}); its folds are as marked"
    remade = _remade(split, dataset, where)
    for i, (ours, theirs) in enumerate(zip(split.folds, remade.folds, strict=True)):
        for part in PARTS:
            differ = set(getattr(ours, part)) ^ set(getattr(theirs, part))
            if differ:
                raise _edited(where, command, f"fold {i} {part} differs in {len(differ)} case(s): {list_some(differ)}")
    regrouped = [cid for cid, r in split.cases.items() if remade.cases[cid].group != r.group]
    if regrouped:
        raise _edited(where, command, f"{len(regrouped)} case(s) have another group: {list_some(regrouped)}")
    return f"folds and groups are what '{command}' makes with the recorded settings"


def _edited(where: str, command: Any, what: str) -> BusbenchError:
    return BusbenchError(where, f"{what} from what '{command}' makes with the settings the file records: the folds "
                                f"were edited by hand; if on purpose, say so: busbench splits mark-edited {where} "
                                "--reason TEXT")


def _remade(split: SplitFile, dataset: Dataset, where: str) -> SplitFile:
    """The split as its generator makes it from ``dataset``."""
    from benchmark.data.duplicates import DetectorParams
    from benchmark.data.examinations import RULE_VERSION, ExaminationParams
    from benchmark.splits.make import import_busbra_split, library_versions, make_split

    generator = split.generator
    command = generator.get("command")
    if command not in (MAKE, IMPORT_BUSBRA) or "redealt_from" in generator:
        made = "redealt by the leakage audit" if "redealt_from" in generator else f"made by {command!r}"
        raise BusbenchError(where, f"its folds were {made}, which busbench cannot make again to check them")
    recorded = generator.get("versions") or {}
    here = library_versions()
    differ = [f"{name} {recorded.get(name)} (this is {here[name]})" for name in ("scikit-learn", "numpy")
              if recorded.get(name) != here[name]]
    if differ:
        raise BusbenchError(where, f"cannot remake its folds to check them: it was made with {', '.join(differ)}; "
                                   "install those versions (constraints.txt)")
    detector = DetectorParams(**generator.get("duplicate_detector", {}))
    if command == IMPORT_BUSBRA:
        return import_busbra_split(dataset, dataset.source.location, int(generator["k"]), detector=detector)
    rule = dict(generator.get("examination_rule") or {"rule": RULE_VERSION})
    if rule.pop("rule") != RULE_VERSION:
        raise BusbenchError(where, f"cannot remake its folds to check them: examination rule "
                                   f"{generator['examination_rule']['rule']}, this busbench has {RULE_VERSION}")
    return make_split(dataset, k=int(generator["k"]), seed=int(generator["seed"]), group=str(generator["group"]),
                      val_fraction=float(generator["val_fraction"]), classes=generator.get("classes"),
                      detector=detector, examination=ExaminationParams(**rule) if rule else None)
