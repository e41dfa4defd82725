"""What a split holds: per-fold class and group counts, and how many test cases leak through a duplicate or a patient.

Patient leakage is reported whenever patient ids are known, whatever the split was grouped by: from the data when
they are given (``patients``), else from the ids the split file records, else (files made before busbench recorded
them) from the groups of a patient-grouped file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from benchmark.data.dataset import Dataset
from benchmark.splits.schema import PARTS, SplitFile


@dataclass(frozen=True)
class FoldSummary:
    """Counts for one fold.

    Attributes:
        fold: Fold number.
        class_counts: Per part (train/val/test), cases per class.
        group_counts: Per part, number of distinct groups.
        leaked: Test cases with a duplicate (same cluster) on the training side (train or val), sorted.
        patient_leaked: Test cases sharing a patient with a training-side case; ``None`` when no patient ids are
            known.
        val_leaked: Validation cases with a duplicate in the inner training part (epoch selection on them is
            optimistic, though no test case is involved).
        val_patient_leaked: Validation cases sharing a patient with the inner training part; ``None`` as above
            (BUS-BRA's published folds have such cases, and are imported as published).
    """

    fold: int
    class_counts: dict[str, dict[str, int]]
    group_counts: dict[str, int]
    leaked: tuple[str, ...]
    patient_leaked: tuple[str, ...] | None
    val_leaked: tuple[str, ...] = ()
    val_patient_leaked: tuple[str, ...] | None = None


def leaked_cases(test: tuple[str, ...], training_side: tuple[str, ...], key: dict[str, str]) -> tuple[str, ...]:
    """Test cases that share ``key`` (duplicate cluster or patient) with some training-side case."""
    seen = {key[c] for c in training_side}
    return tuple(sorted(c for c in test if key[c] in seen))


def patient_keys(dataset: Dataset) -> dict[str, str] | None:
    """Patient id of every case (the case itself when it has none), or ``None`` when the dataset has none at all."""
    if not any(c.group for c in dataset.cases):
        return None
    return {c.case_id: f"patient-{c.group}" if c.group else c.case_id for c in dataset.cases}


def _recorded_patients(split: SplitFile) -> dict[str, str] | None:
    """Patient keys as :func:`patient_keys` makes them, from what the split file records (see module docstring)."""
    if any(r.patient is not None for r in split.cases.values()):
        return {cid: f"patient-{r.patient}" if r.patient is not None else cid for cid, r in split.cases.items()}
    if split.generator.get("group") == "patient":  # recorded as the group before patients had their own field
        return {cid: r.group for cid, r in split.cases.items()}
    return None


def summarise(split: SplitFile, clusters: dict[str, str] | None = None,
              patients: dict[str, str] | None = None) -> list[FoldSummary]:
    """Summarise every fold of a split.

    Args:
        split: The split.
        clusters: Duplicate cluster of every case; defaults to the clusters recorded in the file (pass freshly
            detected ones to audit against the current detector).
        patients: Patient key of every case, from the data (:func:`patient_keys`); defaults to what the file
            records (see module docstring).

    Returns:
        One summary per fold.
    """
    cluster = clusters or {cid: r.cluster for cid, r in split.cases.items()}
    group = {cid: r.group for cid, r in split.cases.items()}
    patient = patients if patients is not None else _recorded_patients(split)
    out = []
    for i, fold in enumerate(split.folds):
        counts = {}
        groups = {}
        for part in PARTS:
            ids = getattr(fold, part)
            c = Counter(split.cases[x].label for x in ids)
            counts[part] = {k: c.get(k, 0) for k in split.classes}
            groups[part] = len({group[x] for x in ids})
        side = fold.train + fold.val
        out.append(
            FoldSummary(
                fold=i,
                class_counts=counts,
                group_counts=groups,
                leaked=leaked_cases(fold.test, side, cluster),
                patient_leaked=leaked_cases(fold.test, side, patient) if patient is not None else None,
                val_leaked=leaked_cases(fold.val, fold.train, cluster),
                val_patient_leaked=leaked_cases(fold.val, fold.train, patient) if patient is not None else None,
            )
        )
    return out


def render_summary(split: SplitFile, summaries: list[FoldSummary]) -> str:
    """A plain-text table of fold summaries, as ``busbench splits show`` prints it."""
    gen = split.generator
    lines = [
        f"split of {split.dataset_name} ({len(split.cases)} cases, fingerprint {split.dataset_fingerprint[:12]}): "
        f"k={split.k}, group={gen.get('group')}, seed={gen.get('seed')}",
    ]
    classes = "/".join(split.classes)
    header = f"{'fold':>4}  {'part':<5} {'cases':>5}  {classes:<24} {'groups':>6}"
    lines.append(header)
    for s in summaries:
        for part in PARTS:
            per_class = s.class_counts[part]
            lines.append(
                f"{s.fold:>4}  {part:<5} {sum(per_class.values()):>5}  "
                f"{'/'.join(str(per_class[k]) for k in split.classes):<24} {s.group_counts[part]:>6}"
            )
    lines.append("")
    lines.extend(leakage_lines(split, summaries))
    return "\n".join(lines)


def leakage_lines(split: SplitFile, summaries: list[FoldSummary]) -> list[str]:
    """How many test (and validation) cases have a near-duplicate or a same-patient image on their training side.

    Patient lines appear when patients are known; validation lines only when some validation case leaks.
    """
    n_test, n_val = sum(len(f.test) for f in split.folds), sum(len(f.val) for f in split.folds)
    patients = bool(summaries) and summaries[0].patient_leaked is not None
    kinds = [("test", "a near-duplicate", n_test, [len(s.leaked) for s in summaries])]
    if patients:
        kinds.append(("test", "a same-patient image", n_test, [len(s.patient_leaked or ()) for s in summaries]))
    kinds.append(("validation", "a near-duplicate", n_val, [len(s.val_leaked) for s in summaries]))
    if patients:
        kinds.append(("validation", "a same-patient image", n_val,
                      [len(s.val_patient_leaked or ()) for s in summaries]))
    side = {"test": "on their training side", "validation": "in the inner training part"}
    return [f"{part} cases with {what} {side[part]}: {sum(counts)} of {n} "
            f"({100.0 * sum(counts) / max(n, 1):.1f}%); per fold: {', '.join(map(str, counts))}"
            for part, what, n, counts in kinds if part == "test" or sum(counts) > 0]
