"""The protocols of the protocol inflation audit (``busbench audit protocols``): definitions and registry.

Every protocol is a small function that turns the data into per-fold (train, selection, test) tensors (a
:class:`ProtocolPlan`); the leaky data transformations they use are in :mod:`benchmark.audit.protocol_data`, and
:mod:`benchmark.audit.protocols` trains the same submission under each of them.

Protocols, and the seed papers (``shared/reference/seed_protocols.md``) that used or may have used them:

* ``clean``: duplicate-grouped stratified k-fold, augmentation inside training only (the submission's ``augment``
  hook), the epoch selected on the inner validation part. The leaderboard's protocol.
* ``naive-split``: the same with image-level folds (``group="none"``), so near-duplicates of a test image can sit in
  training. No seed paper deduplicates or splits by patient (all five).
* ``augment-before-split``: ``AUGMENTED_COPIES`` augmented copies of every image are made with the submission's
  ``augment`` hook from the whole dataset (fixed generator) and pooled with the originals *before* an image-level
  stratified k-fold, so copies of a test image land in training. Only original images are scored, so the scored
  cases are the clean ones (each original is a test case of exactly one fold). Cheyi & Cetin-Kaya 2024 ("dataset
  augmented with enhanced overlaid images", L187) and Li et al. 2025 (augmentation to "balance the dataset", L73).
* ``mask-overlay``: the ground-truth mask blended into the classifier's input for train, validation *and* test
  on the clean folds: inside the mask a pixel becomes ``(1 - OVERLAY_ALPHA) * image + OVERLAY_ALPHA * 255`` (a
  white overlay at ``OVERLAY_ALPHA = 0.5``), outside it is unchanged, i.e. ``image + a * mask * (255 - image)``.
  Normal images have empty masks, so the overlay reveals the class. Classification only. Cheyi & Cetin-Kaya 2024
  (L144, L187); possibly Baniadam Dizaj & Valizadeh 2021 (L103).
* ``select-on-test``: the clean folds and training data, but the epoch is selected on the test part. Munukurthi &
  Gayathri 2024 (checkpoint on "validation loss" with only train and test sets, L140-L146); Dajam & Qahmash 2025
  (hyper-parameters tuned on the reported set).
* ``lucky-split``: ``LUCKY_DRAWS`` single grouped 80/20 splits (fold 0 of a 5-fold grouped split, split seeds
  ``seed .. seed + N - 1``); the best test score is reported as if it were the only one, and all draws are
  recorded. Every seed paper reports a single split without an interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from benchmark.audit.duplicates import DuplicateReport
from benchmark.audit.protocol_data import OVERLAY_ALPHA, augmented_copies, concat, original_id, overlay_masks, take
from benchmark.data.dataset import Dataset
from benchmark.engine.fold import FoldData
from benchmark.engine.tensors import images_only, labelled
from benchmark.errors import BusbenchError
from benchmark.plugins.submission import Submission
from benchmark.splits.make import case_records, group_ids, make_split
from benchmark.splits.schema import Fold, SplitFile

#: Protocols in report order.
PROTOCOLS = ("clean", "naive-split", "augment-before-split", "mask-overlay", "select-on-test", "lucky-split")
#: Short names accepted by ``--protocols``.
ALIASES = {"naive": "naive-split", "augment": "augment-before-split", "overlay": "mask-overlay",
           "select": "select-on-test", "lucky": "lucky-split"}
#: Augmented copies per image in the augment-before-split protocol.
AUGMENTED_COPIES = 2
#: Random single splits drawn by the lucky-split protocol (default).
LUCKY_DRAWS = 5
#: Share of the training side kept for epoch selection (as ``busbench splits make``'s default).
VAL_FRACTION = 0.2


@dataclass
class ProtocolPlan:
    """One protocol's folds, ready to run.

    Attributes:
        name: Protocol name.
        split: The folds as a split file over the dataset's cases; each fold's ``test`` lists the scored cases.
        folds: The folds to train (all, or fold 0 for a lucky-split draw).
        build: Makes a fold's data (lazily, so only one fold's tensors are held at a time).
        details: What the protocol did, recorded in ``run.json``.
    """

    name: str
    split: SplitFile
    folds: list[int]
    build: Callable[[int], FoldData]
    details: dict[str, Any]


@dataclass
class AuditContext:
    """What every protocol shares: the data, the submission, image size, folds, seed and the duplicate report."""

    dataset: Dataset
    submission: Submission
    size: int
    k: int
    seed: int
    duplicates: DuplicateReport


# --- the protocols ----------------------------------------------------------------------------------------------------


def _fold_plan(ctx: AuditContext, name: str, split: SplitFile, *, overlay: bool = False,
               select_on_test: bool = False, folds: list[int] | None = None,
               details: dict[str, Any] | None = None) -> ProtocolPlan:
    """A protocol that trains on each fold's ``train``, as the engine does, with the given leak (if any)."""

    def build(k: int) -> FoldData:
        fold = split.folds[k]
        train = labelled(ctx.dataset, fold.train, ctx.size)
        select = labelled(ctx.dataset, fold.test if select_on_test else fold.val, ctx.size)
        if overlay:
            test = overlay_masks(labelled(ctx.dataset, fold.test, ctx.size)).images
            train, select = overlay_masks(train), overlay_masks(select)
        else:
            test = images_only(ctx.dataset, fold.test, ctx.size)
        return FoldData(k, train, select, "test" if select_on_test else "val", fold.test, test)

    return ProtocolPlan(name, split, list(range(split.k)) if folds is None else folds, build, details or {})


