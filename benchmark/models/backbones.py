"""ImageNet-style backbones for classification submissions: a catalogue, feature trunks and classifier heads.

Papers describe their transfer-learning models in Keras terms: a named architecture without its top
(``include_top=False``), then a head of their own (global average pooling, dense layers, dropout) or the
architecture's standard classifier. This module gives both, from timm or torchvision, under one catalogue of names
(:data:`BACKBONES`), so that every seed-paper submission builds the same "VGG16" the same way.

Backbones take 3 channels (the grey ultrasound image repeated, normalised with the ImageNet mean and std) so that
ImageNet weights fit unchanged when a user has them. Weights are never downloaded: :func:`local_weights` finds a
file the user named or a copy already in the timm / torchvision caches, else fails at once (see
:mod:`benchmark.pretrained`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from torch import nn

from benchmark.compat import ensure_torchvision_importable
from benchmark.errors import BusbenchError
from benchmark.pretrained import HubFile, find_weights, load_backbone, read_state_dict, torch_hub_checkpoint

# timm imports torchvision, whose CUDA build from PyPI does not load next to a CPU torch without this (see compat).
ensure_torchvision_importable()
import timm  # noqa: E402
import torchvision  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    """One catalogued architecture.

    Attributes:
        name: busbench name (``"vgg16"``).
        library: ``"timm"`` or ``"torchvision"``.
        model_name: timm model name with its pretrained tag, or the torchvision builder's name.
        weights_enum: torchvision weights enum name whose ImageNet checkpoint fits (torchvision only).
        reference: The architecture's paper.
        first_conv: Module name of the first convolution inside the library model (adapted to the input channels
            when loading weights).
        classifier: Module name of the library model's ImageNet classifier (dropped when loading weights).
        min_size: Smallest input side the architecture accepts.
    """

    name: str
    library: str
    model_name: str
    reference: str
    first_conv: str
    classifier: str
    weights_enum: str = ""
    min_size: int = 32


_CATALOGUE = (
    # VGG and AlexNet from torchvision: timm's VGG keeps a 4096-wide convolutional MLP even without its classifier,
    # which Keras' include_top=False VGG does not have.
    Backbone("vgg16", "torchvision", "vgg16", "Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556",
             "features.0", "classifier", "VGG16_Weights"),
    Backbone("vgg19", "torchvision", "vgg19", "Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556",
             "features.0", "classifier", "VGG19_Weights"),
    Backbone("alexnet", "torchvision", "alexnet", "Krizhevsky et al., NeurIPS 2012, doi:10.1145/3065386",
             "features.0", "classifier", "AlexNet_Weights", min_size=63),
    Backbone("densenet121", "timm", "densenet121.tv_in1k", "Huang et al., CVPR 2017, arXiv:1608.06993",
             "features.conv0", "classifier"),
    Backbone("densenet161", "timm", "densenet161.tv_in1k", "Huang et al., CVPR 2017, arXiv:1608.06993",
             "features.conv0", "classifier"),
    Backbone("efficientnet_b0", "timm", "efficientnet_b0.ra_in1k", "Tan & Le, ICML 2019, arXiv:1905.11946",
             "conv_stem", "classifier"),
    # Keras' "MobileNet" is MobileNet v1 (Howard et al. 2017).
    Backbone("mobilenet_v1", "timm", "mobilenetv1_100.ra4_e3600_r224_in1k", "Howard et al., arXiv:1704.04861",
             "conv_stem", "classifier"),
    Backbone("inception_v3", "timm", "inception_v3.tv_in1k", "Szegedy et al., CVPR 2016, arXiv:1512.00567",
             "Conv2d_1a_3x3.conv", "fc", min_size=75),
    # Keras' Xception is the original (Chollet 2017), timm's "legacy_xception".
    Backbone("xception", "timm", "legacy_xception.tf_in1k", "Chollet, CVPR 2017, arXiv:1610.02357",
             "conv1", "fc", min_size=32),
    Backbone("resnet34", "timm", "resnet34.tv_in1k", "He et al., CVPR 2016, arXiv:1512.03385", "conv1", "fc"),
    Backbone("resnet50", "timm", "resnet50.tv_in1k", "He et al., CVPR 2016, arXiv:1512.03385", "conv1", "fc"),
    Backbone("resnext50_32x4d", "timm", "resnext50_32x4d.tv_in1k", "Xie et al., CVPR 2017, arXiv:1611.05431",
             "conv1", "fc"),
)
#: The catalogue, by busbench name.
BACKBONES: dict[str, Backbone] = {b.name: b for b in _CATALOGUE}


def backbone(name: str) -> Backbone:
    """The catalogue entry ``name``.

    Raises:
        BusbenchError: If the name is not catalogued.
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise BusbenchError("backbone", f"unknown name {name!r} (known: {', '.join(sorted(BACKBONES))})") from None


