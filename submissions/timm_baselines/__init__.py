"""ImageNet-style classification baselines from timm: ResNet-18 and EfficientNet-B0.

Both take 3 input channels normalised with the ImageNet mean and std, so that ImageNet weights fit unchanged when a
user has them; the engine repeats the grey ultrasound image into the three channels (``spec.in_channels == 3``).
The default is to train from scratch (``pretrained=False``), which works offline; ``pretrained=True`` uses ImageNet
weights only from a local file (``weights=PATH``) or the timm / Hugging Face caches, never a download.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from torch import nn

from benchmark.compat import ensure_torchvision_importable
from benchmark.models.backbones import timm_weights
from benchmark.plugins import ModelSpec, SearchParam, Submission, register
from benchmark.pretrained import load_backbone, read_state_dict

# timm imports torchvision, whose CUDA build from PyPI does not load next to a CPU torch without this (see compat).
ensure_torchvision_importable()
import timm  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SEARCH = {
    "lr": SearchParam("float", 1e-5, 1e-2, log=True),
    "weight_decay": SearchParam("float", 1e-6, 1e-1, log=True),
    "batch_size": SearchParam("categorical", choices=(16, 32)),
    "drop_rate": SearchParam("float", 0.0, 0.5),
}
_NOTES = (
    "grey ultrasound repeated into 3 channels and normalised with the ImageNet mean/std, so ImageNet weights fit",
    "pretrained=False by default (trains from scratch, offline); pretrained=True loads ImageNet weights only from "
    "weights=PATH or an existing timm / Hugging Face cache copy, never downloads; a given weights=PATH is loaded even "
    "when pretrained is False",
    "the 1000-class ImageNet head is dropped and a freshly initialised 3-class head trained",
    "defaults (AdamW, cosine schedule, lr 1e-3, weight decay 1e-4) are the engine's, not tuned for these models",
)


class TimmClassifier(Submission):
    """A timm image classifier with a 3-class head and optional local ImageNet weights.

    Subclasses set ``spec`` and ``timm_name`` (architecture and pretrained tag, e.g. ``"resnet18.a1_in1k"``).
    """

    timm_name: ClassVar[str]

    def build_model(self) -> nn.Module:
        """The timm model, from scratch or initialised from local ImageNet weights (see module docstring)."""
        path = self._local_weights()
        model = timm.create_model(
            self.timm_name,
            pretrained=False,  # never let timm fetch weights; local files are loaded below
            num_classes=self.num_classes,
            in_chans=self.spec.in_channels,
            drop_rate=float(self.hparams["drop_rate"]),
        )
        if path is not None:
            cfg = model.pretrained_cfg
            load_backbone(model, read_state_dict(path), path, cfg["first_conv"], cfg["classifier"])
        return model

    def _local_weights(self) -> Path | None:
        """The weights file to load, ``None`` for training from scratch; fails fast when asked for missing ones."""
        weights = str(self.hparams["weights"])
        if not weights and not self.hparams["pretrained"]:
            return None
        return timm_weights(self.spec.name, self.timm_name, weights)


@register
class ResNet18(TimmClassifier):
    """ResNet-18 (timm), 11.18 M parameters with the 3-class head."""

    timm_name = "resnet18.a1_in1k"
    spec = ModelSpec(
        name="resnet18",
        task="classification", class_counts=(3, 2),
        authors=("Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"),
        reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016, doi:10.1109/CVPR.2016.90, "
        "arXiv:1512.03385",
        description="ResNet-18 classifier from timm (11.18 M parameters), 3-class head",
        input_size=224,
        in_channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained="imagenet (timm: resnet18.a1_in1k)",
        licence="Apache-2.0 (timm code and weights)",
        defaults={"batch_size": 32, "epochs": 30, "drop_rate": 0.0, "pretrained": False, "weights": ""},
        search_space=_SEARCH,
        notes=(*_NOTES, "drop_rate is dropout before the classifier (the paper uses none: default 0)"),
    )


@register
class EfficientNetB0(TimmClassifier):
    """EfficientNet-B0 (timm), 4.01 M parameters with the 3-class head."""

    timm_name = "efficientnet_b0.ra_in1k"
    spec = ModelSpec(
        name="efficientnet_b0",
        task="classification", class_counts=(3, 2),
        authors=("Mingxing Tan", "Quoc V. Le"),
        reference="Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019, "
        "arXiv:1905.11946",
        description="EfficientNet-B0 classifier from timm (4.01 M parameters), 3-class head",
        input_size=224,
        in_channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained="imagenet (timm: efficientnet_b0.ra_in1k)",
        licence="Apache-2.0 (timm code and weights)",
        defaults={"batch_size": 32, "epochs": 30, "drop_rate": 0.2, "pretrained": False, "weights": ""},
        search_space=_SEARCH,
        notes=(*_NOTES, "drop_rate is dropout before the classifier; 0.2 as in the paper for B0"),
    )