def _grouped_split(ctx: AuditContext, group: str, *, k: int | None = None, seed: int | None = None) -> SplitFile:
    return make_split(ctx.dataset, k=k or ctx.k, seed=ctx.seed if seed is None else seed, group=group,
                      val_fraction=VAL_FRACTION, duplicates=ctx.duplicates)


def clean_protocol(ctx: AuditContext) -> ProtocolPlan:
    """Duplicate-grouped folds, augmentation in training only, epoch selected on the inner validation part."""
    return _fold_plan(ctx, "clean", _grouped_split(ctx, "duplicates"),
                      details={"group": "duplicates", "selection": "val"})


def naive_split_protocol(ctx: AuditContext) -> ProtocolPlan:
    """Image-level folds (near-duplicates of a test image may be in training); otherwise as clean."""
    return _fold_plan(ctx, "naive-split", _grouped_split(ctx, "none"), details={"group": "none", "selection": "val"})


def select_on_test_protocol(ctx: AuditContext) -> ProtocolPlan:
    """The clean folds and training data, but the epoch is selected on the test part."""
    return _fold_plan(ctx, "select-on-test", _grouped_split(ctx, "duplicates"), select_on_test=True,
                      details={"group": "duplicates", "selection": "test"})


def mask_overlay_protocol(ctx: AuditContext) -> ProtocolPlan:
    """The clean folds with the ground-truth mask blended into train, validation and test inputs.

    Raises:
        BusbenchError: For a segmentation submission (the input would hold the answer) or data without masks.
    """
    if ctx.submission.spec.task != "classification":
        raise BusbenchError("mask-overlay", "is a classification protocol (the overlay is the segmentation answer)")
    if not ctx.dataset.has_masks:
        raise BusbenchError(ctx.dataset.name, "has no masks; the mask-overlay protocol needs them")
    return _fold_plan(ctx, "mask-overlay", _grouped_split(ctx, "duplicates"), overlay=True,
                      details={"group": "duplicates", "selection": "val", "alpha": OVERLAY_ALPHA,
                               "formula": "image + alpha * mask * (255 - image), on train, val and test"})


