"""The protocols of the protocol inflation audit (``busbench audit protocols``): each one's folds, ready to train.

A protocol is a set of leaks (:mod:`benchmark.audit.leaks`: their names, composition order and parsing); this
module turns one into per-fold (train, selection, test) tensors (a :class:`ProtocolPlan`, or one per draw for a
lucky split). The leaky data transformations are in :mod:`benchmark.audit.protocol_data`, and
:mod:`benchmark.audit.protocols` trains the same submission under each protocol with the engine's fold body.

The clean folds are those of the committed split file the audit is given (``--splits``), or, without one, of a
duplicate-grouped split made here (seed ``seed``, as ``busbench splits make``). Each leak, and the seed papers
(``shared/reference/seed_protocols.md``) that used or may have used it:

* ``naive-split``: image-level folds (``group="none"``), so near-duplicates of a test image can sit in training.
  No seed paper deduplicates or splits by patient (all five).
* ``augment-before-split``: ``AUGMENTED_COPIES`` augmented copies of every image are made with the submission's
  ``augment`` hook from the whole dataset (fixed generator) and pooled with the originals *before* an image-level
  stratified k-fold, so copies of a test image land in training. Only original images are scored, so the scored
  cases are the clean ones (each original is a test case of exactly one fold). Cheyi & Cetin-Kaya 2024 ("dataset
  augmented with enhanced overlaid images", L187) and Li et al. 2025 (augmentation to "balance the dataset", L73).
* ``mask-overlay``: the ground-truth mask blended into the classifier's input for train, selection *and* test:
  inside the mask a pixel becomes ``(1 - OVERLAY_ALPHA) * image + OVERLAY_ALPHA * 255`` (a white overlay at
  ``OVERLAY_ALPHA = 0.5``), outside it is unchanged, i.e. ``image + a * mask * (255 - image)``. Normal images have
  empty masks, so the overlay reveals the class. Classification only. Cheyi & Cetin-Kaya 2024 (L144, L187);
  possibly Baniadam Dizaj & Valizadeh 2021 (L103).
* ``select-on-test``: the epoch is selected on the scored test part instead of the validation part. Munukurthi &
  Gayathri 2024 (checkpoint on "validation loss" with only train and test sets, L140-L146); Dajam & Qahmash 2025
  (hyper-parameters tuned on the reported set).
* ``lucky-split``: ``LUCKY_DRAWS`` single 80/20 splits (fold 0 of a 5-fold split dealt with seeds
  ``seed .. seed + N - 1``, grouped as the protocol's other leaks say); the best test score is reported as if it
  were the only one, and all draws are recorded. Every seed paper reports a single split without an interval.
* ``empty-mask-scored-1`` (segmentation) changes the scoring only: it has no plan of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from benchmark.audit.leaks import (
    AUGMENTED_COPIES,
    CLEAN,
    LEAKS,
    LUCKY_DRAWS,
    Protocol,
    applicable,
    parse_protocol,
    report_order,
)
from benchmark.audit.paper_protocols import PUBLISHED, paper_protocols, read_published
from benchmark.audit.protocol_data import OVERLAY_ALPHA, augmented_copies, concat, original_id, overlay_masks, take
from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import DuplicateReport
from benchmark.engine.fold import FoldData
from benchmark.engine.tensors import LabelledImages, images_only, labelled
from benchmark.errors import BusbenchError
from benchmark.metrics.classification import CLASSES
from benchmark.plugins.submission import Submission
from benchmark.splits.make import case_records, group_ids, make_split, redeal
from benchmark.splits.schema import Fold, SplitFile

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
    """What every protocol shares: the data, the submission, image size, folds, seed and the duplicate report.

    Attributes:
        code: The sha256 of the submission's source files (the runs' identity; the plugin process checks it).
        base: The committed split file whose folds are the clean ones (``None``: a duplicate-grouped split of
            ``k`` folds made here with ``seed``).
    """

    dataset: Dataset
    submission: Submission
    size: int
    k: int
    seed: int
    duplicates: DuplicateReport
    code: str
    base: SplitFile | None = None
    #: The augment-before-split pool (originals and their copies) per number of copies, made once.
    pools: dict[int, tuple[LabelledImages, LabelledImages]] = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes trained and scored: the committed split's (the audit refuses splits of other classes)."""
        return tuple(self.base.classes) if self.base is not None else CLASSES

    def pool(self, copies: int) -> tuple[LabelledImages, LabelledImages]:
        """The originals and the pool of originals with ``copies`` augmented copies of each (fixed generators)."""
        if copies not in self.pools:
            originals = labelled(self.dataset, [c.case_id for c in self.dataset.cases if c.label in self.classes],
                                 self.size, self.classes)
            self.pools[copies] = originals, concat([originals, augmented_copies(self.submission, originals, copies,
                                                                                self.seed)])
        return self.pools[copies]


# --- the plans --------------------------------------------------------------------------------------------------------


