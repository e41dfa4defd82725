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
    l2_params: Iterable[nn.Parameter] = (),
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

    Raises:
        BusbenchError: On an unknown optimiser or schedule, or an L2 penalty with AdamW (whose decoupled decay is
            not a penalty in the loss).
    """
    h = {**RECIPE_DEFAULTS, **hparams}
    name, schedule_name = str(h["optimizer"]), str(h["schedule"])
    if name not in OPTIMIZERS:
        raise BusbenchError("hyper-parameter optimizer", f"unknown {name!r} (known: {', '.join(OPTIMIZERS)})")
    if schedule_name not in SCHEDULES:
        raise BusbenchError("hyper-parameter schedule", f"unknown {schedule_name!r} (known: {', '.join(SCHEDULES)})")
    lr, decay = float(h["lr"]), float(h["weight_decay"])
    penalised = {id(p) for p in l2_params if p.requires_grad}
    if l2 and name == "adamw":
        raise BusbenchError("hyper-parameter optimizer", "an L2 penalty needs adam or sgd (AdamW decays decoupled)")
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in penalised], "weight_decay": decay}]
    if penalised:
        groups.append({"params": [p for p in trainable if id(p) in penalised], "weight_decay": decay + 2 * l2})
    groups = [g for g in groups if g["params"]]
    if name in ("adamw", "adam"):
        optimiser: torch.optim.Optimizer = adam(groups, lr=lr, decoupled=name == "adamw")
    else:
        optimiser = torch.optim.SGD(groups, lr=lr, momentum=float(h["momentum"]))
    if schedule_name == "constant":
        return optimiser, None
    if schedule_name == "plateau":
        return optimiser, torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, mode="max", factor=float(h["plateau_factor"]), patience=int(h["plateau_patience"])
        )
    total = max(1, epochs * steps_per_epoch)
    return optimiser, torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
