"""What a split holds: per-fold class and group counts, and how many test cases leak through a duplicate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from benchmark.splits.schema import PARTS, SplitFile


@dataclass(frozen=True)
class FoldSummary:
    """Counts for one fold.

    Attributes:
        fold: Fold number.
        class_counts: Per part (train/val/test), cases per class.
        group_counts: Per part, number of distinct groups.
        leaked: Test cases with a duplicate (same cluster) on the training side (train or val), sorted.
        patient_leaked: Test cases sharing a patient with a training-side case (only for patient-grouped files,
            else ``None``).
    """

    fold: int
    class_counts: dict[str, dict[str, int]]
    group_counts: dict[str, int]
    leaked: tuple[str, ...]
    patient_leaked: tuple[str, ...] | None


def leaked_cases(test: tuple[str, ...], training_side: tuple[str, ...], key: dict[str, str]) -> tuple[str, ...]:
    """Test cases that share ``key`` (duplicate cluster or patient) with some training-side case."""
    seen = {key[c] for c in training_side}
    return tuple(sorted(c for c in test if key[c] in seen))


def summarise(split: SplitFile, clusters: dict[str, str] | None = None) -> list[FoldSummary]:
    """Summarise every fold of a split.

    Args:
        split: The split.
        clusters: Duplicate cluster of every case; defaults to the clusters recorded in the file (pass freshly
            detected ones to audit against the current detector).

    Returns:
        One summary per fold.
    """
    cluster = clusters or {cid: r.cluster for cid, r in split.cases.items()}
    group = {cid: r.group for cid, r in split.cases.items()}
    by_patient = split.generator.get("group") == "patient"
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
                patient_leaked=leaked_cases(fold.test, side, group) if by_patient else None,
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
    total = sum(len(s.leaked) for s in summaries)
    n_test = sum(len(f.test) for f in split.folds)
    lines.append(
        f"test cases with a near-duplicate on their training side: {total} of {n_test} "
        f"({100.0 * total / max(n_test, 1):.1f}%); per fold: " + ", ".join(str(len(s.leaked)) for s in summaries)
    )
    if summaries and summaries[0].patient_leaked is not None:
        p_total = sum(len(s.patient_leaked or ()) for s in summaries)
        lines.append(f"test cases with a same-patient image on their training side: {p_total} of {n_test}")
    return "\n".join(lines)
