"""``cheyi2024_unet``: the U-Net of Cheyi & Cetin-Kaya 2024 (Sec. 3.2.1, L135-L137) with its stated recipe.

Imported by the package's ``__init__.py`` (the package's classification submissions live beside it).
"""

from __future__ import annotations

from torch import nn

from benchmark.models.segmentation import SegmentationSubmission
from benchmark.models.unet import UNet
from benchmark.plugins import ModelSpec, SearchParam, register

CITATION = (
    "Cheyi, J., & Çetin-Kaya, Y. (2024). Advanced CNN-Based Classification and Segmentation for Enhanced Breast "
    "Cancer Ultrasound Imaging. GU J Sci, Part A, 11(4), 647-667. doi:10.54287/guj.1529857"
)


@register
class CheyiUNet(SegmentationSubmission):
    """A classic U-Net at 224 px trained with Adam and binary cross-entropy."""

    spec = ModelSpec(
        name="cheyi2024_unet",
        task="segmentation",
        authors=("Jehad Cheyi", "Yasemin Çetin-Kaya"),
        reference=f"{CITATION} No segmentation metric published (U-Net described in Sec. 3.2.1, L135-L137).",
        description="U-Net 64-1024 with BatchNorm, 224 px grey, binary cross-entropy, Adam",
        input_size=224,
        in_channels=1,
        mean=(0.0,),
        std=(1.0,),
        pretrained=None,
        licence="MIT",
        defaults={"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant", "batch_size": 32,
                  "epochs": 50, "seg_loss": "bce", "base_width": 64, "batchnorm": True},
        search_space={
            "lr": SearchParam("float", 1e-5, 1e-2, log=True),
            "batch_size": SearchParam("categorical", choices=(8, 16, 32)),
            "base_width": SearchParam("categorical", choices=(16, 32, 64)),
            "batchnorm": SearchParam("categorical", choices=(True, False)),
        },
        notes=(
            "paper: U-Net with a contracting path of convolutions and max-pooling, a bottleneck, an up-sampling "
            "path and concatenated skip connections (L135-L137)",
            "paper: images and masks resized to 224x224 and normalised (L135)",
            "paper: Adam optimiser and binary cross-entropy loss (L137)",
            "paper: 80/20 train/validation split (L137); busbench uses its own folds",
            "paper: no segmentation metric is reported (Sec. 4, L165-L300, is classification only)",
            "choice: Ronneberger et al.'s widths 64-1024, depth 4, transposed-conv up-sampling, He-normal init",
            "choice: BatchNorm after every 3x3 conv (normalisation not stated; batchnorm=False gives the 2015 form)",
            "choice: lr 1e-3 (Keras' Adam default), constant, no weight decay",
            "choice: batch 32 (Keras' default) and 50 epochs (neither is stated)",
            "choice: pixels scaled to [0, 1] (Keras' /255; 'normalizing' is not specified, L135)",
            "choice: the engine's default augmentation (none is stated for the U-Net)",
        ),
    )

    def build_model(self) -> nn.Module:
        """The U-Net at the configured width, with or without BatchNorm."""
        return UNet(self.spec.in_channels, 1, depth=4, base_width=int(self.hparams["base_width"]),
                    batchnorm=bool(self.hparams["batchnorm"]), upsampling="transpose")
