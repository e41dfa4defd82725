"""``dajam2025_unet_mobilenet``: the MobileNet-encoder U-Net of Dajam & Qahmash 2025 (L145-L157, L295).

Imported by the package's ``__init__.py`` (the package's classification submissions live beside it).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.compat import ensure_torchvision_importable
from benchmark.models.backbones import IMAGENET_MEAN, IMAGENET_STD, load_imagenet, local_weights
from benchmark.models.segmentation import SegmentationSubmission
from benchmark.models.unet import PadToMultiple
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

# segmentation_models_pytorch imports timm and torchvision (see benchmark.compat).
ensure_torchvision_importable()
import segmentation_models_pytorch as smp  # noqa: E402

from .augment import keras_augment  # noqa: E402

CITATION = (
    "Dajam, D. S., & Qahmash, A. (2025). Breast Cancer Classification and Segmentation Using Deep Learning on "
    "Ultrasound Images. International Journal of Advanced Computer Science and Applications (IJACSA), 16(5)."
)
#: timm's MobileNet v1 (Keras' "MobileNet"), as smp's timm-universal encoder.
ENCODER = "tu-mobilenetv1_100"
#: Decoder widths; the last stage has the paper's 32 filters (L157).
DECODER_CHANNELS = (256, 128, 64, 32, 32)


@register
class DajamUNetMobileNet(SegmentationSubmission):
    """U-Net with a MobileNet v1 encoder at 256 px, BCE + Dice loss, Adam, batch 8, 50 epochs."""

    spec = ModelSpec(
        name="dajam2025_unet_mobilenet",
        task="segmentation",
        authors=("Doha Saad Dajam", "Ayman Qahmash"),
        reference=f"{CITATION} Numbers: Table V (Dice 0.8959, pixel accuracy 0.9648).",
        description="U-Net with a MobileNet v1 encoder (smp, 8.32 M parameters), 256 px, BCE + Dice, Adam, batch 8",
        input_size=256,
        in_channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained="imagenet MobileNet v1 encoder (timm: mobilenetv1_100.ra4_e3600_r224_in1k)",
        licence="MIT (segmentation_models_pytorch); Apache-2.0 (timm)",
        defaults={"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant", "batch_size": 8,
                  "epochs": 50, "seg_loss": "bce_dice", "pretrained": False, "weights": ""},
        search_space={
            "lr": SearchParam("float", 1e-5, 1e-2, log=True),
            "batch_size": SearchParam("categorical", choices=(4, 8, 16)),
        },
        notes=(
            "paper: U-Net with a pretrained MobileNet encoder, skips from conv1_relu and conv_pw_3/5/11/13_relu, "
            "256 px down to 8 px (L145-L149)",
            "choice: timm's mobilenetv1_100 in segmentation_models_pytorch (Keras' MobileNet is v1, 3.21 M encoder "
            "weights as in Keras); its 128 px skip is conv_pw_1 (64 ch), not conv1 (32 ch)",
            "paper: transposed-conv decoder, 32 filters in the last stage, 1x1 conv with sigmoid (L151-L157); "
            "choice: smp's decoder (nearest up-sampling, two 3x3 conv-BN-ReLU per stage, 256-128-64-32-32 ch)",
            "paper: BCE + Dice loss, Adam, batch 8, 50 epochs (L295), 256x256 (L149, L155)",
            "choice: Adam lr 1e-3 (Keras' default; not stated), constant, no weight decay",
            "paper: pixels divided by 255 (L231); choice: ImageNet mean/std, so the timm encoder weights fit",
            "paper: augmentation of Table II (L239-L247): rotation 5 deg, shifts 0.1, shear 0.05 rad, brightness "
            "1-1.4, zoom 0.05, horizontal flip, nearest fill; choice: applied to the segmentation training too "
            "(the package's augment(), shared with its classifiers, image and mask alike)",
            "paper: pretrained encoder (L145); pretrained=False by default (offline); pretrained=True loads the "
            "timm ImageNet weights from weights=PATH or a local cache copy only",
            "paper: no split is stated for the segmentation (Sec. IV.D, L293-L305); busbench uses its own folds",
        ),
    )

    def build_model(self) -> nn.Module:
        """The smp U-Net, its encoder from scratch or from local ImageNet weights; any input size."""
        unet = smp.Unet(ENCODER, encoder_weights=None, in_channels=self.spec.in_channels, classes=1,
                        decoder_channels=DECODER_CHANNELS)
        weights = str(self.hparams["weights"])
        if weights or self.hparams["pretrained"]:
            path = local_weights(self.spec.name, "mobilenet_v1", weights)  # fails fast when absent
            load_imagenet(unet.encoder.model, "mobilenet_v1", path)
        return PadToMultiple(unet, 32)

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Keras' ImageDataGenerator with the parameters of Table II (see :mod:`.augment`); masks follow."""
        return keras_augment(batch, generator)
