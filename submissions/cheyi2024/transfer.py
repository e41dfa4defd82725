"""The transfer-learning models of Cheyi & Çetin-Kaya (2024), Sec. 3.2.2 (L163), Sec. 4.2-4.3 (L187-L268).

Eight Keras applications without their top, each with the paper's custom head: global average pooling, dense
layers with dropout and a 3-way softmax (L163). The head's widths are not in the text, but the parameter counts of
Sec. 4.3 (L268) pin them down: every one equals Keras' ``include_top=False`` trunk plus dense 256, dense 128 and
dense 3 on the pooled features (e.g. VGG16: 14,714,688 + 131,328 + 32,896 + 387 = 14,879,299). Our trunks are the
timm / torchvision versions of the same architectures (see :mod:`benchmark.models.backbones`); their counts differ
from Keras' only in what Keras counts as parameters, as each ``count_note`` says.
"""

from __future__ import annotations

from torch import nn

from benchmark.models.backbones import IMAGENET_MEAN, IMAGENET_STD, BackboneClassifier, backbone
from benchmark.models.transfer import TransferSubmission
from benchmark.plugins import ModelSpec, register

from .paper import AUTHORS, CITATION, NOTES, RECIPE, SEARCH, TABLES, keras_init

#: The custom head's hidden dense widths, from the parameter counts of L268.
HEAD = (256, 128)
#: Why a trunk's PyTorch count differs from the paper's (Keras) count.
_BN_STATS = "Keras also counts the BatchNorm moving means and variances"

TRANSFER_NOTES = (
    *NOTES,
    "paper: custom head on the base model: global average pooling, dense layers with dropout, 3-way softmax (L163)",
    "paper: head widths not stated; Sec. 4.3's counts (L268) equal Keras' include_top=False trunk + GAP + dense 256 "
    "+ dense 128 + dense 3 for all eight models, so the head is 256-128",
    "choice: dropout 0.5 after each hidden dense layer (the rate of the paper's own CNN, L156); no L2 on this head "
    "(L163 names only dropout); Keras' default initialisation of the head",
    "paper: fine-tuned with 'the last four layers' (Tables 2-3) or 'all layers' (Tables 4-5) (L187, L215); "
    "finetune='last4' trains the trunk's last 4 layers with weights plus the head, frozen BatchNorm in inference mode",
    "choice: finetune='all' by default: Table 4 is the paper's headline comparison (L268), and training only the "
    "last layers of a trunk makes sense only from pretrained weights",
    "paper: models are fine-tuned (transfer learning, L187), but the source of their weights is never named",
    "choice: ImageNet weights, off by default (pretrained=False trains from scratch, offline); pretrained=True or "
    "weights=PATH loads a local file only, never downloads",
    "choice: grey image repeated to 3 channels, ImageNet mean/std (the weights' convention; Keras' per-model "
    "preprocess_input is not stated)",
)


class CheyiTransfer(TransferSubmission):
    """A catalogued trunk with the paper's 256-128 head (subclasses set ``backbone_name`` and ``spec``)."""

    hidden = HEAD
    head_l2 = 0.0

    def build_model(self) -> nn.Module:
        """The trunk (from scratch or local ImageNet weights, layers frozen as asked) with a Keras-initialised head."""
        model = super().build_model()
        if isinstance(model, BackboneClassifier):
            keras_init(model.head)
        return model


