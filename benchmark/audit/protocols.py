"""Protocol inflation (``busbench audit protocols``): how much each leaky evaluation protocol inflates a score.

The same submission is trained with the same epochs, image size, hyper-parameters and seeds under each protocol,
and each protocol's pooled test score is reported beside the clean one. The leaky data flows live in this module
only; the leaderboard's engine (:mod:`benchmark.engine.runner`) never sees them. Every protocol is a small function
that turns the data into per-fold (train, selection, test) tensors; training, prediction and scoring are the
engine's own building blocks (``train_fold``, ``predict_probabilities``, ``score_predictions``).

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

Outputs, under ``--out``: one run folder per protocol (``run.json`` of kind ``"protocol-audit"`` with
``split.protocol`` set to the protocol name, ``split.json``, ``fold-<k>/``, ``metrics.json``; the lucky split keeps
each draw in ``draw-<i>/``), indexed in the results store, and ``protocols.json`` with the summary table. A
protocol whose folder is complete is reused; an unfinished one resumes fold by fold (and epoch by epoch).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from benchmark.audit.duplicates import DuplicateReport, find_duplicates
from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.device import ComputeSetup, resolve_compute, seed_everything
from benchmark.engine.loop import PluginError, TrainSettings, derived_seed, train_fold
from benchmark.engine.runner import predict_test_fold
from benchmark.engine.tensors import LabelledImages, images_only, labelled
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import HEADLINE, N_BOOT, ScoringInputs, prepare, score_predictions
from benchmark.fileio import atomic_write_json
from benchmark.metrics.paired import paired_bootstrap
from benchmark.plugins import registry
from benchmark.plugins.submission import Submission, TrainBatch
from benchmark.results.rundir import (
    RunDir,
    config_hash,
    file_sha256,
    git_commit,
    package_versions,
)
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.make import case_records, group_ids, make_split
from benchmark.splits.schema import Fold, SplitFile

#: Protocols in report order.
PROTOCOLS = ("clean", "naive-split", "augment-before-split", "mask-overlay", "select-on-test", "lucky-split")
#: Short names accepted by ``--protocols``.
ALIASES = {"naive": "naive-split", "augment": "augment-before-split", "overlay": "mask-overlay",
           "select": "select-on-test", "lucky": "lucky-split"}
#: Weight of the ground-truth mask in the mask-overlay protocol's inputs.
OVERLAY_ALPHA = 0.5
#: Augmented copies per image in the augment-before-split protocol.
AUGMENTED_COPIES = 2
#: Random single splits drawn by the lucky-split protocol (default).
LUCKY_DRAWS = 5
#: Share of the training side kept for epoch selection (as ``busbench splits make``'s default).
VAL_FRACTION = 0.2
#: Figures shown beside the headline, per task.
SHOWN = {"classification": ("balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro"),
         "segmentation": ("dice", "iou")}
#: Marks an augmented copy's id: ``<case_id>#aug<j>``.
COPY_MARK = "#aug"


@dataclass(frozen=True)
class FoldData:
    """What one fold of a protocol trains, selects and predicts on.

    Attributes:
        fold: Fold number.
        train: Training data (augmented by the submission's hook during training, as in the engine).
        select: Data the epoch is selected on (passed as ``val`` to ``train_fold``).
        selection: ``"val"`` or ``"test"``: which part ``select`` is.
        test_ids: Scored test cases, in row order of ``test_images``.
        test_images: uint8 (N, 1, S, S) inputs the model predicts on.
        facts: Protocol-specific counts recorded in the fold's ``result.json``.
    """

    fold: int
    train: LabelledImages
    select: LabelledImages
    selection: str
    test_ids: tuple[str, ...]
    test_images: torch.Tensor
    facts: dict[str, Any] = field(default_factory=dict)


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


# --- building blocks ------------------------------------------------------------------------------------------------


def take(data: LabelledImages, index: Sequence[int]) -> LabelledImages:
    """The rows ``index`` of ``data``."""
    idx = torch.as_tensor(list(index), dtype=torch.int64)
    masks = None if data.masks is None else data.masks[idx]
    return LabelledImages(tuple(data.case_ids[i] for i in idx.tolist()), data.images[idx], data.labels[idx], masks)


def concat(parts: Sequence[LabelledImages]) -> LabelledImages:
    """Rows of several :class:`LabelledImages` one after another."""
    masks = None if any(p.masks is None for p in parts) else torch.cat([p.masks for p in parts])  # type: ignore[misc]
    return LabelledImages(tuple(c for p in parts for c in p.case_ids), torch.cat([p.images for p in parts]),
                          torch.cat([p.labels for p in parts]), masks)


def overlay_masks(data: LabelledImages, alpha: float = OVERLAY_ALPHA) -> LabelledImages:
    """The images with their ground-truth masks blended in as white: ``image + alpha * mask * (255 - image)``.

    Inside the mask a pixel becomes ``(1 - alpha) * image + alpha * 255``; outside it is left as it is, so the input
    changes exactly where the lesion is (and not at all for a normal image, whose mask is empty).

    Raises:
        BusbenchError: If the data has no masks.
    """
    if data.masks is None:
        raise BusbenchError("mask-overlay", "needs a dataset with masks")
    image = data.images.float()
    blended = image + alpha * data.masks.float() * (255.0 - image)
    return LabelledImages(data.case_ids, blended.round().clamp(0, 255).to(torch.uint8), data.labels, data.masks)


def augmented_copies(submission: Submission, data: LabelledImages, copies: int, seed: int,
                     chunk: int = 128) -> LabelledImages:
    """``copies`` augmented copies of every image, made by the submission's ``augment`` hook with fixed generators.

    Copy ``j`` of case ``c`` gets the id ``c#aug<j>``, its label, and its mask moved with the image.

    Raises:
        PluginError: If the hook fails or returns images of another shape.
    """
    parts = []
    for j in range(copies):
        generator = torch.Generator().manual_seed(derived_seed(seed, -2, j))
        images, masks = [], []
        for start in range(0, data.images.shape[0], chunk):
            rows = slice(start, start + chunk)
            m = None if data.masks is None else data.masks[rows].float()
            batch = TrainBatch(data.images[rows].float().div(255), data.labels[rows], m)
            try:
                out = submission.augment(batch, generator)
            except Exception as exc:  # the submission's own code: reported like the engine reports it
                raise PluginError(f"augment hook: {type(exc).__name__}: {exc}") from exc
            if tuple(out.images.shape) != tuple(batch.images.shape):
                raise PluginError(f"augment hook returned shape {tuple(out.images.shape)}, expected "
                                  f"{tuple(batch.images.shape)}")
            images.append(out.images.clamp(0, 1).mul(255).round().to(torch.uint8))
            if out.masks is not None:
                masks.append((out.masks >= 0.5).to(torch.uint8))
        ids = tuple(f"{c}{COPY_MARK}{j}" for c in data.case_ids)
        parts.append(LabelledImages(ids, torch.cat(images), data.labels.clone(),
                                    torch.cat(masks) if masks else None))
    return concat(parts)


def original_id(item_id: str) -> str:
    """The case an item (case or augmented copy) comes from."""
    return item_id.split(COPY_MARK, 1)[0]


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


# --- running one protocol -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRequest:
    """What ``busbench audit protocols`` was asked to do (see its ``--help``)."""

    submission: str
    dataset: str
    task: str | None = None
    protocols: str | None = None
    epochs: int | None = None
    image_size: int | None = None
    k: int = 5
    seed: int = 0
    lucky_draws: int = LUCKY_DRAWS
    hparams: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    out: Path = Path("runs/protocol-audit")
    results_url: str | None = None
    progress: bool = False


def run_plan(plan: ProtocolPlan, rd: RunDir, ctx: AuditContext, epochs: int, compute: ComputeSetup,
             progress: bool = False) -> dict[str, Any]:
    """Train and predict the plan's folds into ``rd`` (finished folds are kept), then score them.

    Returns:
        ``{"metrics": metrics.json document, "folds": {fold: result}}``.

    Raises:
        PluginError: If the submission's code fails (the fold is recorded as failed first).
    """
    batch_size = int(ctx.submission.hparams["batch_size"])
    results: dict[int, dict[str, Any]] = {}
    for k in plan.folds:
        previous = rd.fold_result(k)
        if previous is not None and previous.get("status") == "completed":
            results[k] = previous
            continue
        fold_dir = rd.fold_dir(k)
        fold_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        seed_everything(ctx.seed)
        try:
            data = plan.build(k)
            settings = TrainSettings(epochs, batch_size, ctx.seed, k, progress)
            model, best_epoch, history = train_fold(ctx.submission, data.train.to(compute.device),
                                                    data.select.to(compute.device), settings, compute,
                                                    fold_dir / "checkpoint.pt")
            predict_test_fold(ctx.submission, model, ctx.dataset, data.test_ids, data.test_images, compute,
                              batch_size * 2, data.fold, fold_dir)
        except PluginError as exc:
            rd.write_fold_result(k, {"fold": k, "status": "failed", "error": str(exc)})
            raise
        result = {"fold": k, "status": "completed", "best_epoch": best_epoch, "history": history,
                  "seconds": time.perf_counter() - started, "selection": data.selection,
                  "n_train": len(data.train.case_ids), "n_select": len(data.select.case_ids),
                  "n_test": len(data.test_ids), **data.facts}
        rd.write_fold_result(k, result)
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
        results[k] = result
    predictions = read_run_predictions(rd, ctx.submission.spec.task, plan.split, plan.folds)
    metrics = score_predictions(ctx.submission.spec.task, plan.split, ctx.dataset, predictions, folds=plan.folds)
    atomic_write_json(rd.metrics_json, metrics)
    return {"metrics": metrics, "folds": results}


def _scoring_inputs(rd: RunDir, plan: ProtocolPlan, ctx: AuditContext) -> ScoringInputs:
    task = ctx.submission.spec.task
    return prepare(task, plan.split, ctx.dataset, read_run_predictions(rd, task, plan.split, plan.folds),
                   folds=plan.folds)


def paired_difference(clean: ScoringInputs, other: ScoringInputs, metric: str) -> dict[str, Any]:
    """Paired cluster bootstrap of ``other - clean`` on ``metric``, when both scored exactly the same cases.

    Resamples clean's groups (duplicate clusters); each resample scores both protocols on the same cases.

    Returns:
        ``PairedComparison.to_dict()``, or ``{"reason": ...}`` when the case sets differ.
    """
    if sorted(clean.ids) != sorted(other.ids):
        return {"difference": None, "reason": "the protocols score different case sets, so no paired comparison"}
    position = {c: i for i, c in enumerate(other.ids)}
    perm = np.array([position[c] for c in clean.ids])
    stat_other = other.statistic(metric)
    result = paired_bootstrap(clean.statistic(metric), lambda idx: stat_other(perm[idx]), len(clean.ids),
                              clean.groups, n_boot=N_BOOT, seed=0)
    return result.to_dict()


# --- the audit --------------------------------------------------------------------------------------------------------


def _run_doc(run_id: str, name: str, ctx: AuditContext, req: AuditRequest, epochs: int, rd: RunDir,
             plan: ProtocolPlan | None, compute: ComputeSetup) -> dict[str, Any]:
    spec, sub = ctx.submission.spec, ctx.submission
    if plan is None:  # lucky split: each draw keeps its own split.json
        split_doc = {"path": None, "sha256": None, "k": 5, "group": "duplicates", "protocol": name}
        details: dict[str, Any] = {"draws_requested": req.lucky_draws}
    else:
        split_doc = {"path": "split.json", "sha256": file_sha256(rd.path / "split.json"), "k": plan.split.k,
                     "group": plan.split.generator.get("group"), "protocol": name}
        details = plan.details
    return {
        "run_id": run_id, "kind": "protocol-audit",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": spec.task, "submission": spec.to_json(), "hparams": sub.hparams, "image_size": ctx.size,
        "epochs": epochs, "seed": ctx.seed, "tuned": False, "pretrained": bool(sub.hparams.get("pretrained")),
        "dataset": {"name": ctx.dataset.name, "fingerprint": ctx.dataset.fingerprint(), "spec": req.dataset},
        "split": split_doc,
        "protocol": {"name": name, **details}, "folds": {}, "status": "running",
        "compute": compute.to_json(), "git_commit": git_commit(), "versions": package_versions(),
    }


def _finish(rd: RunDir, doc: dict[str, Any], outcome: dict[str, Any] | None, error: str | None) -> None:
    if outcome is not None:
        doc["folds"] = {str(k): {"seconds": round(r["seconds"], 2), "best_epoch": r["best_epoch"]}
                        for k, r in outcome["folds"].items()}
    doc.update({"status": "failed" if error else "completed", "errors": {"protocol": error} if error else {},
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    rd.write_run(doc)


def _is_done(rd: RunDir) -> bool:
    doc = rd.read_run()
    return doc is not None and doc.get("status") == "completed" and rd.metrics_json.exists()


def _entry(name: str, rd: RunDir, metrics: dict[str, Any], task: str) -> dict[str, Any]:
    return {"protocol": name, "run_dir": str(rd.path), "status": "completed",
            "metric": metrics["headline"]["metric"], "value": metrics["headline"]["value"],
            "ci_low": metrics["headline"]["ci_low"], "ci_high": metrics["headline"]["ci_high"],
            "n_cases": metrics["n_cases"],
            "figures": {m: {"value": metrics["pooled"].get(m), "ci_low": metrics["ci"][m]["low"],
                            "ci_high": metrics["ci"][m]["high"]} for m in SHOWN[task]}}


def _run_lucky(ctx: AuditContext, req: AuditRequest, rd: RunDir, doc: dict[str, Any], epochs: int,
               compute: ComputeSetup) -> dict[str, Any]:
    """Run every draw in ``draw-<i>/``; copy the best draw's metrics to the run's ``metrics.json``."""
    metric = HEADLINE[ctx.submission.spec.task]
    draws = []
    for plan in lucky_split_draws(ctx, req.lucky_draws):
        i = plan.details["draw"]
        draw_rd = RunDir(rd.path / f"draw-{i}")
        atomic_write_json(draw_rd.path / "split.json", plan.split.to_json())
        out = run_plan(plan, draw_rd, ctx, epochs, compute, req.progress)
        h = out["metrics"]["headline"]
        draws.append({"draw": i, "split_seed": plan.details["split_seed"], "value": h["value"],
                      "ci_low": h["ci_low"], "ci_high": h["ci_high"], "n_cases": out["metrics"]["n_cases"],
                      "seconds": round(out["folds"][0]["seconds"], 2), "best_epoch": out["folds"][0]["best_epoch"]})
    best = max(draws, key=lambda d: -np.inf if d["value"] is None else d["value"])
    shutil.copyfile(rd.path / f"draw-{best['draw']}" / "metrics.json", rd.metrics_json)
    doc["protocol"].update({"draws": draws, "reported_draw": best["draw"], "metric": metric,
                            "reported": "the best draw's test score, as if it were the only split"})
    doc["folds"] = {f"draw-{d['draw']}": {"seconds": d["seconds"], "best_epoch": d["best_epoch"]} for d in draws}
    return json.loads(rd.metrics_json.read_text())


def audit_protocols(req: AuditRequest) -> dict[str, Any]:
    """Run each requested protocol (reusing finished ones) and write ``protocols.json`` (see module docstring).

    Returns:
        The ``protocols.json`` document: ``task``, ``metric``, ``rows`` (one per protocol, in report order, with
        value, 95% CI, ``inflation_pp`` over clean and ``paired`` difference vs clean) and the shared settings.

    Raises:
        BusbenchError: On bad input (unknown submission or protocol, task mismatch, data that cannot be split).
    """
    cls = registry.get(req.submission)
    spec = cls.spec
    if req.task is not None and req.task != spec.task:
        raise BusbenchError(f"model {spec.name!r}", f"is a {spec.task} model, not {req.task}")
    names = parse_protocols(req.protocols, spec.task)
    if req.lucky_draws < 1:
        raise BusbenchError("--lucky-draws", f"must be at least 1, got {req.lucky_draws}")
    submission = cls(req.hparams)
    if req.epochs is not None:
        submission.hparams["epochs"] = req.epochs
    epochs = int(submission.hparams["epochs"])
    dataset = open_dataset(req.dataset)
    if spec.task == "segmentation" and not dataset.has_masks:
        raise BusbenchError(dataset.name, "has no masks; segmentation models cannot be trained on it")
    compute = resolve_compute(req.device, req.precision, req.threads)
    ctx = AuditContext(dataset, submission, int(req.image_size or spec.input_size), req.k, req.seed,
                       find_duplicates(dataset, progress=req.progress))
    base = {"submission": spec.name, "task": spec.task, "hparams": submission.hparams, "image_size": ctx.size,
            "dataset": dataset.fingerprint(), "k": req.k, "seed": req.seed,
            "device": compute.device.split(":")[0], "precision": compute.precision}
    metric = HEADLINE[spec.task]
    rows: list[dict[str, Any]] = []
    inputs: dict[str, ScoringInputs] = {}
    for name in names:
        identity = {**base, "protocol": name, "copies": AUGMENTED_COPIES if name == "augment-before-split" else None,
                    "alpha": OVERLAY_ALPHA if name == "mask-overlay" else None,
                    "draws": req.lucky_draws if name == "lucky-split" else None}
        run_id = f"{spec.name}-{name}-{config_hash(identity)}"
        rd = RunDir(req.out / run_id)
        plan = None if name == "lucky-split" else _BUILDERS[name](ctx)
        if _is_done(rd):
            print(f"{name}: complete already, kept ({rd.path})", file=sys.stderr)
            metrics = json.loads(rd.metrics_json.read_text())
        else:
            print(f"{name}: training {spec.name}, {epochs} epochs at {ctx.size} px -> {rd.path}", file=sys.stderr)
            if plan is not None:
                atomic_write_json(rd.path / "split.json", plan.split.to_json())
            doc = rd.read_run() or _run_doc(run_id, name, ctx, req, epochs, rd, plan, compute)
            rd.write_run(doc)
            try:
                if plan is None:
                    metrics = _run_lucky(ctx, req, rd, doc, epochs, compute)
                    outcome = None
                else:
                    outcome = run_plan(plan, rd, ctx, epochs, compute, req.progress)
                    metrics = outcome["metrics"]
            except PluginError as exc:
                _finish(rd, doc, None, str(exc))
                rows.append({"protocol": name, "run_dir": str(rd.path), "status": "failed", "error": str(exc)})
                print(f"{name}: FAILED: {exc}", file=sys.stderr)
                continue
            _finish(rd, doc, outcome, None)
        with ResultsStore(req.results_url or default_store_url(req.out)) as store:
            store.index_run(rd.path)
        row = _entry(name, rd, metrics, spec.task)
        if name == "lucky-split":
            row["draws"] = (rd.read_run() or {})["protocol"]["draws"]
        elif plan is not None:
            inputs[name] = _scoring_inputs(rd, plan, ctx)
        rows.append(row)
    _add_comparisons(rows, inputs, metric)
    summary = {"task": spec.task, "metric": metric, "submission": spec.name, "dataset": req.dataset,
               "epochs": epochs, "image_size": ctx.size, "k": req.k, "seed": req.seed,
               "overlay_alpha": OVERLAY_ALPHA, "augmented_copies": AUGMENTED_COPIES, "lucky_draws": req.lucky_draws,
               "rows": rows}
    atomic_write_json(req.out / "protocols.json", summary)
    return summary


def _add_comparisons(rows: list[dict[str, Any]], inputs: dict[str, ScoringInputs], metric: str) -> None:
    clean = next((r for r in rows if r["protocol"] == "clean" and r["status"] == "completed"), None)
    for row in rows:
        if row["status"] != "completed":
            continue
        if clean is None or row["value"] is None or clean["value"] is None:
            row["inflation_pp"] = None
        else:
            row["inflation_pp"] = 100 * (row["value"] - clean["value"])
        if row["protocol"] == "clean":
            row["paired"] = None
        elif row["protocol"] == "lucky-split":
            row["paired"] = {"difference": None, "reason": "the reported draw's test part is a different (20%) "
                                                           "case set, so no paired comparison"}
        elif "clean" in inputs and row["protocol"] in inputs:
            row["paired"] = paired_difference(inputs["clean"], inputs[row["protocol"]], metric)
        else:
            row["paired"] = {"difference": None, "reason": "clean protocol not scored"}


def _num(v: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a text table: protocol, headline with 95% CI, other figures, inflation, paired difference."""
    task = summary["task"]
    extra = [m for m in SHOWN[task] if m != summary["metric"]]
    head = (f"{'protocol':<22}{summary['metric'] + ' [95% CI]':<28}" + "".join(f"{m:>15}" for m in extra)
            + f"{'vs clean (pp)':>15}  paired difference vs clean [95% CI]")
    lines = [head, "-" * len(head)]
    for r in summary["rows"]:
        if r["status"] != "completed":
            lines.append(f"{r['protocol']:<22}FAILED: {r['error']}")
            continue
        ci = f"{_num(r['value'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
        p = r.get("paired")
        if p is None:
            paired = ""
        elif p.get("difference") is None or p.get("low") is None:
            paired = p.get("reason") or ""
        else:
            paired = f"{p['difference']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}] p={p['p_value']:.3f}"
        inflation = _num(r.get("inflation_pp"), "{:+.1f}")
        lines.append(f"{r['protocol']:<22}{ci:<28}" + "".join(f"{_num(r['figures'][m]['value']):>15}" for m in extra)
                     + f"{inflation:>15}  {paired}")
        if r["protocol"] == "lucky-split":
            values = ", ".join(_num(d["value"]) for d in r["draws"])
            lines.append(f"{'':<22}best of {len(r['draws'])} draws: {values}")
    return "\n".join(lines)
