"""The classic U-Net (Ronneberger et al. 2015), configurable the ways the seed papers' "U-Net"s differ.

Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015,
arXiv:1505.04597. Each level of the contracting path is a double 3x3 convolution followed by a 2x2 max-pool; the
expanding path up-samples (2x2 transposed convolution halving the channels, or bilinear up-sampling followed by a
1x1 convolution that halves them), concatenates the skip connection of the same level and applies a double 3x3
convolution; a 1x1 convolution gives one lesion logit per pixel. Widths double per level from ``base_width``
(64-128-256-512 and a 1024-wide bottleneck at the original's depth 4 and width 64: 31.0 M parameters).

Departures from the 2015 paper, all standard since: "same" padding (the output has the input's size, no
overlap-tile cropping) and optional BatchNorm after every 3x3 convolution. Any input side works: the input is
padded (bottom and right, with zeros, i.e. the normalised mean) to a multiple of ``2 ** depth`` and the logits are
cropped back.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Upsampling = Literal["transpose", "bilinear"]


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (bottom, right) to sides that are multiples of ``multiple``; crop outputs with ``[..., :H, :W]``."""
    pad_h, pad_w = -images.shape[-2] % multiple, -images.shape[-1] % multiple
    return F.pad(images, (0, pad_w, 0, pad_h)) if pad_h or pad_w else images


def double_conv(in_channels: int, out_channels: int, batchnorm: bool) -> nn.Sequential:
    """Two 3x3 "same" convolutions, each followed by (BatchNorm and) ReLU; no bias when BatchNorm follows."""
    layers: list[nn.Module] = []
    for cin in (in_channels, out_channels):
        layers.append(nn.Conv2d(cin, out_channels, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UpBlock(nn.Module):
    """Up-sample by 2 halving the channels, concatenate the skip connection, double convolution.

    Args:
        in_channels: Channels coming from the level below (twice the skip's).
        out_channels: Channels of the skip connection and of the block's output.
        batchnorm: BatchNorm after each 3x3 convolution.
        upsampling: ``"transpose"`` (2x2 stride-2 transposed convolution) or ``"bilinear"`` (+ 1x1 convolution).
        up_activation: ReLU after the up-sampling (Keras code often gives ``Conv2DTranspose`` an activation).
        dropout: Dropout probability after the double convolution (0: none).
    """

    def __init__(self, in_channels: int, out_channels: int, batchnorm: bool, upsampling: Upsampling,
                 up_activation: bool = False, dropout: float = 0.0):
        super().__init__()
        if upsampling == "transpose":
            up: list[nn.Module] = [nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)]
        else:
            up = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                  nn.Conv2d(in_channels, out_channels, 1)]
        if up_activation:
            up.append(nn.ReLU(inplace=True))
        self.up = nn.Sequential(*up)
        self.conv = double_conv(2 * out_channels, out_channels, batchnorm)
        self.dropout = _dropout(dropout)

    def forward(self, below: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """The level's output (N, out_channels, H, W) from the level below (N, in_channels, H/2, W/2)."""
        return self.dropout(self.conv(torch.cat([skip, self.up(below)], dim=1)))


class UNet(nn.Module):
    """A U-Net giving ``out_channels`` logits per pixel for any input size.

    Args:
        in_channels: Input channels (1 grey, 3 repeated grey).
        out_channels: Output logits per pixel (1: lesion).
        depth: Number of 2x2 max-pools (levels below the first); 4 in the original.
        base_width: Channels of the first level; level ``i`` has ``base_width * 2**i`` (64 in the original).
        batchnorm: BatchNorm after every 3x3 convolution (absent in the original).
        upsampling: ``"transpose"`` (original) or ``"bilinear"``.
        up_activation: ReLU after each up-sampling.
        encoder_dropout: Dropout after each max-pool of the contracting path.
        bottleneck_dropout: Dropout at the end of the contracting path (where the original puts its dropout).
        decoder_dropout: Dropout after each level of the expanding path.

    Dropout is element-wise (:class:`nn.Dropout`, Keras' ``Dropout``), as the papers state it.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, depth: int = 4, base_width: int = 64,
                 batchnorm: bool = True, upsampling: Upsampling = "transpose", up_activation: bool = False,
                 encoder_dropout: float = 0.0, bottleneck_dropout: float = 0.0, decoder_dropout: float = 0.0):
        super().__init__()
        if depth < 1 or base_width < 1 or upsampling not in ("transpose", "bilinear"):
            raise ValueError(f"UNet needs depth >= 1, base_width >= 1 and upsampling transpose|bilinear, got "
                             f"depth={depth}, base_width={base_width}, upsampling={upsampling!r}")
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([double_conv(in_channels, widths[0], batchnorm)] + [
            double_conv(widths[i - 1], widths[i], batchnorm) for i in range(1, depth + 1)])
        self.pool_dropout = _dropout(encoder_dropout)
        self.bottleneck_dropout = _dropout(bottleneck_dropout)
        self.up = nn.ModuleList([
            UpBlock(widths[i + 1], widths[i], batchnorm, upsampling, up_activation, decoder_dropout)
            for i in range(depth)])
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal initialisation, as in the U-Net paper (std sqrt(2 / fan_in)); PyTorch's default is smaller and
        # slows a 23-layer network without BatchNorm under plain SGD.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, out_channels, H, W) for images (N, in_channels, H, W) of any size."""
        height, width = images.shape[-2:]
        x = pad_to_multiple(images, 2**self.depth)
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = self.pool_dropout(F.max_pool2d(x, 2))
            x = block(x)
            skips.append(x)
        x = self.bottleneck_dropout(skips.pop())
        for block in reversed(self.up):
            x = block(x, skips.pop())
        return self.head(x)[..., :height, :width]




class PadToMultiple(nn.Module):
    """Wrap a dense-prediction model that needs sides divisible by ``multiple``: pad (bottom, right), crop back.

    Args:
        model: Maps (N, C, H, W) to (N, K, H, W) for H, W divisible by ``multiple``.
        multiple: The model's total stride (32 for five stride-2 stages).
    """

    def __init__(self, model: nn.Module, multiple: int):
        super().__init__()
        self.model = model
        self.multiple = multiple

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The model's output for ``images`` of any size, cropped to that size."""
        height, width = images.shape[-2:]
        return self.model(pad_to_multiple(images, self.multiple))[..., :height, :width]
