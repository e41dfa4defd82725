"""The classifiers of Li et al. 2025 with the paper's recipe: DeepCardinal-50, ResNet-34, ResNet-50 and AlexNet.

DeepCardinal-50 is a ResNeXt-50 with 32 groups of 4 channels (L87, L101, L233), built here as the standard
ResNeXt-50 32x4d. The paper states one recipe (L101): Adam at 1e-4, learning rate divided by 10 after 10 epochs
without improvement, batch size 16, 100 epochs, cross-entropy; it is used for the comparison models too. The
augmentation of L67 (flips, rotation, colour jitter, blur) is in :mod:`.augment`. Every model starts from scratch;
``pretrained=true`` (or ``weights=PATH``) loads ImageNet weights from a local file, e.g. for Table 3's "ResNet34
with pre-training".
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from benchmark.models.transfer import TransferSubmission
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import paper_augment

AUTHORS = ("Luyao Li", "Yupeng Niu", "Fa Tian", "Bin Huang")
CITATION = ("Li L., Niu Y., Tian F., Huang B. An efficient deep learning strategy for accurate and automated "
            "detection of breast tumors in ultrasound image datasets. Front. Oncol. 14:1461542, 2025, "
            "doi:10.3389/fonc.2024.1461542")

#: The recipe of L101.
RECIPE: dict[str, Any] = {
    "optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "schedule": "plateau", "plateau_factor": 0.1,
    "plateau_patience": 10, "batch_size": 16, "epochs": 100, "pretrained": False, "weights": "",
}
SEARCH = {
    "lr": SearchParam("float", 1e-5, 1e-3, log=True),
    "batch_size": SearchParam("categorical", choices=(8, 16, 32)),
}
NOTES = (
    "paper: Adam at 1e-4, learning rate x0.1 after 10 epochs without validation-loss improvement, batch size 16, "
    "100 epochs, cross-entropy (L101)",
    "choice: the plateau schedule follows the validation score (balanced accuracy, mode max), not the loss",
    "choice: the DeepCardinal-50 recipe for the comparison models too; no weight decay (none stated)",
    "paper: the task is called binary (L101, L243) but three classes are reported (L31); three classes here",
    "paper: 'label overlay' embeds the class labels in the images (L63); not reproduced (label leakage)",
    "paper: denoising, filtering and contrast adjustment (L65) are not described; not reproduced",
    "paper: flips, rotation, colour jitter and Gaussian blur (L67), reproduced in augment()",
    "choice: flips p 0.5, rotation +-10 degrees, brightness/contrast +-20%, blur sigma 0.1-2 px at 224 px on half "
    "the images: strengths not stated",
    "paper: augmentation also balanced the classes (L73), apparently offline; not reproduced",
    "paper: 11:1:3 train/validation/test split (L107); busbench's splits replace it",
    "choice: 224x224 input (not stated), grey repeated into 3 channels, ImageNet mean/std (PyTorch practice)",
    "choice: pretrained: none by default; pretrained=true or weights=PATH loads a local ImageNet file",
)


class LiClassifier(TransferSubmission):
    """An architecture with its own classifier (3 classes), trained with the paper's recipe and augmentation."""

    hidden = None

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Flips, rotation, brightness/contrast jitter and blur (see :mod:`.augment`)."""
        return paper_augment(batch, generator)


def _spec(name: str, description: str, pretrained: str, licence: str, dropout: float, tables: str,
          notes: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        name=name, task="classification", class_counts=(3, 2), authors=AUTHORS, reference=f"{CITATION}; {tables}",
        description=description, input_size=224, in_channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pretrained=pretrained, licence=licence, defaults={**RECIPE, "dropout": dropout}, search_space=dict(SEARCH),
        notes=(*NOTES, *notes),
    )


@register
class LiDeepCardinal50(LiClassifier):
    """DeepCardinal-50, a ResNeXt-50 32x4d with a 3-way classifier: 22.99 M parameters."""

    backbone_name = "resnext50_32x4d"
    spec = _spec(
        "li2025_deepcardinal50",
        "Li 2025 DeepCardinal-50 = ResNeXt-50 32x4d, 3-way classifier (22.99 M parameters)",
        "imagenet (timm: resnext50_32x4d.tv_in1k)", "MIT; timm Apache-2.0", 0.0, "Tables 2, 3 and 4",
        (
            "paper: residual network with grouped convolutions, 32 groups of 4 channels (L87, L101, L233); its "
            "Figure 4 is not in the text, so the standard ResNeXt-50 32x4d is used",
            "paper: L167 says a pre-trained ResNet34 was modified for DeepCardinal-50's training; choice: ResNeXt-50 "
            "from scratch",
        ),
    )


@register
class LiResNet34(LiClassifier):
    """ResNet-34 with a 3-way classifier: 21.29 M parameters."""

    backbone_name = "resnet34"
    spec = _spec(
        "li2025_resnet34",
        "Li 2025 ResNet-34, 3-way classifier (21.29 M parameters)",
        "imagenet (timm: resnet34.tv_in1k)", "MIT; timm Apache-2.0", 0.0, "Tables 3 and 4",
        (
            "paper: Tables 3-4 list ResNet34 with and without pre-training (L192-L193, L215); this is the one "
            "without, pretrained=true the other",
        ),
    )


@register
class LiResNet50(LiClassifier):
    """ResNet-50 with a 3-way classifier: 23.51 M parameters."""

    backbone_name = "resnet50"
    spec = _spec(
        "li2025_resnet50",
        "Li 2025 ResNet-50, 3-way classifier (23.51 M parameters)",
        "imagenet (timm: resnet50.tv_in1k)", "MIT; timm Apache-2.0", 0.0, "Tables 3 and 4",
        ("paper: pre-training is not stated for ResNet-50; choice: from scratch",),
    )


@register
class LiAlexNet(LiClassifier):
    """AlexNet (torchvision's) with its 4096-4096 classifier and a 3-way output: 57.02 M parameters."""

    backbone_name = "alexnet"
    spec = _spec(
        "li2025_alexnet",
        "Li 2025 AlexNet, its own 4096-4096 classifier, 3 outputs (57.02 M parameters)",
        "imagenet (torchvision: AlexNet_Weights.IMAGENET1K_V1)", "MIT; torchvision BSD-3-Clause", 0.5,
        "Tables 3 and 4",
        (
            "paper: pre-training is not stated for AlexNet; choice: from scratch",
            "choice: torchvision's AlexNet with its own dropout 0.5 (the paper used PyTorch, L107)",
        ),
    )


from . import segmentation  # noqa: E402, F401  (registers li2025_u2netlite)
