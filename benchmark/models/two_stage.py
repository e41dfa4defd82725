"""Two-stage systems: segment the lesion, then classify the image with everything but the lesion removed.

Several seed papers classify "segmented" images: a U-Net predicts the lesion and the classifier sees the image
masked by that prediction (Munukurthi & Gayathri 2024). :class:`SegmentThenClassify` makes the pair one model, so
that the engine trains and evaluates it as one classification submission:

* the classifier's input is the image multiplied by the segmenter's *predicted* lesion probability, never by a
  reference mask. At test time no reference mask exists, so a classifier trained on reference-masked images would
  learn from information it will not have (and BUSI's normal images all have empty masks, so a reference mask
  gives their class away: the mask-overlay leak);
* the probability is detached: the classification loss does not train the segmenter, which learns only from the
  segmentation loss on the training cases' masks, as a separately trained segmenter would. Letting the class loss
  shape the "mask" would turn the segmenter into an attention layer tuned for classification and its output would
  no longer be a segmentation;
* the multiplication happens in pixel space ([0, 1], before normalisation), so removed areas become black, as in
  the papers' segmented images, and the result is normalised again for the classifier.

The engine's forward at prediction time gets plain images only; the masks of a batch reach the model's training
only through :func:`two_stage_loss`, for training cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BusbenchError
from benchmark.models.segmentation import SegLoss, loss_by_name
from benchmark.plugins.submission import Submission, TrainBatch, bce_dice_loss
from benchmark.training.recipes import recipe_optimizers


class SegmentThenClassify(nn.Module):
    """A segmenter and a classifier on the segmenter's masked image.

    Args:
        segmenter: Images (N, C, H, W) -> lesion logits (N, 1, H, W).
        classifier: Masked images (N, C, H, W) -> class logits (N, num_classes).
        mean: Per-channel mean the images were normalised with (one value or one per channel).
        std: Per-channel standard deviation of that normalisation.
    """

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, segmenter: nn.Module, classifier: nn.Module, mean: Sequence[float] = (0.0,),
                 std: Sequence[float] = (1.0,)):
        super().__init__()
        self.segmenter = segmenter
        self.classifier = classifier
        # Buffers, so that they follow the model to its device; not persistent: they are settings, not weights.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def masked_input(self, images: torch.Tensor, lesion_prob: torch.Tensor) -> torch.Tensor:
        """The classifier's input: the image in pixel space times the lesion probability, normalised again."""
        mean, std = self.mean.to(images.dtype), self.std.to(images.dtype)
        pixels = images * std + mean
        return (pixels * lesion_prob.to(images.dtype) - mean) / std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"logits": (N, num_classes), "mask_logits": (N, 1, H, W)}`` for normalised images (N, C, H, W)."""
        mask_logits = self.segmenter(images)
        if isinstance(mask_logits, (tuple, list)):  # a deeply supervised segmenter in train mode: fused map first
            mask_logits = mask_logits[0]
        lesion_prob = torch.sigmoid(mask_logits).detach()  # see the module docstring: no class gradient here
        return {"logits": self.classifier(self.masked_input(images, lesion_prob)), "mask_logits": mask_logits}


def two_stage_loss(outputs: dict[str, torch.Tensor], batch: TrainBatch, seg_loss: SegLoss = bce_dice_loss,
                   seg_weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy on the class logits plus ``seg_weight`` times ``seg_loss`` on the training masks.

    Args:
        outputs: The model's output (see :class:`SegmentThenClassify`).
        batch: A training batch (its masks are those of training cases only).
        seg_loss: Segmentation loss on (mask logits, masks).
        seg_weight: Weight of the segmentation loss.

    Raises:
        BusbenchError: If the batch has no masks (the segmenter cannot be trained without them).
    """
    if batch.masks is None:
        raise BusbenchError("two-stage model", "the segmentation stage needs a dataset with lesion masks")
    ce = F.cross_entropy(outputs["logits"].float(), batch.labels)
    return ce + seg_weight * seg_loss(outputs["mask_logits"].float(), batch.masks)


class TwoStageSubmission(Submission):
    """A classification submission whose model is a :class:`SegmentThenClassify`.

    Hyper-parameters read: ``seg_loss`` (a key of :data:`benchmark.models.segmentation.SEG_LOSSES`), ``seg_weight``
    and the recipe's (``optimizer``, ``momentum``, ``schedule``..., see :mod:`benchmark.training.recipes`); one
    optimiser trains both stages. Subclasses override ``augment`` with their paper's augmentation.
    """

    def loss(self, outputs: Any, batch: TrainBatch) -> torch.Tensor:
        """Cross-entropy plus the weighted segmentation loss on the training masks (:func:`two_stage_loss`)."""
        return two_stage_loss(outputs, batch, loss_by_name(self.hparams["seg_loss"]), float(self.hparams["seg_weight"]))

    def configure_optimizers(self, model: nn.Module, *, epochs: int, steps_per_epoch: int) -> tuple[Any, Any]:
        """The recipe in the hyper-parameters, over both stages."""
        return recipe_optimizers(model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def predict(self, outputs: Any) -> torch.Tensor:
        """Softmax of the class logits."""
        return torch.softmax(outputs["logits"].float(), dim=1)
