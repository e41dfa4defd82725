"""One fold's training loop: train on ``train``, select the epoch on ``val``, checkpoint every epoch but the last.

Reproducibility: each epoch re-seeds torch's global RNG and its own generator from (seed, fold, epoch), so a run
resumed from a checkpoint follows exactly the path an uninterrupted run would have taken.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from benchmark.engine.device import ComputeSetup
from benchmark.engine.tensors import LabelledImages, to_model_input
from benchmark.fileio import atomic_write_with
from benchmark.metrics.classification import balanced_accuracy_present
from benchmark.metrics.segmentation import MaskCounts, lesion_dice_iou
from benchmark.metrics.undefined import MetricUndefinedError
from benchmark.plugins.submission import Submission, TrainBatch, check_epoch_schedule, is_epoch_schedule


class PluginError(RuntimeError):
    """A submission's code failed (raised, returned a wrong shape, or produced a non-finite loss or output)."""


@dataclass(frozen=True)
class TrainSettings:
    """What the loop needs besides the data and the submission.

    Attributes:
        epochs: Number of epochs.
        batch_size: Training batch size (prediction uses twice that).
        seed: Run seed.
        fold: Fold number (part of every derived seed).
        progress: Show a batch progress bar (epoch summaries are always printed to stderr).
    """

    epochs: int
    batch_size: int
    seed: int
    fold: int
    progress: bool = False


def derived_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (seed, fold, epoch...), stable across platforms and Python runs."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _call(stage: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"{stage}: {type(exc).__name__}: {exc}") from exc


def predict_probabilities(
    submission: Submission, model: torch.nn.Module, images: torch.Tensor, compute: ComputeSetup, batch_size: int
) -> torch.Tensor:
    """Probabilities for uint8 images (N, 1, S, S): (N, num_classes) for classification, (N, 1, S, S) for segmentation.

    Raises:
        PluginError: If the model or its ``predict`` hook fails, or returns a wrong shape or non-finite values.
    """
    spec = submission.spec
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size].to(compute.device).float().div_(255)
            inputs = to_model_input(chunk, spec)
            with compute.autocast():
                outputs = _call("model forward", model, inputs)
            probs = _call("predict hook", submission.predict, outputs)
            if not isinstance(probs, torch.Tensor):
                raise PluginError(f"predict hook returned {type(probs).__name__}, not a tensor")
            probs = probs.float()
            n = chunk.shape[0]
            expected = (n, submission.num_classes) if spec.task == "classification" else (n, 1, *chunk.shape[2:])
            if tuple(probs.shape) != expected:
                raise PluginError(f"predictions have shape {tuple(probs.shape)}, expected {expected}")
            if not torch.isfinite(probs).all():
                raise PluginError("predictions contain NaN or infinite values")
            out.append(probs.cpu())
    return torch.cat(out) if out else torch.empty(0)


def validation_score(task: str, data: LabelledImages, probs: torch.Tensor) -> float:
    """The epoch-selection criterion on the validation part (higher is better), computed by ``benchmark.metrics``.

    Classification: balanced accuracy over the classes present in the validation part
    (:func:`benchmark.metrics.classification.balanced_accuracy_present`). Segmentation: lesion Dice
    (:func:`benchmark.metrics.segmentation.lesion_dice_iou`) at the model's resolution, the prediction thresholded at
    0.5; 0 when no validation image has a lesion.
    """
    if task == "classification":
        # the score depends on the argmax alone: its one-hot rows are exact probabilities whatever the model's
        # output precision (bf16 softmax rows can miss a sum of 1 by more than the metrics' tolerance)
        decided = np.eye(probs.shape[1])[probs.float().argmax(1).numpy()]
        return balanced_accuracy_present(data.labels.cpu().numpy(), decided)
    assert data.masks is not None
    ref = data.masks.cpu().bool().flatten(1)
    hit = (probs >= 0.5).flatten(1)
    inter, reference, predicted = (t.sum(1).numpy().astype(np.int64) for t in (ref & hit, ref, hit))
    counts = MaskCounts(inter, reference, predicted, np.full(len(ref), ref.shape[1], dtype=np.int64))
    try:
        return lesion_dice_iou(counts)[0]
    except MetricUndefinedError:
        return 0.0


#: What every epoch checkpoint holds (``best_state`` is ``None`` when the checkpoint's epoch is the best one: the
#: best weights are then ``model``).
CHECKPOINT_KEYS = frozenset({"model", "optimiser", "schedule", "epoch", "best_score", "best_epoch", "best_state",
                             "history"})

