"""The proposed custom CNN of Cheyi & Çetin-Kaya (2024), Sec. 3.2.2 (L156) and Sec. 4.3 (L268).

The text lists six 3x3 convolutions (32, 64, 128, 256, 256, 512 filters, 2x2 max-pooling after each but the last),
global average pooling, dense 512 and 1024 (ReLU, L2 0.01, dropout 0.5) and a 3-way softmax. Built so, the network
has 2,949,699 parameters on RGB input; the paper reports 3,097,283 (L268). The gap, 147,584, is exactly one more
3x3 convolution from 128 to 128 filters with bias (9 * 128 * 128 + 128), and no other reading we tried (kernel sizes
1/3/5, grey or RGB input, BatchNorm, any one layer repeated) matches. ``layout="count"`` (the default) builds that
network, the one behind the published numbers; ``layout="text"`` builds the six layers as written.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from benchmark.errors import BusbenchError
from benchmark.models.backbones import BackboneClassifier
from benchmark.models.recipes import recipe_optimizers
from benchmark.plugins import ModelSpec, Submission, register

from .paper import AUTHORS, CITATION, NOTES, RECIPE, SEARCH, keras_init

#: Convolution widths of each layout; a 2x2 max-pool follows every entry marked True.
LAYOUTS: dict[str, tuple[tuple[int, bool], ...]] = {
    # The extra 128-filter convolution sits in the 128 block without a pooling of its own (a VGG-style block), so
    # the text's five poolings are kept and a 224 px input ends at 7x7.
    "count": ((32, True), (64, True), (128, False), (128, True), (256, True), (256, True), (512, False)),
    "text": ((32, True), (64, True), (128, True), (256, True), (256, True), (512, False)),
}
#: Widths of the dense layers after global average pooling (L156).
DENSE = (512, 1024)
#: Keras ``kernel_regularizer=l2(0.01)`` on both dense layers (L156).
L2 = 0.01


def conv_trunk(layout: str, in_channels: int = 3) -> nn.Sequential:
    """The convolutional part: 3x3 convolutions, stride 1, 'same' padding, ReLU, 2x2/2 max-pooling (L156).

    Raises:
        BusbenchError: For an unknown layout.
    """
    if layout not in LAYOUTS:
        raise BusbenchError("hyper-parameter layout", f"expected one of {', '.join(LAYOUTS)}, not {layout!r}")
    layers: list[nn.Module] = []
    channels = in_channels
    for width, pool in LAYOUTS[layout]:
        layers += [nn.Conv2d(channels, width, 3, stride=1, padding=1), nn.ReLU(inplace=True)]
        if pool:
            layers.append(nn.MaxPool2d(2, stride=2))
        channels = width
    return nn.Sequential(*layers)


def cheyi_cnn(layout: str = "count", in_channels: int = 3, dropout: float = 0.5,
              num_classes: int = 3) -> BackboneClassifier:
    """The custom CNN: trunk, global average pooling, dense 512 and 1024 with dropout, ``num_classes`` outputs.

    Keras' default initialisation (Glorot-uniform, zero biases) is used throughout.
    """
    trunk = conv_trunk(layout, in_channels)
    model = BackboneClassifier(trunk, LAYOUTS[layout][-1][0], DENSE, dropout, num_classes)
    keras_init(model)
    return model


@register
class CheyiCNN(Submission):
    """The proposed custom CNN, 3,097,283 parameters (the paper's count, L268)."""

    spec = ModelSpec(
        name="cheyi2024_cnn",
        task="classification", class_counts=(3, 2),
        authors=AUTHORS,
        reference=f"{CITATION}; Tables 4-5 ('Proposed Model'), Sec. 3.2.2, Sec. 4.3",
        description="Custom 7-conv CNN (32-64-128-128-256-256-512) + GAP + dense 512/1024 with L2 and dropout "
        "(3.10 M parameters), trained from scratch",
        input_size=224,
        in_channels=3,
        mean=(0.0,),
        std=(1.0,),
        pretrained=None,
        licence="MIT",
        defaults={**RECIPE, "layout": "count"},
        search_space=SEARCH,
        notes=(
            *NOTES,
            "paper: 3x3 convolutions of 32, 64, 128, 256, 256, 512 filters, stride 1, same padding, ReLU, 2x2/2 "
            "max-pooling after each but the last (L156)",
            "paper: global average pooling, dense 512 ReLU with L2 0.01 and dropout 0.5, dense 1024 ReLU with L2 "
            "(L156), dense 3 softmax (L163); 3,097,283 parameters (L268)",
            "paper: the text's layers give 2,949,699 parameters (RGB), 147,584 short of L268: exactly one more 3x3 "
            "conv 128->128 with bias; with it, RGB input and no BatchNorm the count is exactly 3,097,283",
            "choice: layout='count' (default) adds that conv after the first 128-filter one, without its own "
            "pooling (VGG-style block, the text's 5 poolings kept); layout='text' builds the 6 layers as written",
            "choice: 3 input channels (grey repeated): the exact count needs them and Keras' image loaders default "
            "to RGB; pixels scaled to [0, 1] (Keras rescale=1/255: mean 0, std 1)",
            "choice: L2 0.01 and dropout 0.5 on the 1024 layer too (its values are lost after L156); no L2 on the "
            "output layer",
            "choice: Keras' L2 (0.01 * ||W||^2 added to the loss) as coupled weight decay 0.02 on the two dense "
            "kernels, with Adam",
            "choice: Keras' default initialisation (Glorot-uniform kernels, zero biases)",
        ),
    )

    def build_model(self) -> nn.Module:
        """The CNN in the configured layout, freshly initialised."""
        return cheyi_cnn(str(self.hparams["layout"]), self.spec.in_channels, float(self.hparams["dropout"]),
                         self.num_classes)

    def configure_optimizers(self, model: nn.Module, *, epochs: int, steps_per_epoch: int) -> tuple[Any, Any]:
        """Adam with Keras' L2 0.01 on the two hidden dense kernels (see :mod:`benchmark.models.recipes`)."""
        dense = model.hidden_layers() if isinstance(model, BackboneClassifier) else []
        return recipe_optimizers(model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch, l2=L2,
                                 l2_params=[layer.weight for layer in dense])
