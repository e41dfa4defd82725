"""The classifiers of Dajam & Qahmash 2025 with the paper's recipe: custom CNN, VGG16, InceptionV3, MobileNet.

All four share one recipe (L259): Adam, batch size 4, 50 epochs, categorical cross-entropy, pixels divided by 255
(L231) and the Keras augmentation of Table II (see :mod:`.augment`). The custom CNN is trained from scratch (see
:mod:`.custom_cnn`); the three others were fine-tuned from ImageNet weights with their own classifiers resized to 3
classes. ImageNet weights cannot be downloaded here, so every model starts from scratch by default and
``pretrained=true`` (or ``weights=PATH``) loads the paper's ImageNet start from a local file.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.models.recipes import recipe_optimizers
from benchmark.models.transfer import TransferSubmission
from benchmark.plugins import ModelSpec, SearchParam, Submission, TrainBatch, register

from .augment import keras_augment
from .custom_cnn import dajam_cnn

AUTHORS = ("Doha Saad Dajam", "Ayman Qahmash")
CITATION = ("Dajam D.S., Qahmash A. Breast Cancer Classification and Segmentation Using Deep Learning on Ultrasound "
            "Images. International Journal of Advanced Computer Science and Applications (IJACSA) 16(5), 2025")
INPUT_SIZE = 224

#: The recipe the paper states for all four classifiers (L259), with Keras' defaults where it is silent.
RECIPE: dict[str, Any] = {
    "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant", "batch_size": 4, "epochs": 50,
}
SEARCH = {
    "lr": SearchParam("float", 1e-5, 1e-2, log=True),
    "batch_size": SearchParam("categorical", choices=(4, 8, 16, 32)),
}
NOTES = (
    "paper: Adam, batch size 4, 50 epochs, categorical cross-entropy, the same for all four classifiers (L259)",
    "choice: Adam learning rate 0.001 (Keras' default), constant, no weight decay: none is stated",
    "paper: pixels divided by 255 only (L231), hence mean 0 and std 1",
    "choice: 224x224 input for all four: stated for VGG16 (L122), with identical preprocessing for all (L259)",
    "choice: grey image repeated into 3 channels, as Keras loads images as RGB by default",
    "paper: Table II augmentation (L239-L247), reproduced in augment() as Keras' ImageDataGenerator applies it",
    "choice: shear 0.05 read in degrees as Keras does, although Table II says radians (L243)",
    "paper: class-balanced batch sampling is mentioned (L217) but not described; not reproduced",
    "paper: hyper-parameters were tuned empirically (L83) and no split is stated; busbench's splits replace it",
)


class DajamAugment(Submission):
    """Base of the four classifiers: Table II augmentation instead of busbench's default."""

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Keras' ``ImageDataGenerator`` with the parameters of Table II (see :mod:`.augment`)."""
        return keras_augment(batch, generator)


def _spec(name: str, description: str, *, pretrained: str | None, licence: str, defaults: dict[str, Any],
          search: dict[str, SearchParam], notes: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        name=name, task="classification", class_counts=(3, 2), authors=AUTHORS,
        reference=f"{CITATION}; Tables III and IV",
        description=description, input_size=INPUT_SIZE, in_channels=3, mean=(0.0,), std=(1.0,),
        pretrained=pretrained, licence=licence, defaults={**RECIPE, **defaults}, search_space={**SEARCH, **search},
        notes=(*NOTES, *notes),
    )


@register
class DajamCNN(DajamAugment):
    """The paper's custom CNN trained from scratch: 44.53 M parameters (44.30 M in the first dense layer)."""

    spec = _spec(
        "dajam2025_cnn",
        "Dajam 2025 custom CNN: 3 conv blocks 32-64-128, dense 512-256, from scratch (44.53 M parameters)",
        pretrained=None, licence="MIT", defaults={"dropout": 0.5},
        search={"dropout": SearchParam("float", 0.0, 0.7)},
        notes=(
            "paper: three 3x3 conv blocks of 32-64-128 filters with max pooling, dense 512 and 256 with dropout, "
            "softmax output (L99, L116)",
            "paper: ReLU after every convolution and dense layer but the output (L109); trained from scratch (L259)",
            "choice: Keras defaults where unstated: 'valid' padding, 2x2 pooling, Flatten, Glorot-uniform kernels",
            "choice: dropout 0.5 after each hidden dense layer (rate not stated)",
            "choice: adaptive average pooling to the 26x26 grid of a 224 px input (an identity there) keeps the "
            "44.53 M-parameter model at other sizes",
            "paper: no parameter count is given",
        ),
    )

    def build_model(self) -> nn.Module:
        """The custom CNN, designed for 224 px input, with Keras' initialisation."""
        return dajam_cnn(self.spec.in_channels, self.num_classes, INPUT_SIZE, dropout=float(self.hparams["dropout"]))

    def configure_optimizers(self, model: nn.Module, *, epochs: int, steps_per_epoch: int) -> tuple[Any, Any]:
        """The paper's recipe (Adam, constant learning rate) from the hyper-parameters."""
        return recipe_optimizers(model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch)


