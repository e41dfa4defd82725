"""The custom CNN of Dajam & Qahmash 2025, as a Keras ``Sequential`` with default layer settings builds it.

The paper gives the layers only in words: three 3x3 convolution blocks of 32, 64 and 128 filters with max pooling,
dense layers of 512 and 256 units with dropout, a softmax output, ReLU after every other layer (L99, L109, L116).
What it leaves out is filled in with Keras' defaults, since the models were written in Keras: ``"valid"`` padding,
2x2 pooling, ``Flatten`` before the dense layers, Glorot-uniform kernels and zero biases.
"""

from __future__ import annotations

import torch
from torch import nn

#: Filters of the three convolution blocks (L116).
FILTERS = (32, 64, 128)
#: Widths of the hidden dense layers (L116).
DENSE = (512, 256)


def feature_side(input_size: int) -> int:
    """Side of the last feature map for a square input: each block is a 3x3 'valid' convolution, then 2x2 pooling.

    Raises:
        ValueError: If the input is too small to leave a feature map.
    """
    side = input_size
    for _ in FILTERS:
        side = (side - 2) // 2
    if side < 1:
        raise ValueError(f"input side {input_size} leaves no feature map (at least 22 px needed)")
    return side


def dajam_cnn(in_channels: int = 3, num_classes: int = 3, input_size: int = 224, dropout: float = 0.5) -> nn.Sequential:
    """The custom CNN for a fixed design input size.

    Keras' ``Flatten`` ties the first dense layer to the input size. An adaptive average pooling to the feature grid
    of ``input_size`` comes before it: at ``input_size`` it changes nothing (the model is the Keras one), at other
    sizes it resamples the last feature map onto that grid, so the model and its parameter count stay the same.

    Args:
        in_channels: Input channels (3: Keras loads images as RGB by default).
        num_classes: Output logits.
        input_size: Design input side (224 px); sets the grid the dense layers read.
        dropout: Dropout probability after each hidden dense layer.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for filters in FILTERS:
        layers += [nn.Conv2d(channels, filters, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels = filters
    side = feature_side(input_size)
    layers += [nn.AdaptiveAvgPool2d(side), nn.Flatten()]
    width = channels * side * side
    for units in DENSE:
        layers += [nn.Linear(width, units), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, num_classes))
    model = nn.Sequential(*layers)
    keras_init(model)
    return model


@torch.no_grad()
def keras_init(model: nn.Module) -> None:
    """Keras' default initialisation: Glorot-uniform kernels, zero biases (PyTorch's default differs)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
