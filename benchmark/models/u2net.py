"""U^2-Net (Qin et al. 2020) and its small variant, the "U2NET-Lite" of Li et al. 2025.

Qin, Zhang, Huang, Dehghan, Zaiane & Jagersand, U^2-Net: Going deeper with nested U-structure for salient object
detection, Pattern Recognition 106:107404, 2020, arXiv:2005.09007. Written here from the paper's description.

* A residual U-block RSU-L(C_in, M, C_out) is a 3x3 conv-BN-ReLU from C_in to C_out, then a small U-Net of height L
  on it: L-1 conv-BN-ReLU layers of M channels at falling resolutions (2x2 max-pools in between, rounding up), a
  dilated (rate 2) bottom layer, and L-1 decoder layers, each on the concatenation of the bilinearly up-sampled
  layer below and the encoder layer of its level; the last gives C_out channels and the block adds its input
  convolution back (the residual).
* RSU-4F replaces pooling and up-sampling by dilation rates 1, 2, 4, 8 (and 4, 2, 1 on the way up): the block
  keeps its resolution, for the two deepest stages where the maps are already small.
* The network is a U-Net of six such stages (RSU-7, 6, 5, 4, 4F, 4F, with 2x2 max-pools between) and five
  decoder stages (RSU-4F, 4, 5, 6, 7) on concatenated skip connections. A 3x3 convolution gives a side logit map
  at each decoder stage and at the last encoder stage; the six are up-sampled to the input size and fused by a
  1x1 convolution. Training supervises the fused map and the six side maps (deep supervision).

Widths (mid M / out C_out per stage) are those of the paper's configuration table: the full model (44.0 M
parameters, 176.3 MB) and the small U^2-Net-dagger, 16 / 64 in every stage (1.13 M parameters, 4.7 MB). Li et al.
(2025) describe their "U2NET-Lite" as the reduced-depth, fewer-parameter U2NET of 4.7 MB against U2NET's 176.3 MB
(seed 003, L77): exactly these two sizes, so U2NET-Lite is built as the small variant.

Output: in eval mode the fused logits (N, 1, H, W); in train mode a tuple (fused, side1, ..., side6) of logits,
all (N, 1, H, W), which :func:`benchmark.models.seg_losses.deep_supervision_loss` sums a loss over.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Heights of the six encoder stages (the decoder stage of a level has the height of its encoder stage); the two
#: deepest stages are RSU-4F (dilated, no pooling).
HEIGHTS = (7, 6, 5, 4, 4, 4)
DILATED_FROM = 4
#: (mid, out) channels of encoder stages 1-6 and decoder stages 1-5: Qin et al.'s small model (U^2-Net-dagger).
LITE_ENCODER = ((16, 64),) * 6
LITE_DECODER = ((16, 64),) * 5
#: The full U^2-Net.
FULL_ENCODER = ((32, 64), (32, 128), (64, 256), (128, 512), (256, 512), (256, 512))
FULL_DECODER = ((16, 64), (32, 64), (64, 128), (128, 256), (256, 512))


class ConvBNReLU(nn.Module):
    """3x3 convolution (with bias, as in the reference configuration), BatchNorm, ReLU; ``dilation`` keeps the size."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The activated feature map, same spatial size as ``x``."""
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _up_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear up-sampling of ``x`` to the spatial size of ``like`` (a no-op when they agree)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block RSU-``height`` (or RSU-``height``F with ``dilated``); see the module docstring.

    Args:
        height: L, the number of encoder layers including the dilated bottom one (4 to 7).
        in_channels: C_in.
        mid_channels: M.
        out_channels: C_out.
        dilated: The "F" variant: dilation rates 1, 2, 4, ... instead of pooling.
    """

    def __init__(self, height: int, in_channels: int, mid_channels: int, out_channels: int, dilated: bool = False):
        super().__init__()
        self.height, self.dilated = height, dilated
        rates = [2**i for i in range(height)] if dilated else [1] * (height - 1) + [2]
        self.conv_in = ConvBNReLU(in_channels, out_channels)
        self.encoder = nn.ModuleList(
            [ConvBNReLU(out_channels if i == 0 else mid_channels, mid_channels, rates[i]) for i in range(height)])
        self.decoder = nn.ModuleList(
            [ConvBNReLU(2 * mid_channels, out_channels if i == 0 else mid_channels, rates[i])
             for i in range(height - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output (N, C_out, H, W) for input (N, C_in, H, W)."""
        residual = self.conv_in(x)
        features, h = [], residual
        for i, conv in enumerate(self.encoder):
            if not self.dilated and 0 < i < self.height - 1:  # the bottom layer dilates instead of pooling
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = conv(h)
            features.append(h)
        d = features[-1]
        for i in range(self.height - 2, -1, -1):
            d = self.decoder[i](torch.cat([_up_to(d, features[i]), features[i]], dim=1))
        return d + residual


