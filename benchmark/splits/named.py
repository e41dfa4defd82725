"""The committed split files as named, versioned benchmarks: what a score says it stands on.

A score on a committed split file can be cited as, for example, "busbench-BUSI v2 (examination-grouped, 5 folds),
evaluator version 1" (the evaluator version is :data:`benchmark.evaluation.version.EVALUATOR_VERSION`, recorded in
every ``metrics.json``). A name belongs to the file's bytes: a split file that differs from the committed one in a
single byte is not that benchmark, and a run on it is named by its path and sha256 alone. A new version of a
benchmark is a new file with a new name here, never an edited file (runs on the old one keep their name).

The two site-b external files were remade in place as v2 when the phantom generator stopped depending on the
CPU (generator version 2, CHANGELOG 2026-12-07): the v1 test data could no longer be drawn anywhere, and no run on
v1 was kept.

The leaky ``splits/busi/5fold_naive.json`` has no benchmark name: it exists so that the audit can measure what an
image-level split adds, and nothing is ranked on it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedSplit:
    """A committed split file and the benchmark it is.

    Attributes:
        name: The versioned name to cite, e.g. ``"busbench-BUSI v2"``.
        path: The file in the repository.
        what: What the split is, in a few words.
    """

    name: str
    path: str
    what: str

    def cite(self) -> str:
        """``"busbench-BUSI v2 (examination-grouped, 5 folds, normal/benign/malignant)"``."""
        return f"{self.name} ({self.what})"


#: The committed split files that are benchmarks, by the sha256 of their bytes.
NAMED_SPLITS: dict[str, NamedSplit] = {
    "833309c94281e959c0da11f1a2e9dc5473642879c0fe8a1e58d5475bb7b23b4c": NamedSplit(
        "busbench-BUSI v1", "splits/busi/5fold_grouped.json",
        "duplicate-grouped, 5 folds, normal/benign/malignant"),
    "35ec596c69eaca8bdbc3c241720c2b72404961650e3694d55ca6d955e9ab0d9d": NamedSplit(
        "busbench-BUSI v2", "splits/busi/5fold_examination.json",
        "examination-grouped, 5 folds, normal/benign/malignant"),
    "c94bff83b747eadbab64dd478dc56c4f194cdee67a89e88b5e0267ee8cb71ff7": NamedSplit(
        "busbench-BUSI-BM v1", "splits/busi/5fold_examination_without_normals.json",
        "BUSI without normal images, examination-grouped, 5 folds, benign/malignant"),
    "f2f7f31dd16f26ff4d8e9ba2d025956f70964f8b960ed02185523ad9b7601411": NamedSplit(
        "busbench-BUSI-to-synthetic-b v2", "splits/external/busi_examination_to_synthetic_site_b.json",
        "trained on BUSI v2's folds, tested on the synthetic second scanner site, normal/benign/malignant"),
    "77a43a355fe59ebd2de36866e65308687d79dbdf059454f91a454b74d17836d6": NamedSplit(
        "busbench-BUSI-BM-to-synthetic-b v2", "splits/external/busi_without_normals_to_synthetic_site_b.json",
        "trained on BUSI-BM v1's folds, tested on the synthetic second scanner site, benign/malignant"),
}


def named_split(sha256: str | None) -> NamedSplit | None:
    """The benchmark a split file is, from the sha256 of its bytes; ``None`` for any other file."""
    return NAMED_SPLITS.get(str(sha256 or ""))


def benchmark_name(sha256: str | None) -> str | None:
    """:meth:`NamedSplit.cite` of the split file with this sha256, or ``None`` when it is not a named benchmark."""
    named = named_split(sha256)
    return named.cite() if named else None
