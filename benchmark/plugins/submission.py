"""The base class of every submission: one required method (``build_model``) and documented hooks.

The harness owns the data, the splits, the training loop and the evaluation. A submission supplies the model and may
override, per hook, the loss, the optimiser and schedule, the training augmentation and the mapping from the
model's outputs to probabilities. Hooks only ever receive tensors: training batches carry images, labels and masks
of *training* cases; at prediction time the model's forward gets a bare tensor of normalised images and
``predict`` gets the model's outputs. Every hook runs in the fold's plugin process
(:mod:`benchmark.engine.plugin_process`), which is never given the test fold's labels or masks, so a plugin cannot
read the test fold's ground truth by construction.

A two-stage system (segment, then classify the lesion) is one classification submission whose ``build_model``
returns a module producing ``{"logits": ..., "mask_logits": ...}``; its ``loss`` uses ``batch.masks`` (training
cases only) for the segmentation stage and its ``predict`` reads ``outputs["logits"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.classes import CLASSES
from benchmark.errors import BusbenchError
from benchmark.plugins.spec import ModelSpec
from benchmark.training.augment import affine_theta, coin, uniform, warp
from benchmark.training.recipes import adam


@dataclass(frozen=True)
class TrainBatch:
    """A batch of training (or validation) cases.

    Attributes:
        images: Float tensor (N, C, H, W), scaled to [0, 1] in ``augment``, normalised by the spec's mean/std after.
        labels: Long tensor (N,) of class indices into the submission's ``classes`` (0 normal, 1 benign,
            2 malignant; or 0 benign, 1 malignant).
        masks: Float tensor (N, 1, H, W) of {0, 1} lesion masks, or ``None`` for a dataset without masks.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None


class Submission:
    """Base class of a registered model.

    Subclass it, set ``spec``, implement ``build_model`` and decorate the class with ``@register``.

    Optional, for explanations only: a method ``cam_layer(self, model) -> nn.Module`` returns the layer of ``model``
    that ``busbench explain`` computes Grad-CAM on. Without it, the last ``nn.Conv2d`` executed in a forward pass
    whose output is larger than 1 x 1 is used (see ``benchmark.explain.find_target_layer``).

    Args:
        hparams: Hyper-parameters overriding ``spec.hparams()``; unknown names are an error.
        classes: Classification: the classes of the head, in output order, as the split being trained names them
            (``("normal", "benign", "malignant")``, the default, or ``("benign", "malignant")``); one of the spec's
            ``class_sets()``. Ignored for segmentation.

    Attributes:
        hparams: The hyper-parameters.
        classes: The head's classes (empty for segmentation); ``num_classes`` is their number.
    """

    spec: ClassVar[ModelSpec]

    def __init__(self, hparams: Mapping[str, Any] | None = None, *, classes: Sequence[str] = CLASSES):
        where = f"submission {self.spec.name!r}"
        self.classes: tuple[str, ...] = ()
        if self.spec.task == "classification":
            self.classes = tuple(classes)
            if self.classes not in self.spec.class_sets():
                supported = "; ".join(", ".join(c) for c in self.spec.class_sets())
                raise BusbenchError(where, f"cannot be trained on {', '.join(self.classes)} (its spec's "
                                           f"class_counts allow: {supported})")
        defaults = self.spec.hparams()
        given = dict(hparams or {})
        unknown = set(given) - set(defaults)
        if unknown:
            raise BusbenchError(
                where,
                f"unknown hyper-parameter(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(defaults))})",
            )
        self.hparams: dict[str, Any] = {**defaults, **given}

    @property
    def num_classes(self) -> int:
        """The number of classification outputs (``len(self.classes)``); 0 for segmentation."""
        return len(self.classes)

    # --- required ------------------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """Build a freshly initialised model.

        Classification: maps (N, C, H, W) to logits (N, ``self.num_classes``). Segmentation: to lesion logits
        (N, 1, H, W). Custom output types are fine when ``loss`` and ``predict`` are overridden to match.
        """
        raise NotImplementedError(f"{type(self).__name__}.build_model")

    # --- hooks with defaults -------------------------------------------------------------------------------------
    def loss(self, outputs: Any, batch: TrainBatch) -> torch.Tensor:
        """Training loss. Default: cross-entropy (classification); BCE + soft Dice (segmentation)."""
        if self.spec.task == "classification":
            return F.cross_entropy(outputs.float(), batch.labels)
        if batch.masks is None:
            raise BusbenchError(f"submission {self.spec.name!r}", "segmentation needs a dataset with masks")
        return bce_dice_loss(outputs.float(), batch.masks)

    def configure_optimizers(
        self, model: nn.Module, *, epochs: int, steps_per_epoch: int
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        """Optimiser and schedule. Default: AdamW(lr, weight_decay) with a cosine decay over all steps.

        The engine steps a schedule after every optimiser step, except a ``ReduceLROnPlateau`` schedule, which it
        steps once per epoch with the epoch's validation score (higher is better, so it must use ``mode="max"``).
        """
        groups = [{"params": list(model.parameters()), "weight_decay": float(self.hparams["weight_decay"])}]
        optimiser = adam(groups, lr=float(self.hparams["lr"]), decoupled=True)
        total = max(1, epochs * steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total))
        )
        return optimiser, schedule

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Training-time augmentation, applied on the fly to training batches only.

        Default: horizontal flip (p = 0.5), a random affine transform (rotation +-10 degrees, scale 0.9-1.1,
        shift +-5%) applied identically to image and mask, and brightness/contrast jitter of +-10%. Images are in
        [0, 1] here; draw all randomness from ``generator`` so runs are reproducible.
        """
        return default_augment(batch, generator)

    def predict(self, outputs: Any) -> torch.Tensor:
        """Probabilities from model outputs: softmax (N, ``num_classes``) or sigmoid (N, 1, H, W)."""
        if self.spec.task == "classification":
            return torch.softmax(outputs.float(), dim=1)
        return torch.sigmoid(outputs.float())


