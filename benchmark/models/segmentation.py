"""Segmentation losses the seed papers name, and the base class of their segmentation submissions.

The engine's default segmentation loss is BCE + soft Dice (:func:`benchmark.plugins.submission.bce_dice_loss`); the
papers use others: Dice alone (Li et al. 2025), IoU (Baniadam Dizaj & Valizadeh 2021), binary cross-entropy (Cheyi
& Cetin-Kaya 2024) and the mean squared error of the sigmoid output (Munukurthi & Gayathri 2024). All take logits
(N, 1, H, W), so models never apply a sigmoid themselves, and {0, 1} masks, and reduce over the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BusbenchError
from benchmark.plugins.submission import Submission, TrainBatch, bce_dice_loss
from benchmark.training.recipes import recipe_optimizers

SegLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of the sigmoid probabilities, counted over the whole batch.

    Counting over the batch rather than per image keeps images without a lesion (normal BUSI cases, empty masks)
    from giving an undefined or maximal loss; ``smooth`` is the usual +1 of Keras and PyTorch implementations.
    """
    probs = torch.sigmoid(logits.float())
    inter = (probs * masks).sum()
    return 1 - (2 * inter + smooth) / (probs.sum() + masks.sum() + smooth)


def soft_jaccard_loss(logits: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft IoU (Jaccard index) of the sigmoid probabilities, counted over the whole batch."""
    probs = torch.sigmoid(logits.float())
    inter = (probs * masks).sum()
    return 1 - (inter + smooth) / (probs.sum() + masks.sum() - inter + smooth)


def bce_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (Keras ``binary_crossentropy`` on a sigmoid output), computed stably from logits."""
    return F.binary_cross_entropy_with_logits(logits.float(), masks)


def sigmoid_mse_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the sigmoid output and the mask (Keras ``mse`` on a sigmoid output layer)."""
    return F.mse_loss(torch.sigmoid(logits.float()), masks)


#: Losses by the name a ``seg_loss`` hyper-parameter gives.
SEG_LOSSES: dict[str, SegLoss] = {
    "bce": bce_loss,
    "bce_dice": bce_dice_loss,
    "dice": soft_dice_loss,
    "iou": soft_jaccard_loss,
    "mse": sigmoid_mse_loss,
}


def loss_by_name(name: str) -> SegLoss:
    """The loss called ``name`` (a key of :data:`SEG_LOSSES`).

    Raises:
        BusbenchError: For an unknown name.
    """
    try:
        return SEG_LOSSES[str(name)]
    except KeyError:
        raise BusbenchError("hyper-parameter seg_loss", f"unknown {name!r} (known: {', '.join(SEG_LOSSES)})") from None


def deep_supervision_loss(outputs: torch.Tensor | Sequence[torch.Tensor], masks: torch.Tensor,
                          loss: SegLoss) -> torch.Tensor:
    """``loss`` summed over a fused map and its side maps (U^2-Net); for a single tensor, ``loss`` of it."""
    if isinstance(outputs, torch.Tensor):
        return loss(outputs, masks)
    return torch.stack([loss(out, masks) for out in outputs]).sum()


class SegmentationSubmission(Submission):
    """A segmentation submission trained with its paper's loss and optimiser.

    Hyper-parameters read: ``seg_loss`` (a key of :data:`SEG_LOSSES`) and the recipe's (``optimizer``,
    ``momentum``, ``schedule``..., see :mod:`benchmark.training.recipes`). A model may return a tuple of logit maps
    in train mode (fused map first, then side maps): the loss is summed over all of them (deep supervision) and
    predictions use the first. Subclasses override ``augment`` with their paper's augmentation.
    """

    def loss(self, outputs: Any, batch: TrainBatch) -> torch.Tensor:
        """The ``seg_loss`` named in the hyper-parameters, summed over side outputs when there are any."""
        if batch.masks is None:
            raise BusbenchError(f"submission {self.spec.name!r}", "segmentation needs a dataset with masks")
        return deep_supervision_loss(outputs, batch.masks, loss_by_name(self.hparams["seg_loss"]))

    def configure_optimizers(self, model: nn.Module, *, epochs: int, steps_per_epoch: int) -> tuple[Any, Any]:
        """The recipe in the hyper-parameters (optimiser, learning rate, weight decay, schedule)."""
        return recipe_optimizers(model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def predict(self, outputs: Any) -> torch.Tensor:
        """Sigmoid of the (fused) lesion logits."""
        if isinstance(outputs, (tuple, list)):
            outputs = outputs[0]
        return torch.sigmoid(outputs.float())