def transfer_spec(name: str, backbone_name: str, keras: str, paper_count: int, count: int, count_note: str,
                  *notes: str) -> ModelSpec:
    """The spec of one transfer model.

    Args:
        name: Registry name.
        backbone_name: Catalogue name of the trunk.
        keras: The Keras application's name, as the paper's tables write it.
        paper_count: The paper's parameter count (L268).
        count: Our parameter count (the PyTorch model's parameters, frozen or not).
        count_note: Why it differs from the paper's.
        *notes: Further notes for this model.
    """
    entry = backbone(backbone_name)
    source = entry.model_name + (f" {entry.weights_enum}.IMAGENET1K_V1" if entry.weights_enum else "")
    library = {"timm": "timm (Apache-2.0)", "torchvision": "torchvision (BSD-3-Clause)"}[entry.library]
    return ModelSpec(
        name=name,
        task="classification", class_counts=(3, 2),
        authors=AUTHORS,
        reference=f"{CITATION}; {keras}: {TABLES}; architecture: {entry.reference}",
        description=f"{keras} trunk ({entry.library}: {entry.model_name}) + GAP + dense 256-128 head with dropout "
        f"({count / 1e6:.2f} M parameters), Cheyi 2024 recipe",
        input_size=224,
        in_channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained=f"imagenet ({entry.library}: {source})",
        licence=f"MIT (submission code); backbone code from {library}",
        defaults={**RECIPE, "finetune": "all", "pretrained": False, "weights": ""},
        search_space=SEARCH,
        notes=(
            *TRANSFER_NOTES,
            f"paper: {paper_count:,} parameters (L268, Keras' count); ours: {count:,}, {count_note}",
            *notes,
        ),
    )


@register
class CheyiVGG16(CheyiTransfer):
    """VGG16 with the paper's head."""

    backbone_name = "vgg16"
    spec = transfer_spec("cheyi2024_vgg16", "vgg16", "VGG16", 14_879_299, 14_879_299, "the same (no BatchNorm)")


@register
class CheyiVGG19(CheyiTransfer):
    """VGG19 with the paper's head."""

    backbone_name = "vgg19"
    spec = transfer_spec("cheyi2024_vgg19", "vgg19", "VGG19", 20_188_995, 20_188_995, "the same (no BatchNorm)")


@register
class CheyiDenseNet121(CheyiTransfer):
    """DenseNet121 with the paper's head."""

    backbone_name = "densenet121"
    spec = transfer_spec("cheyi2024_densenet121", "densenet121", "DenseNet121", 7_333_187, 7_249_539,
                         f"{_BN_STATS} (83,648)")


@register
class CheyiEfficientNetB0(CheyiTransfer):
    """EfficientNetB0 with the paper's head."""

    backbone_name = "efficientnet_b0"
    spec = transfer_spec("cheyi2024_efficientnetb0", "efficientnet_b0", "EfficientNetB0", 4_410_790, 4_368_767,
                         f"{_BN_STATS} (42,016) and the 7 statistics of its input Normalization layer")


@register
class CheyiMobileNet(CheyiTransfer):
    """MobileNet (v1, width 1.0) with the paper's head."""

    backbone_name = "mobilenet_v1"
    spec = transfer_spec("cheyi2024_mobilenet", "mobilenet_v1", "MobileNet", 3_524_547, 3_502_659,
                         f"{_BN_STATS} (21,888)", "choice: Keras' MobileNet is MobileNet v1 at alpha 1.0")


@register
class CheyiInceptionV3(CheyiTransfer):
    """InceptionV3 with the paper's head."""

    backbone_name = "inception_v3"
    spec = transfer_spec("cheyi2024_inceptionv3", "inception_v3", "InceptionV3", 22_360_611, 22_343_395,
                         f"{_BN_STATS} (34,432) but InceptionV3's BatchNorm has no scale in Keras (-17,216)",
                         "choice: 224 px like the others (Keras' default for InceptionV3 is 299; the smallest input "
                         "it takes is 75)")


@register
class CheyiXception(CheyiTransfer):
    """Xception with the paper's head."""

    backbone_name = "xception"
    spec = transfer_spec("cheyi2024_xception", "xception", "Xception", 21_419_307, 21_364_779,
                         f"{_BN_STATS} (54,528)",
                         "choice: timm's legacy_xception is Keras' Xception; 224 px like the others (Keras' default "
                         "for Xception is 299)")


@register
class CheyiResNet50(CheyiTransfer):
    """ResNet50 with the paper's head."""

    backbone_name = "resnet50"
    spec = transfer_spec("cheyi2024_resnet50", "resnet50", "ResNet50", 24_145_539, 24_065_859,
                         f"{_BN_STATS} (53,120) and Keras' ResNet50 convolutions have biases (26,560)")
