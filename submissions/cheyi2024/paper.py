"""What every Cheyi & Çetin-Kaya (2024) submission shares: the citation, the recipe defaults and the common notes.

Line numbers (Lnnn) point into the seed text ``shared/seeds/000_d60307e705147af6.txt``. The classifier set-up
(split, epochs, batch size, optimiser, input size) fell into a gap of that text (L157-L162), so the recipe below is
Keras' defaults around the one optimiser the paper names; each such choice is a ``choice:`` note.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from benchmark.plugins import SearchParam

AUTHORS = ("Jehad Cheyi", "Yasemin Çetin-Kaya")
CITATION = (
    "Cheyi, J., & Çetin-Kaya, Y. (2024). Advanced CNN-Based Classification and Segmentation for Enhanced Breast "
    "Cancer Ultrasound Imaging. GU J Sci, Part A, 11(4), 647-667. doi:10.54287/guj.1529857"
)
#: Tables 2-5 report accuracy/precision/recall/F1 of every classifier; Sec. 4.3 gives the parameter counts.
TABLES = "Tables 2-5 (last 4 / all layers fine-tuned, with / without enhancing and overlaying), Sec. 4.3"

#: The recipe: Adam (L137) with Keras' defaults where the paper is silent.
RECIPE: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "schedule": "constant",
    "batch_size": 32,
    "epochs": 50,
    "dropout": 0.5,
}
SEARCH = {
    "lr": SearchParam("float", 1e-5, 1e-2, log=True),
    "dropout": SearchParam("float", 0.0, 0.6),
    "batch_size": SearchParam("categorical", choices=(16, 32)),
}

NOTES = (
    "paper: BUSI, 3 classes normal/benign/malignant, softmax output (L123, L163)",
    "paper: images enhanced (fuzzy, sharpness, brightness) and overlaid with the lesion mask before classification "
    "(L144, L187); not reproduced: the overlay puts the ground-truth mask (and, through empty masks, the class) "
    "into the input, and the enhancement settings are not stated; compare with Tables 3 and 5 (without them)",
    "paper: split, epochs, batch size, optimiser and input size of the classifiers are not stated (text lost "
    "between L156 and L163); the only optimiser named is Adam, for the U-Net (L137)",
    "choice: Adam at Keras' default lr 1e-3, constant rate, no weight decay, batch 32, 50 epochs, cross-entropy",
    "choice: 224 px input, the one size the paper states (U-Net preprocessing, L135)",
    "choice: busbench's default on-the-fly augmentation; the paper's 'augmented' dataset is its enhanced and "
    "overlaid copies (L187)",
)


def keras_init(module: nn.Module) -> None:
    """Keras' default initialisation (Glorot-uniform kernels, zero biases) for the convolutions and dense layers.

    The paper's models are Keras models (``globalAveragePooling2D``, L163) built with default initialisers.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