def _library_model(entry: Backbone, num_classes: int, dropout: float) -> nn.Module:
    """The library's model with a ``num_classes`` classifier (0: none), never with downloaded weights."""
    if entry.library == "timm":
        return timm.create_model(entry.model_name, pretrained=False, num_classes=num_classes, drop_rate=dropout)
    if num_classes == 0 and entry.model_name in _VGG_LAYOUT:
        return _vgg_trunk(entry.model_name)
    builder = getattr(torchvision.models, entry.model_name)
    model = builder(weights=None, num_classes=max(num_classes, 1), dropout=dropout)
    if num_classes == 0:
        # The trunk alone: no adaptive pooling to 7x7 and no 4096-wide classifier (Keras include_top=False).
        model.avgpool = nn.Identity()
        model.classifier = nn.Identity()
    return model


#: torchvision's layer configurations of the VGG trunks.
_VGG_LAYOUT = {"vgg16": "D", "vgg19": "E"}


def _vgg_trunk(name: str) -> nn.Module:
    """A VGG's convolutional layers under torchvision's key names (``features.N``), without its classifier.

    Building torchvision's whole VGG only to drop it would first initialise 120 M classifier weights (about a
    second per build); the trunk is initialised as torchvision initialises it.
    """
    from torchvision.models.vgg import cfgs, make_layers

    trunk = nn.Module()
    trunk.features = features = make_layers(cfgs[_VGG_LAYOUT[name]], batch_norm=False)
    for module in features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:  # (every VGG convolution has one)
                nn.init.zeros_(module.bias)
    return trunk


class FeatureExtractor(nn.Module):
    """An architecture's convolutional trunk: images (N, 3, H, W) -> feature map (N, F, h, w).

    The library model is kept whole (as ``model``, minus its classifier) so that ImageNet state dicts load by
    their own key names.

    Args:
        name: Catalogue name (see :data:`BACKBONES`).
    """

    def __init__(self, name: str):
        super().__init__()
        self.entry = backbone(name)
        self.model = _library_model(self.entry, num_classes=0, dropout=0.0)
        if self.entry.library == "timm":
            self.num_features = int(cast(int, self.model.num_features))
        else:
            features = cast(nn.Sequential, self.model.features)  # torchvision's VGG
            self.num_features = [m for m in features if isinstance(m, nn.Conv2d)][-1].out_channels

    def forward(self, images):
        """The last feature map, before any pooling."""
        if self.entry.library == "timm":
            return self.model.forward_features(images)
        return self.model.features(images)


class BackboneClassifier(nn.Module):
    """A trunk with a dense head: the "custom head" of Keras transfer-learning papers.

    The head is global average pooling, [Linear, ReLU, Dropout] per hidden width, and a linear output of
    ``num_classes`` logits.

    Args:
        features: The trunk (a :class:`FeatureExtractor` or any module giving (N, F, h, w)).
        num_features: F.
        hidden: Widths of the hidden dense layers (empty: pooling straight into the output layer).
        dropout: Dropout probability after each hidden layer (and before the output when there is none).
        num_classes: Output logits.
    """

    def __init__(self, features: nn.Module, num_features: int, hidden: Sequence[int] = (), dropout: float = 0.0,
                 num_classes: int = 3):
        super().__init__()
        self.features = features
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        width = num_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = int(h)
        if not hidden and dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*layers)

    def forward(self, images):
        """Logits (N, num_classes)."""
        return self.head(self.features(images))

    def hidden_layers(self) -> list[nn.Linear]:
        """The head's hidden dense layers (not the output layer), e.g. for an L2 penalty on their kernels."""
        return [m for m in self.head if isinstance(m, nn.Linear)][:-1]

    def train(self, mode: bool = True) -> BackboneClassifier:
        """Train mode, except BatchNorm layers with frozen parameters, which keep their running statistics.

        This is Keras' behaviour for a layer with ``trainable = False`` (it runs in inference mode), which the
        "fine-tune the last layers" recipes rely on.
        """
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()
            ):
                module.eval()
        return self


