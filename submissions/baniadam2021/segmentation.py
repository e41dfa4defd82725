"""``baniadam2021_unet``: the U-Net of Baniadam Dizaj & Valizadeh 2021 with its stated recipe (L83-L196).

Imported by the package's ``__init__.py`` (the package's classification submissions live beside it).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.segmentation import SegmentationSubmission
from benchmark.models.unet import UNet
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import paper_augment

CITATION = (
    "Baniadam Dizaj, S., & Valizadeh, P. (2021). Breast cancer segmentation and classification in ultrasound "
    "images using convolutional neural network. Research Square (preprint). doi:10.21203/rs.3.rs-952669/v1"
)


@register
class BaniadamUNet(SegmentationSubmission):
    """A classic U-Net at 512 px, trained from scratch with SGD, 33% dropout and an IoU loss."""

    spec = ModelSpec(
        name="baniadam2021_unet",
        task="segmentation",
        authors=("Shima Baniadam Dizaj", "Pourya Valizadeh"),
        reference=f"{CITATION} Numbers: Table 3 (U-Net IoU: normal 1.00, benign 0.7927, malignant 0.9373, "
        "average 0.9100).",
        description="U-Net 64-1024 without BatchNorm, 512 px grey, SGD lr 1e-3, dropout 0.33, soft IoU loss",
        input_size=512,
        in_channels=1,
        mean=(0.0,),
        std=(1.0,),
        pretrained=None,
        licence="MIT",
        defaults={"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "schedule": "constant",
                  "batch_size": 8, "epochs": 100, "seg_loss": "iou", "dropout": 0.33, "base_width": 64},
        search_space={
            "lr": SearchParam("float", 1e-4, 1e-1, log=True),
            "momentum": SearchParam("categorical", choices=(0.0, 0.9, 0.99)),
            "dropout": SearchParam("float", 0.0, 0.5),
            "base_width": SearchParam("categorical", choices=(16, 32, 64)),
        },
        notes=(
            "paper: U-Net trained from scratch (L96) in Keras/TensorFlow (L167)",
            "paper: convolutions activated by ReLU (L163); choice: no BatchNorm, Ronneberger et al.'s widths "
            "64-1024, depth 4, transposed-conv up-sampling, He-normal init",
            "paper: images resized to 512x512 (L83)",
            "paper: SGD lr 0.001 and 33% dropout (L167); choice: the dropout at the end of the contracting path, "
            "where the U-Net paper puts it",
            "choice: SGD momentum 0.9, constant lr, no weight decay, batch 8 (none stated)",
            "paper: 60 and 100 epochs both stated (L167); choice: 100, the number training is said to converge by",
            "paper: IoU is the cost function (L196); choice: soft IoU (Jaccard) loss over the batch",
            "paper: augmentation by random scale 0.5-2.0, left-right flips, rotation (L83) and Gaussian blur (L85): "
            "the package's augment(), shared with its classifiers, image and mask alike",
            "paper: 80/20 split (L96) and 10-fold CV (L167) contradict; busbench uses its own folds",
            "paper: the published average IoU includes normal images scored 1.00 (Table 3, L200-L217); busbench's "
            "headline IoU is over lesion images, its paper_compatible IoU counts normal images as the paper does",
            "choice: pixels scaled to [0, 1] (not stated)",
        ),
    )

    def build_model(self) -> nn.Module:
        """The U-Net with the configured bottleneck dropout and width."""
        return UNet(self.spec.in_channels, 1, depth=4, base_width=int(self.hparams["base_width"]), batchnorm=False,
                    upsampling="transpose", bottleneck_dropout=float(self.hparams["dropout"]))

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Random scale 0.5-2.0, flip, rotation and blur (see :mod:`.augment`); masks follow the geometry."""
        return paper_augment(batch, generator)
