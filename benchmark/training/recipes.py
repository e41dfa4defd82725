"""Training recipes as papers state them: optimiser, schedule and L2 penalty chosen by hyper-parameters.

A seed-paper submission records its paper's recipe in its defaults (``optimizer="sgd"``, ``lr=1e-3``,
``schedule="plateau"``...) and calls :func:`recipe_optimizers` from ``configure_optimizers``; the recipe is then
part of the run's recorded hyper-parameters, and a tuning study can search over it.

Hyper-parameters read (missing ones take the defaults in :data:`RECIPE_DEFAULTS`):

- ``optimizer``: ``"adamw"`` (decoupled weight decay), ``"adam"`` or ``"sgd"`` (both with weight decay added to
  the gradient, i.e. an L2 penalty of ``weight_decay / 2 * ||w||^2``, as in Keras and the PyTorch defaults).
- ``lr``, ``weight_decay``, ``momentum`` (SGD only).
- ``schedule``: ``"cosine"`` (per step, to zero), ``"constant"``, or ``"plateau"`` (``ReduceLROnPlateau``: the
  engine steps it once per epoch with the validation score; ``plateau_factor``, ``plateau_patience``).

For fine-tuning a pretrained backbone under a freshly initialised head or decoder (the submission names the
backbone's parameters, see :func:`recipe_optimizers`):

- ``backbone_lr_scale``: the backbone's learning rate is ``lr * backbone_lr_scale`` (1: one rate for all).
- ``warmup_epochs``: the learning rate rises linearly from ``lr / warm-up steps`` to ``lr`` over this many epochs
  (a fraction is fine), then follows the schedule (cosine: over the remaining steps; constant: stays). 0: none.
  Not with ``"plateau"``.

Their defaults (1 and 0) reproduce the recipe without them exactly: same parameter groups, same schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from benchmark.errors import BusbenchError

RECIPE_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",
    "momentum": 0.9,
    "schedule": "cosine",
    "plateau_factor": 0.1,
    "plateau_patience": 5,
    "backbone_lr_scale": 1.0,
    "warmup_epochs": 0,
}
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant", "plateau")


def adam(groups: list[dict[str, Any]], *, lr: float, decoupled: bool) -> torch.optim.Optimizer:
    """Adam (``decoupled=False``: weight decay added to the gradient) or AdamW, on torch's fused kernel when it can.

    Why fused: for CPU parameters torch otherwise updates one tensor at a time, which dominates the training of
    models with large dense layers (AlexNet's 54 M head: 0.40 s per step on one thread, 0.038 s fused; see
    BENCHMARKS.md, "Optimiser step"). The fused kernel computes the same update up to float rounding.

    Args:
        groups: Parameter groups, each a dict with ``params`` and ``weight_decay``.
        lr: Learning rate.
        decoupled: AdamW's decoupled weight decay instead of Adam's L2-style decay.

    Returns:
        The optimiser; fused when every parameter is a floating-point tensor on the CPU or a CUDA device (the
        devices torch's fused kernel supports), else torch's default implementation.
    """
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(groups, lr=lr, fused=fused or None)


def recipe_optimizers(
    model: nn.Module,
    hparams: Mapping[str, Any],
    *,
    epochs: int,
    steps_per_epoch: int,
    l2: float = 0.0,
    l2_params: Iterable[torch.Tensor] = (),
    backbone: Iterable[nn.Parameter] = (),
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
           | None]:
    """The optimiser and schedule a recipe names (see the module docstring).

    Args:
        model: The model; only parameters with ``requires_grad`` are optimised (frozen layers stay frozen).
        hparams: The submission's hyper-parameters.
        epochs: Epochs of the run (for the cosine schedule).
        steps_per_epoch: Optimiser steps per epoch (for the cosine schedule).
        l2: Keras-style L2 coefficient on ``l2_params`` (a kernel regulariser ``l2(c)`` adds ``c * ||w||^2`` to
            the loss, so its gradient is ``2c * w``: those parameters get ``2 * l2`` of coupled weight decay,
            added to the recipe's own).
        l2_params: The parameters the penalty applies to (e.g. the hidden dense kernels of a head).
        backbone: The pretrained backbone's parameters, trained at ``lr * backbone_lr_scale``.

    Raises:
        BusbenchError: On an unknown optimiser or schedule, an L2 penalty with AdamW (whose decoupled decay is
            not a penalty in the loss), a negative ``backbone_lr_scale`` or ``warmup_epochs``, a
            ``backbone_lr_scale`` other than 1 with no backbone named, or a warm-up before ``"plateau"``.
    """
    h = {**RECIPE_DEFAULTS, **hparams}
    name, schedule_name = str(h["optimizer"]), str(h["schedule"])
    if name not in OPTIMIZERS:
        raise BusbenchError("hyper-parameter optimizer", f"unknown {name!r} (known: {', '.join(OPTIMIZERS)})")
    if schedule_name not in SCHEDULES:
        raise BusbenchError("hyper-parameter schedule", f"unknown {schedule_name!r} (known: {', '.join(SCHEDULES)})")
    lr, decay = float(h["lr"]), float(h["weight_decay"])
    scale, warmup_epochs = float(h["backbone_lr_scale"]), float(h["warmup_epochs"])
    if scale < 0 or warmup_epochs < 0:
        raise BusbenchError("hyper-parameters", "backbone_lr_scale and warmup_epochs must not be negative")
    penalised = {id(p) for p in l2_params if p.requires_grad}
    # Split the backbone off only when its rate differs: the default keeps the groups as they always were.
    slow = {id(p) for p in backbone if p.requires_grad} if scale != 1 else set()
    if scale != 1 and not slow:
        raise BusbenchError("hyper-parameter backbone_lr_scale", "this model names no trainable backbone parameters")
    if l2 and name == "adamw":
        raise BusbenchError("hyper-parameter optimizer", "an L2 penalty needs adam or sgd (AdamW decays decoupled)")
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = []
    for is_penalised in (False, True):
        for is_backbone in (False, True):
            params = [p for p in trainable if (id(p) in penalised, id(p) in slow) == (is_penalised, is_backbone)]
            group: dict[str, Any] = {"params": params, "weight_decay": decay + 2 * l2 if is_penalised else decay}
            if is_backbone:
                group["lr"] = lr * scale
            groups.append(group)
    groups = [g for g in groups if g["params"]]
    if name in ("adamw", "adam"):
        optimiser: torch.optim.Optimizer = adam(groups, lr=lr, decoupled=name == "adamw")
    else:
        optimiser = torch.optim.SGD(groups, lr=lr, momentum=float(h["momentum"]))
    total = max(1, epochs * steps_per_epoch)
    warm = min(total, round(warmup_epochs * steps_per_epoch))
    if schedule_name == "plateau":
        if warm:
            raise BusbenchError("hyper-parameter warmup_epochs", "a warm-up needs the cosine or constant schedule")
        return optimiser, torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, mode="max", factor=float(h["plateau_factor"]), patience=int(h["plateau_patience"])
        )
    if schedule_name == "constant" and not warm:
        return optimiser, None
    return optimiser, torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: lr_factor(step, total, warm, cosine=schedule_name == "cosine")
    )


def lr_factor(step: int, total: int, warm: int, *, cosine: bool) -> float:
    """The learning-rate multiplier at optimiser step ``step`` (from 0) of ``total``.

    A linear warm-up over the first ``warm`` steps (``(step + 1) / warm``), then 1 (``cosine=False``) or a cosine
    decay to zero over the remaining ``total - warm`` steps; with ``warm == 0`` this is exactly the plain cosine
    ``0.5 * (1 + cos(pi * min(step, total) / total))``.
    """
    if step < warm:
        return (step + 1) / warm
    if not cosine:
        return 1.0
    rest = max(1, total - warm)
    return 0.5 * (1 + math.cos(math.pi * min(step - warm, rest) / rest))
