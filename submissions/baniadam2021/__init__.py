"""The classifiers of Baniadam Dizaj & Valizadeh 2021 with the paper's recipe: VGG-16, ResNet-50, DenseNet-161, AlexNet.

The paper trains every CNN from scratch (L96) with SGD at learning rate 0.001 and 33% dropout (L167), on 512x512
inputs (L83), augmented by random scaling, flips, rotation and blur (L83, L85; see :mod:`.augment`). Each model is
the architecture with its own classifier resized to 3 classes, dropout 0.33 where the architecture has dropout (VGG,
AlexNet) or before its classifier (ResNet, DenseNet).
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from benchmark.models.transfer import TransferSubmission
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import paper_augment

AUTHORS = ("Shima Baniadam Dizaj", "Pourya Valizadeh")
CITATION = ("Baniadam Dizaj S., Valizadeh P. Breast cancer segmentation and classification in ultrasound images "
            "using convolutional neural network. Research Square preprint, 2021, doi:10.21203/rs.3.rs-952669/v1")
INPUT_SIZE = 512  # L83

#: The recipe of L167 (SGD, learning rate 0.001, dropout 33%), with common practice where it is silent.
RECIPE: dict[str, Any] = {
    "optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "schedule": "constant",
    "batch_size": 16, "epochs": 60, "dropout": 0.33, "pretrained": False, "weights": "",
}
SEARCH = {
    "lr": SearchParam("float", 1e-4, 1e-1, log=True),
    "dropout": SearchParam("float", 0.0, 0.7),
    "batch_size": SearchParam("categorical", choices=(8, 16, 32)),
}
NOTES = (
    "paper: SGD with learning rate 0.001 and dropout 33% (L167); all CNNs trained from scratch (L96)",
    "choice: SGD momentum 0.9, not stated (Keras' SGD default would be 0)",
    "choice: 60 epochs: the paper states both 60 and 100 (L167); --set epochs=100 gives the other reading",
    "choice: batch size 16, constant learning rate and no weight decay: none is stated",
    "paper: 512x512 input (L83)",
    "paper: augmentation by random scale 0.5-2.0, flips, rotation (L83) and Gaussian blur (L85), in augment()",
    "choice: rotation within +-10 degrees; blur with sigma 0.1-2.0 px at 512 px on half the images (not stated)",
    "paper: noise-reduction preprocessing [37] (L87) is not described; not reproduced",
    "paper: 'we feed CNNs with the original image and mask images' (L103); choice: images only, never masks",
    "paper: 80/20 split (L96) and 10-fold CV (L167) contradict each other; busbench's splits replace both",
    "paper: the model best on the validation set was kept (L85), as the engine does",
    "choice: grey image repeated into 3 channels, ImageNet mean/std (not stated), so ImageNet weights would fit",
    "choice: pretrained: none, as in the paper; pretrained=true or weights=PATH loads a local ImageNet file",
)


class BaniadamClassifier(TransferSubmission):
    """An architecture with its own classifier (3 classes), trained with the paper's recipe and augmentation."""

    hidden = None

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Random scale 0.5-2.0, flip, rotation and blur (see :mod:`.augment`)."""
        return paper_augment(batch, generator)


def _spec(name: str, description: str, pretrained: str, licence: str, notes: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        name=name, task="classification", class_counts=(3, 2), authors=AUTHORS, reference=f"{CITATION}; Table 2",
        description=description, input_size=INPUT_SIZE, in_channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pretrained=pretrained, licence=licence, defaults=dict(RECIPE), search_space=dict(SEARCH),
        notes=(*NOTES, *notes),
    )


@register
class BaniadamVGG16(BaniadamClassifier):
    """VGG-16 with its 4096-4096 classifier and a 3-way output: 134.27 M parameters."""

    backbone_name = "vgg16"
    spec = _spec(
        "baniadam2021_vgg16",
        "Baniadam Dizaj 2021 VGG-16 from scratch, its own 4096-4096 classifier, 3 outputs (134.27 M parameters)",
        "imagenet (torchvision: VGG16_Weights.IMAGENET1K_V1)", "MIT; torchvision BSD-3-Clause",
        (
            "paper: Table 1 gives VGG-16's 13 convolutions, then FC, FC, FC-1 and a sigmoid (L124-L149)",
            "choice: torchvision's 4096-4096 classifier with 3 softmax outputs, one per class",
            "choice: VGG's adaptive 7x7 pooling before the classifier keeps the head size at 512 px input",
            "paper: the text says '19 layers on this task' (L122) against Table 1's VGG-16; VGG-16 is used",
            "choice: dropout 0.33 in VGG's two dropout layers",
        ),
    )


@register
class BaniadamResNet50(BaniadamClassifier):
    """ResNet-50 with a 3-way classifier: 23.51 M parameters."""

    backbone_name = "resnet50"
    spec = _spec(
        "baniadam2021_resnet50",
        "Baniadam Dizaj 2021 ResNet-50 from scratch, 3-way classifier (23.51 M parameters)",
        "imagenet (timm: resnet50.tv_in1k)", "MIT; timm Apache-2.0",
        (
            "paper: ResNet-18, -50 and -101 were tried, ResNet-50 reported (L103, L114)",
            "choice: dropout 0.33 before the classifier, where ResNet has none of its own",
        ),
    )


@register
class BaniadamDenseNet161(BaniadamClassifier):
    """DenseNet-161 with a 3-way classifier: 26.48 M parameters."""

    backbone_name = "densenet161"
    spec = _spec(
        "baniadam2021_densenet161",
        "Baniadam Dizaj 2021 DenseNet-161 from scratch, 3-way classifier (26.48 M parameters)",
        "imagenet (timm: densenet161.tv_in1k)", "MIT; timm Apache-2.0",
        ("choice: dropout 0.33 before the classifier, where DenseNet has none of its own",),
    )


@register
class BaniadamAlexNet(BaniadamClassifier):
    """AlexNet (torchvision's) with its 4096-4096 classifier and a 3-way output: 57.02 M parameters."""

    backbone_name = "alexnet"
    spec = _spec(
        "baniadam2021_alexnet",
        "Baniadam Dizaj 2021 AlexNet from scratch, its own 4096-4096 classifier, 3 outputs (57.02 M parameters)",
        "imagenet (torchvision: AlexNet_Weights.IMAGENET1K_V1)", "MIT; torchvision BSD-3-Clause",
        (
            "paper: AlexNet [41] without details (L151-L155); choice: torchvision's single-tower AlexNet",
            "choice: dropout 0.33 in AlexNet's two dropout layers",
        ),
    )


from . import segmentation  # noqa: E402, F401  (registers baniadam2021_unet)
