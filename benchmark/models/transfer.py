"""The base class of transfer-learning submissions: a catalogued backbone, a head, a recipe, optional weights.

A paper's "VGG16 with a custom head, last four layers fine-tuned, Adam" is then a few class attributes and
defaults::

    @register
    class CheyiVGG16(TransferSubmission):
        backbone_name = "vgg16"
        hidden = (512,)
        spec = ModelSpec(name="cheyi2024_vgg16", ..., defaults={"optimizer": "adam", "finetune": "last4", ...})

Hyper-parameters (beyond the engine's lr, weight_decay, batch_size, epochs and the recipe's, see
:mod:`benchmark.training.recipes`): ``dropout``; ``finetune`` (``"all"``, or ``"lastN"`` to train only the trunk's
last N layers with parameters, plus the head); ``pretrained`` and ``weights`` (ImageNet weights from a local file
only; ``pretrained=False`` trains from scratch, offline).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from torch import nn

from benchmark.errors import BusbenchError
from benchmark.models.backbones import (
    BackboneClassifier,
    FeatureExtractor,
    freeze_all_but_last,
    load_imagenet,
    local_weights,
    standard_classifier,
)
from benchmark.plugins.submission import Submission
from benchmark.training.recipes import recipe_optimizers

_LAST = re.compile(r"^last(\d+)$")


def finetune_layers(value: object) -> int:
    """Trunk layers to train for a ``finetune`` value: 0 means all of them.

    Raises:
        BusbenchError: If the value is neither ``"all"`` nor ``"lastN"`` with N >= 1.
    """
    text = str(value)
    if text == "all":
        return 0
    match = _LAST.match(text)
    if not match or int(match.group(1)) < 1:
        raise BusbenchError("hyper-parameter finetune", f"expected 'all' or 'lastN' (N >= 1), not {text!r}")
    return int(match.group(1))


class TransferSubmission(Submission):
    """A classification submission on a catalogued backbone (see the module docstring).

    Class attributes:
        backbone_name: Catalogue name (:data:`benchmark.models.backbones.BACKBONES`).
        hidden: Widths of the custom head's hidden dense layers; ``None`` keeps the architecture's own
            classifier (resized to the head's classes, dropout where the architecture has it).
        head_l2: Keras-style L2 coefficient on the hidden dense kernels (0: none).
    """

    backbone_name: ClassVar[str]
    hidden: ClassVar[tuple[int, ...] | None] = ()
    head_l2: ClassVar[float] = 0.0

    def build_model(self) -> nn.Module:
        """The backbone and head, from scratch or from local ImageNet weights, with the requested layers frozen."""
        layers = finetune_layers(self.hparams.get("finetune", "all"))
        weights = str(self.hparams.get("weights", ""))
        path = None
        if weights or self.hparams.get("pretrained"):
            path = local_weights(self.spec.name, self.backbone_name, weights)  # fails fast when absent
        dropout = float(self.hparams.get("dropout", 0.0))
        if self.hidden is None:
            model = standard_classifier(self.backbone_name, dropout, self.num_classes)
            if path is not None:
                load_imagenet(model, self.backbone_name, path)
            if layers:
                raise BusbenchError(f"submission {self.spec.name!r}", "finetune=lastN needs a custom head")
            return model
        trunk = FeatureExtractor(self.backbone_name)
        if path is not None:
            load_imagenet(trunk.model, self.backbone_name, path)
        if layers:
            freeze_all_but_last(trunk, layers)
        return BackboneClassifier(trunk, trunk.num_features, self.hidden, dropout, self.num_classes)

    def configure_optimizers(self, model: nn.Module, *, epochs: int, steps_per_epoch: int) -> tuple[Any, Any]:
        """The recipe in the hyper-parameters, with the head's L2 penalty when the paper states one."""
        l2_params = []
        if self.head_l2 and isinstance(model, BackboneClassifier):
            l2_params = [layer.weight for layer in model.hidden_layers()]
        return recipe_optimizers(model, self.hparams, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                 l2=self.head_l2, l2_params=l2_params)
