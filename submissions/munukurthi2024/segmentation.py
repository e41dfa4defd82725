"""``munukurthi2024_unet``: the U-Net of Munukurthi & Gayathri 2024 with its stated training recipe (L91-L155)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.segmentation import SegmentationSubmission
from benchmark.models.unet import UNet
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import keras_augment

CITATION = (
    "Munukurthi, B., & Gayathri, G. V. (2024). Deep Learning Approach for Tumor Segmentation in Breast Cancer. "
    "Venue not named in the text (submitted 10/03/2024, revised 25/04/2024, accepted 02/05/2024)."
)
#: The U-Net's recipe (L146), shared by the two-stage systems, which state none of their own.
RECIPE = {"optimizer": "adam", "lr": 5e-5, "weight_decay": 0.0, "schedule": "constant", "batch_size": 64}
SHARED_NOTES = (
    "paper: the U-Net takes 128x128 grey images; two 3x3 ReLU convs per level, 64-128-256-512 filters and a 1024 "
    "bottleneck, 2x2 max-pool then dropout 0.2 (L91-L97)",
    "paper: decoder of 2x2 stride-2 transposed convs with ReLU, concatenation, two convs and dropout 0.1 (L102-L106)",
    "paper: U-Net trained with Adam lr 5e-5, MSE loss, batch 64, 100 epochs, checkpoint on validation loss (L146)",
    "choice: the output layer is a 1x1 conv whose sigmoid the MSE is taken on ('an output layer for segmentation', "
    "L155)",
    "choice: no BatchNorm in the U-Net (none stated), He-normal init, constant lr, no weight decay",
    "paper: augmentation by horizontal flips, rotation up to 15 deg, shifts of +-10 px, zoom 0.8-1.0 (L83); "
    "choice: Keras' default nearest fill, shifts scaled with the image side",
    "paper: 90/10 train/test split, 702/78 images (L142); busbench uses its own folds",
    "choice: grey pixels scaled to [0, 1] (the normalisation is not stated)",
)


def munukurthi_unet(in_channels: int = 1, base_width: int = 64) -> UNet:
    """The paper's U-Net (31.0 M parameters at width 64 with one input channel)."""
    return UNet(in_channels, 1, depth=4, base_width=base_width, batchnorm=False, upsampling="transpose",
                up_activation=True, encoder_dropout=0.2, decoder_dropout=0.1)


@register
class MunukurthiUNet(SegmentationSubmission):
    """The paper's U-Net, trained alone for segmentation (the first stage of its systems)."""

    spec = ModelSpec(
        name="munukurthi2024_unet",
        task="segmentation",
        authors=("Bhavya Munukurthi", "G. V. Gayathri"),
        reference=f"{CITATION} No segmentation metric published (loss curves only, Fig. 7).",
        description="U-Net 64-1024 without BatchNorm, dropout 0.2/0.1, 128 px grey, MSE on the sigmoid, Adam 5e-5",
        input_size=128,
        in_channels=1,
        mean=(0.0,),
        std=(1.0,),
        pretrained=None,
        licence="MIT",
        defaults={**RECIPE, "epochs": 100, "seg_loss": "mse", "base_width": 64},
        search_space={
            "lr": SearchParam("float", 1e-5, 1e-3, log=True),
            "batch_size": SearchParam("categorical", choices=(16, 32, 64)),
            "seg_loss": SearchParam("categorical", choices=("mse", "bce_dice")),
            "base_width": SearchParam("categorical", choices=(16, 32, 64)),
        },
        notes=(
            *SHARED_NOTES,
            "paper: no segmentation metric is reported, only loss curves (Fig. 7, L136)",
            "choice: the epoch is selected on the validation Dice (the engine's criterion), not the validation loss",
        ),
    )

    def build_model(self) -> nn.Module:
        """The paper's U-Net at the configured base width."""
        return munukurthi_unet(self.spec.in_channels, int(self.hparams["base_width"]))

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Keras' ImageDataGenerator with the settings of L83 (see :mod:`.augment`)."""
        return keras_augment(batch, generator)
