"""Munukurthi & Gayathri 2024's two-stage systems: their U-Net, then a CNN, VGG19 or MobileNet classifier.

The paper classifies "post-segmentation" (L9, L23, L69): the U-Net removes everything but the tumour and the
classifier sees what is left. Here both stages are one :class:`~benchmark.models.two_stage.SegmentThenClassify`
model: the classifier sees the image times the U-Net's *predicted* lesion probability (detached), never a reference
mask (which does not exist at test time and would give normal images, whose masks are empty, away).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from benchmark.models.backbones import IMAGENET_MEAN, IMAGENET_STD, FeatureExtractor, load_imagenet, local_weights
from benchmark.models.two_stage import SegmentThenClassify, TwoStageSubmission
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import keras_augment
from .segmentation import CITATION, RECIPE, SHARED_NOTES, munukurthi_unet

TWO_STAGE_NOTES = (
    "paper: U-Net segmentation, then classification of the segmented image (L9, L23, L69)",
    "choice: the classifier sees the image (in [0, 1]) times the U-Net's predicted lesion probability, detached; "
    "never a reference mask, which is absent at test time and empty for every normal image",
    "choice: both stages train together in one run, one optimiser: cross-entropy plus the U-Net's MSE loss on the "
    "training masks",
    "choice: the classifiers' optimiser, lr and batch are not stated; both stages use the U-Net's Adam lr 5e-5 and "
    "batch 64 (L146)",
    *SHARED_NOTES,
)
_SEARCH = {
    "lr": SearchParam("float", 1e-5, 1e-3, log=True),
    "seg_weight": SearchParam("float", 0.1, 10.0, log=True),
    "base_width": SearchParam("categorical", choices=(16, 32, 64)),
}


class FlattenClassifier(nn.Module):
    """A feature trunk, the feature map flattened, dense layers: a Keras ``Flatten`` head.

    Adaptive average pooling to ``grid`` x ``grid`` before flattening is the identity at the paper's 128 px input
    (where the map is exactly that size) and keeps other input sizes working.

    Args:
        features: Images -> feature map (N, F, h, w).
        num_features: F.
        grid: Side of the flattened map at the paper's input size.
        hidden: Width of the hidden dense layer.
        activation: The hidden layer's activation.
        dropout: Dropout after the hidden activation (0: none).
        num_classes: Output logits.
    """

    def __init__(self, features: nn.Module, num_features: int, grid: int, hidden: int, activation: nn.Module,
                 dropout: float = 0.0, num_classes: int = 3):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(grid), nn.Flatten(), nn.Linear(num_features * grid * grid, hidden), activation,
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(), nn.Linear(hidden, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.head(self.features(images))


def munukurthi_cnn(in_channels: int = 1, dropout: float = 0.2, slope: float = 0.3,
                   num_classes: int = 3) -> FlattenClassifier:
    """The paper's CNN (L170-L172): four blocks 32-64-128-256, flatten, dense 32, 3 outputs; 0.91 M parameters.

    Each block is a 3x3 convolution, BatchNorm, LeakyReLU, 2x2 max-pool and dropout (the paper names the layers,
    not their order or the pooling: without pooling the flattened map would have 4.2 M features).
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for width in (32, 64, 128, 256):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(slope),
                   nn.MaxPool2d(2), nn.Dropout(dropout)]
        channels = width
    return FlattenClassifier(nn.Sequential(*layers), channels, 8, 32, nn.LeakyReLU(slope), dropout, num_classes)


class MunukurthiTwoStage(TwoStageSubmission):
    """The U-Net and a classifier on its segmented image; subclasses set ``spec`` and ``backbone_name``.

    Class attributes:
        backbone_name: Catalogue name of the classifier's ImageNet trunk (``None``: the paper's own CNN).
    """

    backbone_name: ClassVar[str | None] = None

    def build_model(self) -> nn.Module:
        """The U-Net (from scratch) and the classifier (ImageNet trunk from a local file when asked)."""
        segmenter = munukurthi_unet(self.spec.in_channels, int(self.hparams["base_width"]))
        if self.backbone_name is None:
            classifier: nn.Module = munukurthi_cnn(self.spec.in_channels, float(self.hparams["dropout"]),
                                                   num_classes=self.num_classes)
        else:
            trunk = FeatureExtractor(self.backbone_name)
            weights = str(self.hparams["weights"])
            if weights or self.hparams["pretrained"]:
                path = local_weights(self.spec.name, self.backbone_name, weights)  # fails fast when absent
                load_imagenet(trunk.model, self.backbone_name, path)
            # 128 px input, total stride 32: a 4x4 map is flattened (L189, L195)
            classifier = FlattenClassifier(trunk, trunk.num_features, 4, 256, nn.ReLU(inplace=True),
                                           num_classes=self.num_classes)
        return SegmentThenClassify(segmenter, classifier, self.spec.mean, self.spec.std)

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Keras' ImageDataGenerator with the settings of L83 (see :mod:`.augment`), image and mask alike."""
        return keras_augment(batch, generator)