def standard_classifier(name: str, dropout: float = 0.0, num_classes: int = 3) -> nn.Module:
    """The architecture with its own classifier, resized to ``num_classes`` (for papers that use the model as is).

    ``dropout`` goes where the architecture has dropout (VGG and AlexNet: in their classifier; timm models:
    before the classifier).
    """
    return _library_model(backbone(name), num_classes=num_classes, dropout=dropout)


def freeze_all_but_last(trunk: nn.Module, layers: int) -> int:
    """Freeze a trunk's parameters except those of its last ``layers`` layers that have parameters.

    A "layer" is a module holding parameters itself (a convolution, a BatchNorm, a dense layer), in definition order:
    the nearest reading of Keras' "fine-tune the last N layers" (``for layer in base.layers[:-N]: layer.trainable =
    False``), where most counted layers carry weights.

    Returns:
        The number of parameter tensors left trainable.
    """
    # A module holding parameters itself (timm's BatchNormAct2d has children too, so no "leaf" test).
    leaves = [m for m in trunk.modules() if list(m.parameters(recurse=False))]
    keep = {id(m) for m in leaves[-layers:]} if layers > 0 else set()
    trainable = 0
    for module in leaves:
        for p in module.parameters(recurse=False):
            p.requires_grad_(id(module) in keep)
            trainable += int(id(module) in keep)
    return trainable


def local_weights(model_name: str, name: str, weights: str) -> Path:
    """A local ImageNet weights file for catalogue entry ``name`` (never downloads).

    Args:
        model_name: Registry name of the submission asking (for the error message).
        name: Catalogue name.
        weights: A file the user named (``weights=PATH``); empty to look in the timm and torchvision caches.

    Raises:
        BusbenchError: If no file is found (the message says to use ``--no-pretrained`` or ``weights=PATH``).
    """
    entry = backbone(name)
    if entry.library == "timm":
        return timm_weights(model_name, entry.model_name, weights)
    enum = getattr(torchvision.models, entry.weights_enum)
    files = [torch_hub_checkpoint(enum.IMAGENET1K_V1.url)]
    return find_weights(model_name, f"{entry.name} ({entry.library}: {entry.model_name})", weights, (), files)


def timm_weights(model_name: str, timm_name: str, weights: str) -> Path:
    """A local copy of timm's pretrained weights for ``timm_name`` (e.g. ``"resnet18.a1_in1k"``), never downloaded.

    Looks where timm would have put a download: the Hugging Face hub cache, then the torch hub checkpoint folder.

    Raises:
        BusbenchError: If no file is found (see :func:`local_weights`).
    """
    cfg = timm.models.get_pretrained_cfg(timm_name)
    hub: list[HubFile] = []
    files: list[Path] = []
    if cfg is not None and cfg.hf_hub_id:
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        hub = [HubFile(cfg.hf_hub_id, n) for n in names]
    if cfg is not None and cfg.url:
        # timm also allows a (url, file name) pair, and then keeps its download under that name
        files = [torch_hub_checkpoint(cfg.url[1] if isinstance(cfg.url, (tuple, list)) else cfg.url)]
    return find_weights(model_name, f"{timm_name} (timm)", weights, hub, files)


def load_imagenet(module: nn.Module, name: str, path: Path) -> None:
    """Load ImageNet weights from ``path`` into a library model of catalogue entry ``name``.

    The ImageNet classifier is dropped when it does not fit; every other weight must fit.
    """
    entry = backbone(name)
    load_backbone(module, read_state_dict(path), path, entry.first_conv, entry.classifier)