class DajamTransfer(DajamAugment, TransferSubmission):
    """A transfer-learning classifier of the paper: the architecture's own classifier resized to 3 classes."""

    hidden = None


_TRANSFER_NOTES = (
    "paper: ImageNet weights, fine-tuned (L259); choice: the whole network is trained",
    "choice: pretrained: none by default (weights cannot be downloaded here); pretrained=true or weights=PATH "
    "loads a local ImageNet file, the paper's start",
)
_TRANSFER_DEFAULTS = {"pretrained": False, "weights": ""}


@register
class DajamVGG16(DajamTransfer):
    """VGG16 with its 4096-4096 classifier and a 3-way output: 134.27 M parameters."""

    backbone_name = "vgg16"
    spec = _spec(
        "dajam2025_vgg16",
        "Dajam 2025 VGG16 with its own 4096-4096 classifier, 3 outputs (134.27 M parameters)",
        pretrained="imagenet (torchvision: VGG16_Weights.IMAGENET1K_V1)", licence="MIT; torchvision BSD-3-Clause",
        defaults={"dropout": 0.5, **_TRANSFER_DEFAULTS}, search={"dropout": SearchParam("float", 0.0, 0.7)},
        notes=(
            "paper: VGG16's own head, dense 4096-4096 with dropout in both and a 3-unit softmax output (L126)",
            "paper: a fixed and a fine-tuned trunk were both tried (L126); the reported one is not said",
            "choice: dropout 0.5, VGG's own",
            *_TRANSFER_NOTES,
        ),
    )


@register
class DajamInceptionV3(DajamTransfer):
    """InceptionV3 with average pooling and a 3-way dense output, no auxiliary head: 21.79 M parameters."""

    backbone_name = "inception_v3"
    spec = _spec(
        "dajam2025_inceptionv3",
        "Dajam 2025 InceptionV3, average pooling and a 3-way dense output (21.79 M parameters)",
        pretrained="imagenet (timm: inception_v3.tv_in1k)", licence="MIT; timm Apache-2.0",
        defaults={"dropout": 0.0, **_TRANSFER_DEFAULTS}, search={"dropout": SearchParam("float", 0.0, 0.7)},
        notes=(
            "paper: no head is described (L128-L139); choice: InceptionV3's own, average pooling and a dense output",
            "choice: no auxiliary classifier and no dropout, as in Keras' InceptionV3",
            "choice: 224 px like the other three (L259) rather than Keras' default 299",
            *_TRANSFER_NOTES,
        ),
    )


@register
class DajamMobileNet(DajamTransfer):
    """MobileNet (v1, Keras' ``MobileNet``) with its pooling and 3-way output: 3.21 M parameters."""

    backbone_name = "mobilenet_v1"
    spec = _spec(
        "dajam2025_mobilenet",
        "Dajam 2025 MobileNet (v1), average pooling and a 3-way output (3.21 M parameters)",
        pretrained="imagenet (timm: mobilenetv1_100.ra4_e3600_r224_in1k)", licence="MIT; timm Apache-2.0",
        defaults={"dropout": 0.001, **_TRANSFER_DEFAULTS}, search={"dropout": SearchParam("float", 0.0, 0.7)},
        notes=(
            "paper: MobileNet v1, average pooling then a dense or 1x1-conv output and softmax (L120)",
            "choice: dropout 0.001 before the output, Keras' MobileNet default",
            "choice: timm's mobilenetv1_100 architecture; its ImageNet weights are timm's, not Keras'",
            *_TRANSFER_NOTES,
        ),
    )


from . import segmentation  # noqa: E402, F401  (registers dajam2025_unet_mobilenet)
