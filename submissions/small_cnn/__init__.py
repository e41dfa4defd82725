"""A small CNN for 3-class classification of grey ultrasound images that trains in minutes on a CPU."""

from __future__ import annotations

from torch import nn

from benchmark.plugins import ModelSpec, SearchParam, Submission, register

#: Output channels of the four blocks at width 1.
WIDTHS = (16, 32, 64, 128)


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """A 3x3 convolution (no bias: BatchNorm follows), BatchNorm and ReLU."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def small_cnn(in_channels: int = 1, num_classes: int = 3, width: float = 1.0, dropout: float = 0.3) -> nn.Sequential:
    """Four blocks of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool, global average pooling, dropout, linear.

    Two convolutions per block (rather than one) double the receptive field to about 76 px at the last block, so
    the pooled features see most of a lesion at the default 128 px input.

    Args:
        in_channels: Input channels (1 for grey).
        num_classes: Output logits.
        width: Multiplier on the block widths 16-32-64-128 (rounded, at least 4 channels).
        dropout: Dropout probability before the linear layer.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for base in WIDTHS:
        out = max(4, round(base * width))
        layers += [*conv_bn_relu(channels, out), *conv_bn_relu(out, out), nn.MaxPool2d(2)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


@register
class SmallCNN(Submission):
    """The small CNN baseline: 0.29 M parameters at width 1."""

    spec = ModelSpec(
        name="small_cnn",
        task="classification", class_counts=(3, 2),
        authors=("busbench",),
        reference="",
        description="Small 8-layer CNN (4 blocks 16-32-64-128, 0.29 M parameters at width 1) trained from scratch",
        input_size=128,
        in_channels=1,
        mean=(0.5,),
        std=(0.25,),
        pretrained=None,
        licence="MIT",
        defaults={"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "epochs": 30, "dropout": 0.3, "width": 1.0},
        search_space={
            "lr": SearchParam("float", 1e-4, 1e-2, log=True),
            "weight_decay": SearchParam("float", 1e-6, 1e-2, log=True),
            "dropout": SearchParam("float", 0.0, 0.5),
            "width": SearchParam("categorical", choices=(0.5, 1.0, 1.5)),
            "batch_size": SearchParam("categorical", choices=(16, 32, 64)),
        },
        notes=(
            "a busbench baseline, not from a paper: the floor any published architecture should beat",
            "grey input (1 channel) normalised with mean 0.5 / std 0.25; BatchNorm absorbs the exact scale",
            "defaults (AdamW, cosine schedule, lr 1e-3, weight decay 1e-4, dropout 0.3) chosen a priori, not tuned",
        ),
    )

    def build_model(self) -> nn.Module:
        """The small CNN at the configured width and dropout."""
        return small_cnn(
            self.spec.in_channels, self.num_classes, width=float(self.hparams["width"]),
            dropout=float(self.hparams["dropout"])
        )