def _read_checkpoint(path: Path, compute: ComputeSetup, fold: int) -> dict[str, Any] | None:
    """The epoch state to resume from, or ``None`` to start the fold from its first epoch.

    Only tensors and plain data are loaded (``weights_only``): a checkpoint planted in a shared ``--out`` cannot run
    code. A damaged or foreign checkpoint (truncated by a crash mid-write on a filesystem without atomic renames,
    or holding objects) is reported in one line and removed, and the fold starts again from its beginning.
    """
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=compute.device, weights_only=True)
        if not isinstance(state, dict) or not CHECKPOINT_KEYS <= set(state):
            raise ValueError("not a busbench epoch checkpoint")
    except Exception as exc:  # any way the file can be unreadable: torch, zip, pickle and value errors alike
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        print(f"fold {fold}: checkpoint {path} cannot be used ({type(exc).__name__}: {reason}); the fold starts "
              "again from its first epoch", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None
    return state


def _save(path: Path, state: dict[str, Any]) -> None:
    atomic_write_with(path, functools.partial(torch.save, state))


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's weights, on the CPU, written atomically to ``path`` (``fold-K/model.pt``, for ``busbench explain``).

    Args:
        model: The fold's selected model.
        path: Destination file.
    """
    _save(path, {name: value.detach().cpu() for name, value in model.state_dict().items()})


def train_fold(
    submission: Submission,
    train: LabelledImages,
    val: LabelledImages,
    settings: TrainSettings,
    compute: ComputeSetup,
    checkpoint: Path | None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[torch.nn.Module, int, list[dict[str, float]]]:
    """Train one fold, resuming from ``checkpoint`` when it exists; return (best model, best epoch, history).

    Args:
        submission: The submission (its hyper-parameters set).
        train: The cases trained on.
        val: The cases each epoch is scored on (epoch selection).
        settings: Epochs, batch size, seed and fold.
        compute: Device and precision.
        checkpoint: Where each epoch's state but the last is saved (and resumed from); ``None``: the fold keeps
            no checkpoint (nothing would resume from one: a tuning trial, a fold that is not resumable).
        on_epoch: Called as ``on_epoch(epoch, val_score)`` (1-based epoch) after each epoch's validation score and
            checkpoint; the tuner reports the score to its trial here and may raise to stop the fold early (an
            exception propagates unchanged). ``None`` (the default) changes nothing.

    Raises:
        PluginError: If the submission's code fails or the loss is not finite.
    """
    spec = submission.spec
    if spec.task == "classification" and (submission.classes != train.classes or train.classes != val.classes):
        raise ValueError(f"a head over {', '.join(submission.classes)} cannot train on labels of "
                         f"{', '.join(train.classes)} (selection: {', '.join(val.classes)})")
    torch.manual_seed(derived_seed(settings.seed, settings.fold, -1))
    model = _call("build_model", submission.build_model)
    if not isinstance(model, torch.nn.Module):
        raise PluginError(f"build_model returned {type(model).__name__}, not a torch.nn.Module")
    # Module.to accepts memory_format (torch.nn.Module.to's docs), but torch's stubs do not list it
    model = model.to(compute.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    n = train.images.shape[0]
    bs = max(1, min(int(settings.batch_size), n))
    steps = n // bs + (1 if n % bs > 1 else 0)  # a last batch of one is dropped (BatchNorm cannot train on it)
    optimiser, schedule = _call(
        "configure_optimizers", submission.configure_optimizers, model, epochs=settings.epochs, steps_per_epoch=steps
    )
    _call("configure_optimizers", check_epoch_schedule, schedule)
    per_epoch = is_epoch_schedule(schedule)
    scaler = torch.amp.GradScaler("cuda") if compute.precision == "fp16" else None
    start, best_score, best_epoch, best_state, history = 0, -np.inf, -1, None, []
    state = None if checkpoint is None else _read_checkpoint(checkpoint, compute, settings.fold)
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if schedule is not None and state["schedule"] is not None:
            schedule.load_state_dict(state["schedule"])
        start, best_score, best_epoch = state["epoch"] + 1, state["best_score"], state["best_epoch"]
        best_state, history = state["best_state"], state["history"]
        if best_state is None and best_epoch == state["epoch"]:  # saved once, as the model's own weights
            best_state = {k: v.detach().cpu().clone() for k, v in state["model"].items()}
    for epoch in range(start, settings.epochs):
        t0 = time.perf_counter()
        epoch_seed = derived_seed(settings.seed, settings.fold, epoch)
        torch.manual_seed(epoch_seed)
        generator = torch.Generator().manual_seed(epoch_seed)
        order = torch.randperm(n, generator=generator)
        model.train()
        losses = []
        bar = tqdm(range(steps), desc=f"fold {settings.fold} epoch {epoch + 1}/{settings.epochs}",
                   disable=not settings.progress, leave=False, file=sys.stderr)
        for step in bar:
            idx = order[step * bs : (step + 1) * bs]
            masks = None if train.masks is None else train.masks[idx].float()
            batch = TrainBatch(train.images[idx].float().div_(255), train.labels[idx], masks)
            batch = _call("augment hook", submission.augment, batch, generator)
            batch = replace(batch, images=to_model_input(batch.images, spec))
            batch = TrainBatch(batch.images.to(compute.device), batch.labels.to(compute.device),
                               batch.masks.to(compute.device) if batch.masks is not None else None)
            with compute.autocast():
                outputs = _call("model forward", model, batch.images)
            loss = _call("loss hook", submission.loss, outputs, batch)
            if not torch.isfinite(loss):
                raise PluginError(f"loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}")
            optimiser.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
            else:
                loss.backward()
                optimiser.step()
            if schedule is not None and not per_epoch:
                schedule.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        probs = predict_probabilities(submission, model, val.images, compute, bs * 2)
        score = validation_score(spec.task, val, probs)
        if per_epoch:
            schedule.step(score)  # a plateau schedule follows the validation score (inner val, never the test fold)
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_score": score,
                        "seconds": seconds})
        print(f"fold {settings.fold} epoch {epoch + 1}/{settings.epochs}  loss {np.mean(losses):.4f}  "
              f"val {score:.4f}  best {best_score:.4f} @ {best_epoch + 1}  ({seconds:.1f} s)", file=sys.stderr)
        if checkpoint is not None and epoch + 1 < settings.epochs:
            # After the last epoch nothing resumes from a checkpoint: the fold's results come next, and a crash
            # before they are written retrains that epoch from the one before, to the same weights.
            _save(checkpoint, {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict() if schedule is not None else None,
                "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch,
                # the best weights are the model's own when this epoch is the best: stored once, not twice
                "best_state": None if best_epoch == epoch else best_state,
                "history": history,
            })
        if on_epoch is not None:
            on_epoch(epoch + 1, score)
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, best_epoch + 1, history
