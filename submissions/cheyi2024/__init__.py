"""Cheyi & Çetin-Kaya (2024), GU J Sci Part A 11(4):647-667: every classifier of the paper, with its recipe.

- ``cheyi2024_cnn``: the proposed custom CNN (:mod:`.cnn`);
- ``cheyi2024_vgg16``, ``_vgg19``, ``_densenet121``, ``_efficientnetb0``, ``_mobilenet``, ``_inceptionv3``,
  ``_xception``, ``_resnet50``: the transfer-learning models with the paper's custom head (:mod:`.transfer`);
  ``finetune="last4"`` or ``"all"`` selects the paper's two fine-tuning schemes.

The paper's recipe is used where it states one and Keras' defaults elsewhere; every spec's ``notes`` say which
(``paper: ... (Lnnn)`` for what the paper states, ``choice: ...`` for what we chose). The paper's mask overlay is
not reproduced: it feeds the ground-truth lesion mask to the classifier (see the notes).
"""

from .cnn import CheyiCNN
from .transfer import (
    CheyiDenseNet121,
    CheyiEfficientNetB0,
    CheyiInceptionV3,
    CheyiMobileNet,
    CheyiResNet50,
    CheyiVGG16,
    CheyiVGG19,
    CheyiXception,
)

__all__ = [
    "CheyiCNN",
    "CheyiDenseNet121",
    "CheyiEfficientNetB0",
    "CheyiInceptionV3",
    "CheyiMobileNet",
    "CheyiResNet50",
    "CheyiVGG16",
    "CheyiVGG19",
    "CheyiXception",
]
from . import segmentation  # noqa: E402, F401  (registers cheyi2024_unet)