def is_epoch_schedule(schedule: object) -> bool:
    """Whether the engine steps ``schedule`` once per epoch with the validation score (``ReduceLROnPlateau``)."""
    return isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau)


def check_epoch_schedule(schedule: object) -> None:
    """Raise ``ValueError`` unless an epoch schedule maximises (the validation score grows as the model improves)."""
    if is_epoch_schedule(schedule) and getattr(schedule, "mode", "max") != "max":
        raise ValueError("a ReduceLROnPlateau schedule is stepped with the validation score: use mode='max'")


def bce_dice_loss(logits: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy plus (1 - soft Dice) over the batch, for lesion logits and {0, 1} masks."""
    bce = F.binary_cross_entropy_with_logits(logits, masks)
    probs = torch.sigmoid(logits)
    inter = (probs * masks).sum()
    dice = (2 * inter + smooth) / (probs.sum() + masks.sum() + smooth)
    return bce + (1 - dice)


def default_augment(batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
    """The default training augmentation (see :meth:`Submission.augment`)."""
    images = batch.images
    n = images.shape[0]
    device = images.device

    def between(low: float, high: float) -> torch.Tensor:
        return uniform(n, low, high, generator).to(device)

    flip = coin(n, 0.5, generator).to(device)
    angle = between(-10, 10) * math.pi / 180
    scale = between(0.9, 1.1)
    shift_x, shift_y = between(-0.05, 0.05) * 2, between(-0.05, 0.05) * 2
    gain, bias = between(0.9, 1.1), between(-0.1, 0.1)
    theta = affine_theta(angle, scale=scale, flip_x=flip, shift=(shift_x, shift_y))
    out, masks = warp(images, batch.masks, theta, padding="zeros")
    out = ((out - 0.5) * gain.view(-1, 1, 1, 1) + 0.5 + bias.view(-1, 1, 1, 1)).clamp(0, 1)
    return replace(batch, images=out, masks=masks)