def _fold_plan(ctx: AuditContext, name: str, split: SplitFile, *, overlay: bool = False,
               select_on_test: bool = False, folds: list[int] | None = None,
               details: dict[str, Any] | None = None) -> ProtocolPlan:
    """A protocol that trains on each fold's ``train``, as the engine does, with the given leaks (if any)."""

    def build(k: int) -> FoldData:
        fold = split.folds[k]
        train = labelled(ctx.dataset, fold.train, ctx.size, split.classes)
        select = labelled(ctx.dataset, fold.test if select_on_test else fold.val, ctx.size, split.classes)
        if overlay:
            test = overlay_masks(labelled(ctx.dataset, fold.test, ctx.size, split.classes)).images
            train, select = overlay_masks(train), overlay_masks(select)
        else:
            test = images_only(ctx.dataset, fold.test, ctx.size)
        return FoldData(k, train, select, "test" if select_on_test else "val", tuple(fold.test), test)

    return ProtocolPlan(name, split, list(range(split.k)) if folds is None else folds, build, details or {})


def _grouped_split(ctx: AuditContext, group: str, *, k: int | None = None, seed: int | None = None) -> SplitFile:
    return make_split(ctx.dataset, k=k or ctx.k, seed=ctx.seed if seed is None else seed, group=group,
                      val_fraction=VAL_FRACTION, duplicates=ctx.duplicates)


def clean_split(ctx: AuditContext, *, k: int | None = None, seed: int | None = None) -> SplitFile:
    """The clean folds: the committed split file, or a duplicate-grouped split made here.

    The committed file is dealt again, keeping its groups, when another ``k`` or seed is asked for (a lucky draw).
    """
    if ctx.base is None:
        return _grouped_split(ctx, "duplicates", k=k, seed=seed)
    if k is None and seed is None:
        return ctx.base
    return redeal(ctx.base, ctx.dataset, k=k or ctx.base.k, seed=ctx.seed if seed is None else seed)


def _augment_plan(ctx: AuditContext, name: str, *, overlay: bool, select_on_test: bool, k: int, seed: int,
                  folds: list[int] | None, details: dict[str, Any], copies: int = AUGMENTED_COPIES) -> ProtocolPlan:
    """Augmented copies of the whole dataset pooled with the originals before an image-level stratified k-fold.

    The pool (originals and copies) is split by ``StratifiedKFold(shuffle=True, random_state=seed)``; each fold's
    training side is split again (seed ``seed + 1 + fold``) into train and a validation part of ``VAL_FRACTION``.
    Only the originals of a test part are scored; copies in the test part are dropped. With ``select_on_test`` the
    epoch is selected on the scored originals; with ``overlay`` every input (copies too, with their moved masks) is
    overlaid. Each fold records how many scored test originals have a copy in its train (and val) part.
    """
    ds = ctx.dataset
    ids = [c.case_id for c in ds.cases]
    originals, pool = ctx.pool(copies)
    labels = pool.labels.numpy()
    outer = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    parts: list[tuple[list[int], list[int], list[int]]] = []
    for fold_no, (side, test) in enumerate(outer.split(np.zeros(len(labels)), labels)):
        inner = StratifiedKFold(n_splits=max(2, round(1 / VAL_FRACTION)), shuffle=True,
                                random_state=seed + 1 + fold_no)
        keep, val = next(inner.split(np.zeros(len(side)), labels[side]))
        parts.append((side[keep].tolist(), side[val].tolist(), test.tolist()))
    n = len(ids)

    def scored(index: list[int]) -> tuple[str, ...]:
        return tuple(sorted(pool.case_ids[i] for i in index if i < n))

    clusters = ctx.duplicates.cluster_ids(ids)
    split = SplitFile(
        ds.name, ds.fingerprint(), ds.classes,
        {"command": "busbench audit protocols", "protocol": "augment-before-split", "k": k, "seed": seed,
         "group": "none", "val_fraction": VAL_FRACTION, "copies": copies,
         "method": "sklearn StratifiedKFold(shuffle=True) over originals and augmented copies pooled"},
        case_records(ds, group_ids(ds, "none", clusters), clusters),
        [Fold(scored(tr), scored(va), scored(te)) for tr, va, te in parts],
    )

    def build(fold_no: int) -> FoldData:
        tr, va, te = parts[fold_no]
        test_rows = [i for i in te if i < n]
        test_ids = tuple(pool.case_ids[i] for i in test_rows)
        train_from = {original_id(pool.case_ids[i]) for i in tr if i >= n}
        val_from = {original_id(pool.case_ids[i]) for i in va if i >= n}
        facts = {"n_train_items": len(tr), "n_val_items": len(va), "n_test_originals": len(test_ids),
                 "test_originals_with_copy_in_train": sum(c in train_from for c in test_ids),
                 "test_originals_with_copy_in_val": sum(c in val_from for c in test_ids)}
        train, select, test = take(pool, tr), take(originals, test_rows) if select_on_test else take(pool, va), \
            take(originals, test_rows)
        if overlay:
            train, select, test = overlay_masks(train), overlay_masks(select), overlay_masks(test)
        return FoldData(fold_no, train, select, "test" if select_on_test else "val", test_ids, test.images, facts)

    return ProtocolPlan(name, split, list(range(k)) if folds is None else folds, build,
                        {**details, "group": "none", "copies": copies,
                         "scored": "original images only; each original is a test case of exactly one fold"})


