"""One fold, trained and predicted once: the body every command that trains runs (run, tune, audit protocols).

The sequence is written here and nowhere else: seed, train on the fold's training data, select the epoch on its
selection data, predict the test images once, keep the selected weights, and write the fold's ``result.json``
with its history, wall time and peak memory. What differs between the commands is only the data a fold sees
(:class:`FoldData`: the engine's clean fold, or a leaky protocol's) and a few recorded extras (a tuned fold's
study); :func:`run_folds` is the fold loop of ``busbench run`` and of every audit protocol.

The submission's own code runs in a separate process that never holds the fold's test labels or masks
(:mod:`benchmark.engine.plugin_process`); this process builds the fold's data, keeps its test case ids, and writes
what the plugin predicted.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.data.dataset import Dataset
from benchmark.engine.device import ComputeSetup, seed_everything
from benchmark.engine.loop import PluginError, TrainSettings
from benchmark.engine.plugin_process import PluginProcess
from benchmark.engine.tensors import LabelledImages, images_only, labelled
from benchmark.engine.zygote import warm_up
from benchmark.errors import BusbenchError
from benchmark.fileio import remove_partial_writes, try_lock
from benchmark.plugins.submission import Submission
from benchmark.results.rundir import EXTERNAL_PREDICTIONS, RunDir, write_class_predictions, write_masks
from benchmark.splits.schema import SplitFile

#: Seconds between looks at a fold (or an audit's protocol) another process is training (``BUSBENCH_LOCK_POLL``).
LOCK_POLL_SECONDS = float(os.environ.get("BUSBENCH_LOCK_POLL", "30"))


@dataclass(frozen=True)
class FoldData:
    """What one fold trains, selects and predicts on.

    Attributes:
        fold: Fold number (written in the predictions' ``fold`` column).
        train: Training data (augmented by the submission's hook during training).
        select: Data the epoch is selected on (the loop's ``val``).
        selection: ``"val"`` or ``"test"``: which part ``select`` is (``"test"`` only in the leakage audit).
        test_ids: Scored test cases, in row order of ``test_images``.
        test_images: uint8 (N, 1, S, S) inputs the model predicts on, pixels only.
        facts: Protocol-specific counts recorded in the fold's ``result.json``.
        external_ids: Cases of another dataset the fold's model also predicts (external validation), in row order
            of ``external_images``; written to ``external.csv``.
        external_images: uint8 (M, 1, S, S) images of those cases, pixels only (``None``: no external data).
    """

    fold: int
    train: LabelledImages
    select: LabelledImages
    selection: str
    test_ids: tuple[str, ...]
    test_images: torch.Tensor
    facts: dict[str, Any] = field(default_factory=dict)
    external_ids: tuple[str, ...] = ()
    external_images: torch.Tensor | None = None


def clean_fold(dataset: Dataset, split: SplitFile, k: int, size: int) -> FoldData:
    """Fold ``k`` of a committed split as the leaderboard trains it: train on ``train``, select on ``val``.

    The test side is built by :func:`~benchmark.engine.tensors.images_only`: pixels, no label, no mask.
    """
    fold = split.folds[k]
    return FoldData(k, labelled(dataset, fold.train, size, split.classes),
                    labelled(dataset, fold.val, size, split.classes), "val",
                    tuple(fold.test), images_only(dataset, fold.test, size))


def write_test_predictions(task: str, dataset: Dataset, test_ids: Sequence[str], probs: torch.Tensor, fold: int,
                           fold_dir: Path, classes: Sequence[str]) -> None:
    """Write a fold's test predictions: probabilities (CSV) or binary masks at each case's original size.

    Args:
        task: ``classification`` or ``segmentation``.
        dataset: The dataset (its facts give each case's original size).
        test_ids: The test cases, in row order of ``probs``.
        probs: (N, len(classes)) class probabilities or (N, 1, S, S) lesion probabilities from the plugin process.
        fold: The fold number (the CSV's ``fold`` column).
        fold_dir: The fold's folder.
        classes: The classes of the probability columns (the split's; a ``prob_<class>`` column each).
    """
    if task == "classification":
        write_class_predictions(fold_dir / "predictions.csv",
                                [(cid, fold, p.numpy()) for cid, p in zip(test_ids, probs, strict=True)], classes)
        return
    facts = dataset.facts()
    masks = {}
    for cid, p in zip(test_ids, probs, strict=True):
        # Predictions are scored at the reference mask's original size.
        h, w = facts[cid].height, facts[cid].width
        full = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        masks[cid] = (full >= 0.5).numpy()
    write_masks(fold_dir / "masks.npz", masks)


@dataclass(frozen=True)
class FoldRun:
    """A trained fold: its ``result.json`` document and the model's parameter count."""

    result: dict[str, Any]
    params: int


def run_fold(submission: Submission, dataset: Dataset, k: int, build: Callable[[], FoldData], *, code: str,
             epochs: int, seed: int, compute: ComputeSetup, rd: RunDir, progress: bool = False,
             resumable: bool = True, extra: dict[str, Any] | None = None) -> FoldRun:
    """Train fold ``k`` into ``rd``, predict its test images once, keep the weights, write its result.

    The submission's code runs in a :class:`~benchmark.engine.plugin_process.PluginProcess`, which is sent the
    fold's training and selection cases and then its bare test images; this process keeps the test case ids and
    writes the predictions. The fold's wall time counts from before its data is built to the written result
    (starting the plugin process included); its peak memory is the plugin process's.

    Args:
        submission: The configured submission (its ``batch_size`` hyper-parameter sets the batches).
        dataset: The dataset (segmentation masks are written at each case's original size).
        k: The fold number (its folder is ``fold-<k>/``).
        build: Makes what the fold sees (called once, after the run seed is set).
        code: The sha256 of the submission's source files that the run's identity recorded; the plugin process
            refuses to train other code.
        epochs: Training epochs.
        seed: Run seed (every random stream derives from it and the fold number).
        compute: Device, precision and threads.
        rd: The run folder; the fold writes ``fold-<k>/`` in it.
        progress: Show a batch progress bar.
        resumable: Keep the epoch checkpoint in the fold folder, so a killed fold continues where it stopped; the
            caller holds the fold's lock, and files a killed trainer half-wrote there are removed first.
            ``False`` keeps none (workers sharing a run folder may train the same fold at once; a killed one
            trains the fold again from its first epoch).
        extra: More fields for the fold's ``result.json`` (a tuned fold's study), failed or not.

    Returns:
        The fold's result document and the model's parameter count.

    Raises:
        PluginError: If the submission's code fails; the fold's result is recorded as failed first.
    """
    extra = extra or {}
    fold_dir = rd.fold_dir(k)
    fold_dir.mkdir(parents=True, exist_ok=True)
    if resumable:  # the fold's lock is held (run_folds): what a killed trainer of this fold half-wrote goes
        remove_partial_writes(fold_dir)
    batch_size = int(submission.hparams["batch_size"])
    started = time.perf_counter()
    seed_everything(seed)
    settings = TrainSettings(epochs, batch_size, seed, k, progress)
    try:
        data = build()
        with PluginProcess(type(submission), code, compute) as plugin:
            plugin.load(data.train, data.select)
            trained = plugin.train(submission.hparams, settings, fold_dir / "checkpoint.pt" if resumable else None)
            images = data.test_images
            if data.external_images is not None:  # one prediction pass over both, the test cases first
                images = torch.cat([images, data.external_images])
            probs, memory = plugin.predict(images, batch_size * 2, fold_dir / "model.pt")
        n_test = len(data.test_ids)
        write_test_predictions(submission.spec.task, dataset, data.test_ids, probs[:n_test], data.fold, fold_dir,
                               data.train.classes)
        if data.external_images is not None:  # the external side is one fold (0) of its own
            write_class_predictions(fold_dir / EXTERNAL_PREDICTIONS, [
                (cid, 0, p.numpy()) for cid, p in zip(data.external_ids, probs[n_test:], strict=True)],
                data.train.classes)
    except PluginError as exc:
        record_fold_result(rd, k, {"fold": k, "status": "failed", "error": str(exc), **extra})
        raise
    result = {"fold": k, "status": "completed", "best_epoch": trained.best_epoch, "history": trained.history,
              "seconds": time.perf_counter() - started, "memory": memory, "selection": data.selection,
              "n_train": len(data.train.case_ids), "n_val": len(data.select.case_ids), "n_test": len(data.test_ids),
              **({"n_external": len(data.external_ids)} if data.external_images is not None else {}),
              **data.facts, **extra}
    result = record_fold_result(rd, k, result)
    (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
    return FoldRun(result, trained.params)


def record_fold_result(rd: RunDir, k: int, doc: dict[str, Any]) -> dict[str, Any]:
    """Write a fold's result; the result written, or the one kept.

    When another process sharing the run folder completed the fold first, its result is kept (a finished fold's
    files are never rewritten) and returned.
    """
    try:
        rd.write_fold_result(k, doc)
    except BusbenchError:
        kept = rd.fold_result(k) or {}
        if kept.get("status") != "completed":
            raise
        print(f"fold {k}: completed by another process meanwhile, its result kept", file=sys.stderr)
        return kept
    return doc


def fold_entry(result: dict[str, Any]) -> dict[str, Any]:
    """A completed fold's line in ``run.json``'s fold table: its wall time, best epoch and peak memory."""
    summary = {"seconds": round(result["seconds"], 2), "best_epoch": result["best_epoch"]}
    if "memory" in result:  # folds finished before busbench recorded memory have none
        summary["memory"] = result["memory"]
    return summary


def run_folds(submission: Submission, dataset: Dataset, folds: Sequence[int], build: Callable[[int], FoldData], *,
              code: str, epochs: int, seed: int, compute: ComputeSetup, rd: RunDir, doc: dict[str, Any] | None,
              progress: bool = False, stop_on_failure: bool = False, jobs: int = 1) -> dict[int, str]:
    """Run each fold that has not completed (finished folds are kept, never recomputed).

    Each fold trains under a lock (``.locks/fold-<k>.lock`` in the run folder): a fold that another process is
    training is left to it and looked at again when that process is done, so commands sharing a run folder (the
    same command twice, ``--folds`` in two shells, Dask workers) never train one fold twice at once.

    With ``jobs`` above 1, that many folds train at once, each in its own plugin process (give each
    ``compute.threads`` accordingly); a fold's numbers do not depend on what trains beside it.

    Args:
        submission: The configured submission.
        dataset: The dataset.
        folds: The folds to run, in order.
        build: Makes fold ``k``'s data, only when the fold runs (one fold's tensors are held per job).
        code: The sha256 of the submission's source files that the run's identity recorded.
        doc: The run's ``run.json`` document: each completed fold's summary and the parameter count go into it and
            it is written after every fold. ``None`` for a folder without its own ``run.json`` (a lucky-split draw).
        epochs: Training epochs.
        seed: Run seed.
        compute: Device, precision and threads.
        rd: The run folder.
        progress: Show a batch progress bar.
        stop_on_failure: Re-raise the first failure instead of recording it and going on to the next fold.
        jobs: Folds trained at once.

    Returns:
        The failed folds' errors.

    Raises:
        PluginError: With ``stop_on_failure``, if the submission's code fails on a fold.
    """
    failed: dict[int, str] = {}
    if not all(rd.fold_completed(k) for k in folds):
        warm_up()  # the zygote imports torch while the first fold's data is built; none when all are done
    pending: deque[int] = deque(folds)
    put_back: dict[int, float] = {}  # when a fold held by another process was last looked at
    told: set[int] = set()
    guard = threading.Lock()  # the queue, the failures and run.json are shared by the jobs

    def attempt(k: int) -> bool:
        """Run fold ``k`` unless another process holds it; ``False`` to come back to it later."""
        with try_lock(rd.lock_path(f"fold-{k}")) as mine:
            if not mine:  # another process trains this fold now: come back to it when it is done
                if k not in told:
                    told.add(k)
                    print(f"fold {k}: another process is training it; waiting", file=sys.stderr)
                return False
            if rd.fold_completed(k):
                print(f"fold {k}: complete already, kept", file=sys.stderr)
                return True
            try:
                run = run_fold(submission, dataset, k, partial(build, k), code=code, epochs=epochs, seed=seed,
                               compute=compute, rd=rd, progress=progress)
            except PluginError as exc:
                if stop_on_failure:
                    raise
                with guard:
                    failed[k] = str(exc)
                print(f"fold {k}: FAILED: {exc}", file=sys.stderr)
                return True
            if doc is not None:
                with guard:
                    doc["folds"][str(k)] = fold_entry(run.result)
                    doc["params"] = run.params
                    rd.write_run(doc)
            return True

    def job() -> None:
        while True:
            with guard:
                if not pending:
                    return
                k = pending.popleft()
                due = put_back[k] + LOCK_POLL_SECONDS if k in put_back else 0.0
            time.sleep(max(0.0, due - time.monotonic()))  # look at a held fold again once per poll interval
            if not attempt(k):
                with guard:
                    put_back[k] = time.monotonic()
                    pending.append(k)

    if jobs <= 1:
        job()
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for running in [pool.submit(job) for _ in range(min(jobs, len(folds)))]:
                running.result()
    return failed