class U2Net(nn.Module):
    """U^2-Net with deep supervision; ``U2Net(in_channels)`` is the small model (U2NET-Lite).

    Args:
        in_channels: Input channels.
        encoder: (mid, out) channels of the six encoder stages.
        decoder: (mid, out) channels of the five decoder stages, from the top (full-resolution) stage down.
    """

    def __init__(self, in_channels: int = 1, encoder: Sequence[tuple[int, int]] = LITE_ENCODER,
                 decoder: Sequence[tuple[int, int]] = LITE_DECODER):
        super().__init__()
        if len(encoder) != len(HEIGHTS) or len(decoder) != len(HEIGHTS) - 1:
            raise ValueError(f"U2Net needs {len(HEIGHTS)} encoder and {len(HEIGHTS) - 1} decoder stage widths")
        enc_out = [out for _, out in encoder]
        self.encoder = nn.ModuleList()
        channels = in_channels
        for level, (mid, out) in enumerate(encoder):
            self.encoder.append(RSU(HEIGHTS[level], channels, mid, out, dilated=level >= DILATED_FROM))
            channels = out
        self.decoder = nn.ModuleList()
        for level, (mid, out) in enumerate(decoder):
            below = decoder[level + 1][1] if level + 1 < len(decoder) else enc_out[-1]
            self.decoder.append(RSU(HEIGHTS[level], enc_out[level] + below, mid, out, dilated=level >= DILATED_FROM))
        side_in = [out for _, out in decoder] + [enc_out[-1]]
        self.sides = nn.ModuleList([nn.Conv2d(c, 1, 3, padding=1) for c in side_in])
        self.fuse = nn.Conv2d(len(side_in), 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Eval mode: fused logits (N, 1, H, W). Train mode: (fused, side1, ..., side6), each (N, 1, H, W)."""
        skips, h = [], images
        for level, stage in enumerate(self.encoder):
            if level > 0:
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = stage(h)
            skips.append(h)
        maps = [h]  # the deepest encoder stage is the sixth side output
        for level in range(len(self.decoder) - 1, -1, -1):
            h = self.decoder[level](torch.cat([_up_to(h, skips[level]), skips[level]], dim=1))
            maps.insert(0, h)
        sides = [_up_to(side(m), images) for side, m in zip(self.sides, maps, strict=True)]
        fused = self.fuse(torch.cat(sides, dim=1))
        return (fused, *sides) if self.training else fused


def u2net_lite(in_channels: int = 1) -> U2Net:
    """The small U^2-Net (U^2-Net-dagger; Li et al.'s U2NET-Lite): 16 mid / 64 out channels in every stage."""
    return U2Net(in_channels, LITE_ENCODER, LITE_DECODER)


def u2net_full(in_channels: int = 3) -> U2Net:
    """The full U^2-Net (44.0 M parameters with 3 input channels)."""
    return U2Net(in_channels, FULL_ENCODER, FULL_DECODER)
