"""Making stratified, grouped k-fold split files with an inner validation part per fold."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections import Counter
from collections.abc import Sequence

import numpy as np

import benchmark
from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import DetectorParams, DuplicateReport, find_duplicates
from benchmark.data.examinations import ExaminationParams, examination_groups
from benchmark.errors import BusbenchError
from benchmark.splits.schema import GROUPINGS, CaseRecord, Fold, SplitFile
from benchmark.splits.stratified import stratified_group_folds


def resolve_grouping(dataset: Dataset, group: str) -> str:
    """The grouping ``group`` stands for on ``dataset``: ``auto`` resolved (see :data:`GROUPINGS`), others as given."""
    if group != "auto":
        return group
    return "patient+duplicates" if dataset.cases and all(c.group for c in dataset.cases) else "duplicates"


def _united(dataset: Dataset, clusters: dict[str, str]) -> dict[str, str]:
    """Groups that unite patients and duplicate clusters.

    Two cases share a group when a chain of same-patient or near-duplicate pairs joins them; a group is named after
    its first case id (sorted).
    """
    parent = {c.case_id: c.case_id for c in dataset.cases}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[str, str], str] = {}
    for case in dataset.cases:
        for key in (("patient", str(case.group)), ("cluster", clusters[case.case_id])):
            if key in first:
                a, b = root(first[key]), root(case.case_id)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[key] = case.case_id
    members: dict[str, list[str]] = {}
    for cid in parent:
        members.setdefault(root(cid), []).append(cid)
    return {cid: f"group-{min(ids)}" for ids in members.values() for cid in ids}


def library_versions() -> dict[str, str]:
    """Versions that decide how folds come out, recorded in every split file."""
    # from the installed package's metadata: importing scikit-learn takes a second or more
    return {
        "busbench": benchmark.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": importlib.metadata.version("scikit-learn"),
    }


def group_ids(dataset: Dataset, group: str, clusters: dict[str, str]) -> dict[str, str]:
    """The group of every case for a grouping mode.

    Args:
        dataset: The data.
        group: ``"duplicates"`` (duplicate cluster), ``"patient"`` (the dataset's group column),
            ``"patient+duplicates"`` (both united), ``"auto"`` (:func:`resolve_grouping`) or ``"none"``
            (``"examination"`` needs the pixels again: see :func:`benchmark.data.examinations.examination_groups`).
        clusters: Duplicate cluster id of every case.

    Raises:
        BusbenchError: For an unknown mode, or a patient grouping on a dataset without patient ids.
    """
    group = resolve_grouping(dataset, group)
    if group == "duplicates":
        return dict(clusters)
    if group == "none":
        return {c.case_id: c.case_id for c in dataset.cases}
    if group in ("patient", "patient+duplicates"):
        lacking = [c.case_id for c in dataset.cases if not c.group]
        if lacking:
            raise BusbenchError(
                dataset.name, f"--group {group} needs a patient id for every case; {len(lacking)} case(s) have none"
            )
        if group == "patient+duplicates":
            return _united(dataset, clusters)
        return {c.case_id: f"patient-{c.group}" for c in dataset.cases}
    raise BusbenchError("--group", f"unknown grouping {group!r} (expected one of {', '.join(GROUPINGS)})")


def case_records(dataset: Dataset, groups: dict[str, str], clusters: dict[str, str]) -> dict[str, CaseRecord]:
    """What a split file records per case of ``groups``: fingerprint, label, group, cluster and patient (if any)."""
    facts = dataset.facts()
    return {
        c.case_id: CaseRecord(facts[c.case_id].fingerprint, c.label, groups[c.case_id], clusters[c.case_id],
                              c.group or None)
        for c in dataset.cases if c.case_id in groups
    }


def class_set(dataset: Dataset, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The classes a split scores: ``classes`` as asked, or every class of the data that has a case.

    A dataset without normal images (BUS-BRA) so gives benign vs malignant; ``--classes benign,malignant`` makes
    the same task of BUSI (its normal images left out).

    Raises:
        BusbenchError: For a class the data do not have, a class without cases, or fewer than two classes.
    """
    counts = Counter(c.label for c in dataset.cases)
    if classes is None:
        return tuple(c for c in dataset.classes if counts[c])
    chosen = tuple(dict.fromkeys(classes))
    unknown = [c for c in chosen if c not in dataset.classes]
    if unknown:
        raise BusbenchError("--classes", f"unknown class {unknown[0]!r} (the data have {', '.join(dataset.classes)})")
    empty = [c for c in chosen if not counts[c]]
    if empty:
        raise BusbenchError("--classes", f"the data have no case of class {empty[0]!r}")
    if len(chosen) < 2:
        raise BusbenchError("--classes", f"a split needs at least two classes, got {', '.join(chosen) or 'none'}")
    return tuple(c for c in dataset.classes if c in chosen)  # in the data's class order


def _stratified_grouped(ids: Sequence[str], labels: Sequence[str], groups: Sequence[str], k: int, seed: int,
                        what: str) -> list[np.ndarray]:
    """Index arrays of the k test parts of a stratified, grouped k-fold over ``ids``."""
    n_groups = len(set(groups))
    if n_groups < k:
        raise BusbenchError(what, f"cannot make {k} grouped folds from {n_groups} group(s)")
    largest = max(Counter(labels).values())
    if largest < k:
        raise BusbenchError(what, f"cannot make {k} stratified folds: the largest class has only {largest} case(s)")
    return stratified_group_folds(labels, groups, k, seed)


def _deal(ids: Sequence[str], labels: Sequence[str], groups: Sequence[str], k: int, seed: int, val_fraction: float,
          name: str) -> list[Fold]:
    """Deal the cases into k stratified grouped folds, each with its inner validation part (see :func:`make_split`)."""
    inner_k = max(2, round(1 / val_fraction))
    folds = []
    for fold_no, test_idx in enumerate(_stratified_grouped(ids, labels, groups, k, seed, name)):
        test_set = set(test_idx.tolist())
        side = [i for i in range(len(ids)) if i not in test_set]
        inner = _stratified_grouped(
            [ids[i] for i in side], [labels[i] for i in side], [groups[i] for i in side], inner_k,
            seed + 1 + fold_no, f"{name} fold {fold_no} training side",
        )
        val_set = {side[j] for j in inner[0].tolist()}
        folds.append(
            Fold(
                train=tuple(ids[i] for i in side if i not in val_set),
                val=tuple(ids[i] for i in sorted(val_set)),
                test=tuple(ids[i] for i in sorted(test_set)),
            )
        )
    return folds


def redeal(split: SplitFile, dataset: Dataset, *, k: int, seed: int) -> SplitFile:
    """The same cases and groups as ``split``, dealt again into ``k`` folds with another seed.

    A split made by :func:`make_split` with the same ``k``, seed and validation fraction comes out unchanged, so
    another seed is another draw of the same grouping (the leakage audit's lucky splits of a committed split file).

    Args:
        split: A verified split over ``dataset``.
        dataset: The data (its cases give the order and labels).
        k: Number of folds.
        seed: Seed of the fold assignment.
    """
    scored = [c for c in dataset.cases if c.case_id in split.cases]
    ids = [c.case_id for c in scored]
    val_fraction = float(split.generator.get("val_fraction", 0.2))
    folds = _deal(ids, [c.label for c in scored], [split.cases[i].group for i in ids], k, seed, val_fraction,
                  dataset.name)
    generator = {**split.generator, "k": k, "seed": seed,
                 "redealt_from": {"command": split.generator.get("command"), "k": split.k,
                                  "seed": split.generator.get("seed")}}
    return SplitFile(split.dataset_name, split.dataset_fingerprint, split.classes, generator, dict(split.cases), folds)


def grouping(dataset: Dataset, group: str, *, duplicates: DuplicateReport | None = None,
             detector: DetectorParams | None = None, examination: ExaminationParams | None = None,
             progress: bool = False) -> tuple[str, dict[str, str], DuplicateReport]:
    """The grouping ``group`` resolved (:func:`resolve_grouping`), every case's group, and the duplicate report.

    Args:
        dataset: The data.
        group: A ``--group`` value (``auto``, ``examination``, ``patient+duplicates``, ``duplicates``, ``patient``,
            ``none``).
        duplicates: A ready duplicate report (computed with ``detector`` when ``None``).
        detector: Parameters of the duplicate detector.
        examination: The examination rule (``group="examination"`` only; defaults: :class:`ExaminationParams`).
        progress: Show progress while decoding and detecting.

    Raises:
        BusbenchError: For an unknown grouping, or a patient grouping of data without patient ids.
    """
    dataset.facts(progress=progress)  # decode (with a progress bar) before the detector needs the pixels
    report = duplicates or find_duplicates(dataset, detector or DetectorParams(), progress=progress)
    clusters = report.cluster_ids([c.case_id for c in dataset.cases])
    group = resolve_grouping(dataset, group)
    if group == "examination":
        return group, examination_groups(dataset, report, examination or ExaminationParams(), progress=progress), \
            report
    return group, group_ids(dataset, group, clusters), report


def make_split(
    dataset: Dataset,
    *,
    k: int = 5,
    seed: int = 0,
    group: str = "auto",
    val_fraction: float = 0.2,
    classes: Sequence[str] | None = None,
    duplicates: DuplicateReport | None = None,
    detector: DetectorParams | None = None,
    examination: ExaminationParams | None = None,
    progress: bool = False,
) -> SplitFile:
    """Make a k-fold split, stratified by class and grouped so that no group straddles folds.

    Each outer fold's training side is split again, stratified and grouped the same way, into an inner training
    part and a validation part of about ``val_fraction`` of it (the first fold of a ``round(1 / val_fraction)``-fold
    inner split, seeded with ``seed + 1 + fold``).

    Args:
        dataset: The data.
        k: Number of outer folds (>= 2).
        seed: Seed of the fold assignment.
        group: ``"auto"`` (``"patient+duplicates"`` when every case has a patient id, else ``"duplicates"``),
            ``"examination"`` (duplicates and frames of one examination, see :mod:`benchmark.data.examinations`),
            ``"patient+duplicates"``, ``"duplicates"``, ``"patient"`` or ``"none"`` (image-level; kept only to
            measure leakage).
        val_fraction: Share of each training side that becomes the inner validation part (0 < f <= 0.5).
        classes: The classes the split scores (:func:`class_set`; default: every class of the data that has a
            case); cases of other classes are left out, and the file records the choice.
        duplicates: A ready duplicate report (computed with ``detector`` when ``None``).
        detector: Parameters of the duplicate detector.
        examination: The examination rule (``group="examination"`` only; defaults: :class:`ExaminationParams`).
        progress: Show progress while decoding and detecting.

    Returns:
        The split, not yet written (see ``SplitFile.save``).

    Raises:
        BusbenchError: On bad parameters or data that cannot be split that way.
    """
    if k < 2:
        raise BusbenchError("--k", f"needs at least 2 folds, got {k}")
    if not 0 < val_fraction <= 0.5:
        raise BusbenchError("--val-fraction", f"must be in (0, 0.5], got {val_fraction}")
    chosen = class_set(dataset, classes)
    scored = [c for c in dataset.cases if c.label in chosen]
    ids = [c.case_id for c in scored]
    labels = [c.label for c in scored]
    rule = examination or ExaminationParams()
    requested = group
    group, groups, report = grouping(dataset, group, duplicates=duplicates, detector=detector, examination=rule,
                                     progress=progress)
    clusters = report.cluster_ids([c.case_id for c in dataset.cases])
    groups = {i: groups[i] for i in ids}
    folds = _deal(ids, labels, [groups[i] for i in ids], k, seed, val_fraction, dataset.name)
    generator = {
        "command": "busbench splits make",
        "k": k,
        "seed": seed,
        "group": group,
        **({"group_requested": "auto"} if requested == "auto" else {}),
        "val_fraction": val_fraction,
        "stratify": "label",
        "method": "sklearn StratifiedGroupKFold(shuffle=True) for outer folds and for the inner validation part",
        "duplicate_detector": report.params.as_dict(),
        **({"examination_rule": rule.as_dict()} if group == "examination" else {}),
        **({"classes": list(chosen)} if chosen != dataset.classes else {}),
        "versions": library_versions(),
    }
    cases = case_records(dataset, groups, clusters)
    return SplitFile(dataset.name, dataset.fingerprint(), chosen, generator, cases, folds)


def import_busbra_split(dataset: Dataset, folder: str | os.PathLike[str], k: int, *,
                        detector: DetectorParams | None = None, progress: bool = False) -> SplitFile:
    """BUS-BRA's published ``k`` folds of ``dataset``, in busbench's format and exactly as published.

    The groups are the patients (the published folds keep a patient's test images together); duplicate clusters
    and patient ids are recorded as for any split, so its leakage is on record.

    Args:
        dataset: BUS-BRA, as :func:`benchmark.data.busbra.load_busbra` reads it.
        folder: The BUS-BRA folder (or ``.zip``) holding ``<k>-fold-cv.csv``.
        k: 5 or 10 (the published partitions).
        detector: Parameters of the duplicate detector.
        progress: Show progress while decoding and detecting.

    Raises:
        BusbenchError: For a fold file that does not match the data (one line naming the file and row).
    """
    from benchmark.data.busbra import read_busbra_folds

    dataset.facts(progress=progress)
    report = find_duplicates(dataset, detector or DetectorParams(), progress=progress)
    clusters = report.cluster_ids([c.case_id for c in dataset.cases])
    groups = group_ids(dataset, "patient", clusters)
    folds = [Fold(tuple(tr), tuple(va), tuple(te)) for tr, va, te in read_busbra_folds(folder, k)]
    chosen = class_set(dataset)
    generator = {
        "command": "busbench splits import-busbra",
        "k": k,
        "group": "patient",
        **({"classes": list(chosen)} if chosen != dataset.classes else {}),
        "source": f"{k}-fold-cv.csv as published with BUS-BRA (valid_j: 1 = train, 0 = val, NaN = test)",
        "duplicate_detector": report.params.as_dict(),
        "versions": library_versions(),
    }
    return SplitFile(dataset.name, dataset.fingerprint(), chosen, generator, case_records(dataset, groups, clusters),
                     folds)
