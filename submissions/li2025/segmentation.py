"""``li2025_u2netlite``: the U2NET-Lite of Li et al. 2025 (L77, L103) with its stated recipe.

Imported by the package's ``__init__.py`` (the package's classification submissions live beside it).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.segmentation import SegmentationSubmission
from benchmark.models.u2net import u2net_lite
from benchmark.plugins import ModelSpec, SearchParam, TrainBatch, register

from .augment import paper_augment

CITATION = (
    "Li, L., Niu, Y., Tian, F., & Huang, B. (2025). An efficient deep learning strategy for accurate and "
    "automated detection of breast tumors in ultrasound image datasets. Front. Oncol. 14:1461542. "
    "doi:10.3389/fonc.2024.1461542"
)


@register
class LiU2NetLite(SegmentationSubmission):
    """U2NET-Lite (Qin et al.'s small U^2-Net, 1.13 M parameters), SGD, Dice loss with deep supervision."""

    spec = ModelSpec(
        name="li2025_u2netlite",
        task="segmentation",
        authors=("Luyao Li", "Yupeng Niu", "Fa Tian", "Bin Huang"),
        reference=f"{CITATION} Numbers: Table 1 (U2NET-Lite: accuracy 0.9702, recall 0.7961, precision 0.7512, "
        "F1 0.773, IoU 0.7063). Architecture: Qin et al., U^2-Net, Pattern Recognition 106:107404, 2020, "
        "arXiv:2005.09007.",
        description="U2NET-Lite: small U^2-Net (RSU-7..RSU-4F, 16/64 ch, 1.13 M parameters), SGD, Dice loss",
        input_size=320,
        in_channels=1,
        mean=(0.5,),
        std=(0.25,),
        pretrained=None,
        licence="MIT",
        defaults={"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "constant",
                  "batch_size": 8, "epochs": 100, "seg_loss": "dice"},
        search_space={
            "lr": SearchParam("float", 1e-4, 1e-1, log=True),
            "weight_decay": SearchParam("float", 1e-6, 1e-2, log=True),
            "seg_loss": SearchParam("categorical", choices=("dice", "bce_dice")),
        },
        notes=(
            "paper: U2NET-Lite, a double-nested U-structure of residual U-blocks with reduced depth and fewer "
            "parameters, 4.7 MB against U2NET's 176.3 MB (L77)",
            "choice: built as Qin et al.'s small U^2-Net (16 mid / 64 out channels in every stage; 1.13 M "
            "parameters, 4.7 MB), the model of exactly that size",
            "paper: SGD momentum 0.9, lr 0.001, weight decay 0.0005, batch 8, Dice loss (L103)",
            "choice: the Dice loss is summed over the fused map and the six side maps (deep supervision, as Qin et "
            "al. sum their BCE); predictions use the fused map",
            "choice: 320 px input (Qin et al.'s; not stated), 100 epochs (the paper's classification length, "
            "L101), constant lr",
            "paper: augmentation by horizontal and vertical flips, rotation, colour jitter and Gaussian blur (L67): "
            "the package's augment() (its ranges are choices), shared with its classifiers, image and mask alike",
            "paper: 12:3 train/test split (L103-L107); busbench uses its own folds",
            "paper: 'label overlay' preprocessing (L63) is not reproduced: it writes the class into the input",
            "choice: grey input normalised with mean 0.5 / std 0.25 (the normalisation is not stated)",
        ),
    )

    def build_model(self) -> nn.Module:
        """U2NET-Lite: fused logits in eval mode, (fused, six side logits) in train mode."""
        return u2net_lite(self.spec.in_channels)

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        """Flips, rotation, colour jitter and blur (see :mod:`.augment`); masks follow the geometry."""
        return paper_augment(batch, generator)