def protocol_plans(ctx: AuditContext, protocol: Protocol, lucky_draws: int = LUCKY_DRAWS) -> list[ProtocolPlan]:
    """The plans that train ``protocol`` (its scoring-only leaks aside): one, or one per draw for a lucky split.

    Raises:
        BusbenchError: For a leak that does not apply to the submission's task, or mask overlay without masks.
    """
    protocol.check_task(ctx.submission.spec.task)
    trained = protocol.training
    overlay, select = trained.has("mask-overlay"), trained.has("select-on-test")
    if overlay and not ctx.dataset.has_masks:
        raise BusbenchError(ctx.dataset.name, "has no masks; the mask-overlay protocol needs them")
    details: dict[str, Any] = {"leaks": [leak for leak in LEAKS if trained.has(leak)],
                               "selection": "test" if select else "val"}
    if overlay:
        details.update(alpha=OVERLAY_ALPHA, formula="image + alpha * mask * (255 - image), on train, val and test")

    def plan(k: int, seed: int, folds: list[int] | None, more: dict[str, Any]) -> ProtocolPlan:
        if trained.has("augment-before-split"):
            return _augment_plan(ctx, trained.name, overlay=overlay, select_on_test=select, k=k, seed=seed,
                                 folds=folds, details={**details, **more})
        if trained.has("naive-split"):
            split = _grouped_split(ctx, "none", k=k, seed=seed)
        else:
            split = clean_split(ctx) if (k, seed) == (ctx.k, ctx.seed) else clean_split(ctx, k=k, seed=seed)
        return _fold_plan(ctx, trained.name, split, overlay=overlay, select_on_test=select, folds=folds,
                          details={**details, "group": split.generator.get("group"), **more})

    if trained.has("lucky-split"):
        return [plan(5, ctx.seed + i, [0], {"draw": i, "split_seed": ctx.seed + i}) for i in range(lucky_draws)]
    return [plan(ctx.k, ctx.seed, None, {})]


def _single(ctx: AuditContext, name: str) -> ProtocolPlan:
    return protocol_plans(ctx, parse_protocol(name))[0]


def clean_protocol(ctx: AuditContext) -> ProtocolPlan:
    """The clean folds, augmentation in training only, epoch selected on the inner validation part."""
    return _single(ctx, "clean")


def naive_split_protocol(ctx: AuditContext) -> ProtocolPlan:
    """Image-level folds (near-duplicates of a test image may be in training); otherwise as clean."""
    return _single(ctx, "naive-split")


def select_on_test_protocol(ctx: AuditContext) -> ProtocolPlan:
    """The clean folds and training data, but the epoch is selected on the test part."""
    return _single(ctx, "select-on-test")


def mask_overlay_protocol(ctx: AuditContext) -> ProtocolPlan:
    """The clean folds with the ground-truth mask blended into train, validation and test inputs.

    Raises:
        BusbenchError: For a segmentation submission (the input would hold the answer) or data without masks.
    """
    return _single(ctx, "mask-overlay")


def augment_before_split_protocol(ctx: AuditContext) -> ProtocolPlan:
    """Augmented copies of the whole dataset pooled with the originals before an image-level stratified k-fold."""
    return _single(ctx, "augment-before-split")


def lucky_split_draws(ctx: AuditContext, draws: int = LUCKY_DRAWS) -> list[ProtocolPlan]:
    """``draws`` single 80/20 splits: fold 0 of a 5-fold clean split dealt with seed ``seed + i``."""
    return protocol_plans(ctx, parse_protocol("lucky-split"), draws)


def parse_protocols(text: str | None, task: str, published: Path = PUBLISHED) -> list[Protocol]:
    """The protocols ``--protocols`` names, in report order, clean always first.

    Args:
        text: Comma-separated protocols, each a leak or leaks joined by ``+`` (short names allowed; see
            :func:`benchmark.audit.leaks.parse_protocol`), or ``papers``: every protocol that reproduces a headline
            number of the task in the published ledger (:mod:`benchmark.audit.paper_protocols`). ``None``: every
            single protocol that applies to the task.
        task: The submission's task.
        published: The ledger ``papers`` reads.

    Raises:
        BusbenchError: For an unknown leak, a combination that cannot be made, or a leak of the other task.
    """
    if text is None:
        return applicable(task)
    wanted = [CLEAN]
    for raw in (t.strip() for t in text.split(",")):
        if raw == "papers":
            wanted += paper_protocols(read_published(published), task)
        elif raw:
            wanted.append(parse_protocol(raw))
    for protocol in wanted:
        protocol.check_task(task)
    return report_order(wanted)