def augment_before_split_protocol(ctx: AuditContext, copies: int = AUGMENTED_COPIES) -> ProtocolPlan:
    """Augmented copies of the whole dataset pooled with the originals before an image-level stratified k-fold.

    The pool (originals and copies) is split by ``StratifiedKFold(shuffle=True, random_state=seed)``; each fold's
    training side is split again (seed ``seed + 1 + fold``) into train and a validation part of ``VAL_FRACTION``.
    Only the originals of a test part are scored; copies in the test part are dropped. Each fold records how many
    scored test originals have a copy in its train (and val) part.
    """
    ds = ctx.dataset
    ids = [c.case_id for c in ds.cases]
    originals = labelled(ds, ids, ctx.size)
    pool = concat([originals, augmented_copies(ctx.submission, originals, copies, ctx.seed)])
    labels = pool.labels.numpy()
    outer = StratifiedKFold(n_splits=ctx.k, shuffle=True, random_state=ctx.seed)
    parts: list[tuple[list[int], list[int], list[int]]] = []
    for k, (side, test) in enumerate(outer.split(np.zeros(len(labels)), labels)):
        inner = StratifiedKFold(n_splits=max(2, round(1 / VAL_FRACTION)), shuffle=True, random_state=ctx.seed + 1 + k)
        keep, val = next(inner.split(np.zeros(len(side)), labels[side]))
        parts.append((side[keep].tolist(), side[val].tolist(), test.tolist()))
    n = len(ids)

    def scored(index: list[int]) -> tuple[str, ...]:
        return tuple(sorted(pool.case_ids[i] for i in index if i < n))

    clusters = ctx.duplicates.cluster_ids(ids)
    split = SplitFile(
        ds.name, ds.fingerprint(), ds.classes,
        {"command": "busbench audit protocols", "protocol": "augment-before-split", "k": ctx.k, "seed": ctx.seed,
         "group": "none", "val_fraction": VAL_FRACTION, "copies": copies,
         "method": "sklearn StratifiedKFold(shuffle=True) over originals and augmented copies pooled"},
        case_records(ds, group_ids(ds, "none", clusters), clusters),
        [Fold(scored(tr), scored(va), scored(te)) for tr, va, te in parts],
    )

    def build(k: int) -> FoldData:
        tr, va, te = parts[k]
        test_ids = tuple(pool.case_ids[i] for i in te if i < n)
        train_from = {original_id(pool.case_ids[i]) for i in tr if i >= n}
        val_from = {original_id(pool.case_ids[i]) for i in va if i >= n}
        facts = {"n_train_items": len(tr), "n_val_items": len(va), "n_test_originals": len(test_ids),
                 "test_originals_with_copy_in_train": sum(c in train_from for c in test_ids),
                 "test_originals_with_copy_in_val": sum(c in val_from for c in test_ids)}
        return FoldData(k, take(pool, tr), take(pool, va), "val", test_ids,
                        originals.images[[i for i in te if i < n]], facts)

    return ProtocolPlan("augment-before-split", split, list(range(ctx.k)), build,
                        {"group": "none", "selection": "val", "copies": copies,
                         "scored": "original images only; each original is a test case of exactly one fold"})


def lucky_split_draws(ctx: AuditContext, draws: int = LUCKY_DRAWS) -> list[ProtocolPlan]:
    """``draws`` single grouped 80/20 splits: fold 0 of a 5-fold duplicate-grouped split with seed ``seed + i``."""
    plans = []
    for i in range(draws):
        split = _grouped_split(ctx, "duplicates", k=5, seed=ctx.seed + i)
        plans.append(_fold_plan(ctx, "lucky-split", split, folds=[0],
                                details={"draw": i, "split_seed": ctx.seed + i, "group": "duplicates"}))
    return plans


_BUILDERS: dict[str, Callable[[AuditContext], ProtocolPlan]] = {
    "clean": clean_protocol,
    "naive-split": naive_split_protocol,
    "augment-before-split": augment_before_split_protocol,
    "mask-overlay": mask_overlay_protocol,
    "select-on-test": select_on_test_protocol,
}


def parse_protocols(text: str | None, task: str) -> list[str]:
    """Protocol names from ``--protocols`` (comma-separated, aliases allowed), in report order.

    ``None`` means all protocols that apply to the task (mask-overlay is classification only). ``clean`` is always
    included, since every inflation is measured against it.

    Raises:
        BusbenchError: For an unknown name, or mask-overlay asked for a segmentation task.
    """
    if text is None:
        wanted = {p for p in PROTOCOLS if task == "classification" or p != "mask-overlay"}
    else:
        wanted = set()
        for raw in (t.strip() for t in text.split(",")):
            if not raw:
                continue
            name = ALIASES.get(raw, raw)
            if name not in PROTOCOLS:
                raise BusbenchError("--protocols", f"unknown protocol {raw!r} (expected {', '.join(PROTOCOLS)}; "
                                                   f"short names {', '.join(ALIASES)})")
            wanted.add(name)
    if task != "classification" and "mask-overlay" in wanted:
        raise BusbenchError("--protocols", "mask-overlay is a classification protocol")
    wanted.add("clean")
    return [p for p in PROTOCOLS if p in wanted]