def _spec(name: str, model: str, table: str, description: str, in_channels: int, defaults: dict,
          notes: tuple[str, ...], pretrained: str | None = None) -> ModelSpec:
    grey = in_channels == 1
    return ModelSpec(
        name=name,
        task="classification", class_counts=(3, 2),
        authors=("Bhavya Munukurthi", "G. V. Gayathri"),
        reference=f"{CITATION} Numbers: {table} ({model}, 78 test images).",
        description=description,
        input_size=128,
        in_channels=in_channels,
        mean=(0.0,) if grey else IMAGENET_MEAN,
        std=(1.0,) if grey else IMAGENET_STD,
        pretrained=pretrained,
        licence="MIT",
        defaults={**RECIPE, "seg_loss": "mse", "seg_weight": 1.0, "base_width": 64, **defaults},
        search_space=_SEARCH,
        notes=(*notes, *TWO_STAGE_NOTES),
    )


_IMAGENET_NOTES = (
    "choice: the U-Net reads the classifier's 3-channel ImageNet-normalised input (the paper's U-Net reads grey, "
    "L91: the same information)",
    "choice: pretrained=False by default (offline); pretrained=True loads the ImageNet trunk from weights=PATH or "
    "a local cache copy only; the U-Net always starts from scratch",
)


@register
class MunukurthiCNN(MunukurthiTwoStage):
    """U-Net, then the paper's CNN on the segmented grey image."""

    spec = _spec(
        "munukurthi2024_cnn", "CNN", "Table 1",
        "U-Net segmentation, then a 4-block CNN (32-256, BatchNorm, LeakyReLU, dense 32) on the segmented image",
        1, {"epochs": 150, "dropout": 0.2},
        ("paper: CNN on 128x128 grey images: four conv blocks 32-64-128-256 with BatchNorm, dropout and LeakyReLU, "
         "flatten, dense 32 with LeakyReLU, dense 3 softmax (L170-L172)",
         "choice: one 3x3 conv per block, then BatchNorm, LeakyReLU (slope 0.3, Keras' default), 2x2 max-pool, "
         "dropout 0.2 (the U-Net's rate); dropout 0.2 after the dense 32 too",
         "paper: 150 epochs (Fig. 10, L215)"),
    )


@register
class MunukurthiVGG19(MunukurthiTwoStage):
    """U-Net, then VGG19 with a flatten-dense-256 head on the segmented image."""

    backbone_name = "vgg19"
    spec = _spec(
        "munukurthi2024_vgg19", "VGG19", "Table 2",
        "U-Net segmentation, then VGG19 (flatten, dense 256) on the segmented image",
        3, {"epochs": 100, "pretrained": False, "weights": ""},
        ("paper: ImageNet-pretrained VGG19 without its classifier, flattened, dense 256 ReLU, dense 3 softmax, "
         "128x128 input with 3 channels (L184-L189)",
         "choice: 100 epochs (not stated for VGG19)", *_IMAGENET_NOTES),
        pretrained="imagenet (torchvision: VGG19_Weights.IMAGENET1K_V1)",
    )


@register
class MunukurthiMobileNet(MunukurthiTwoStage):
    """U-Net, then MobileNet (v1) with a flatten-dense-256 head on the segmented image."""

    backbone_name = "mobilenet_v1"
    spec = _spec(
        "munukurthi2024_mobilenet", "MobileNet", "Table 3",
        "U-Net segmentation, then MobileNet v1 (flatten, dense 256) on the segmented image",
        3, {"epochs": 100, "pretrained": False, "weights": ""},
        ("paper: grey repeated to RGB, ImageNet-pretrained MobileNet without its top, flattened, dense 256 ReLU, "
         "dense 3 softmax, 128x128 input (L195)",
         "choice: MobileNet v1 (Keras' MobileNet; timm mobilenetv1_100)",
         "paper: 100 epochs (Fig. 12, L223)", *_IMAGENET_NOTES),
        pretrained="imagenet (timm: mobilenetv1_100.ra4_e3600_r224_in1k)",
    )
