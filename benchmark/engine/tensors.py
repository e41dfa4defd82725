"""Fold data as in-memory tensors, read once from the decoded cache (no PNG decoding per epoch).

Training-side tensors (:class:`LabelledImages`) hold images, labels and masks; the test side is built by
:func:`images_only`, which keeps nothing but pixels, so nothing the model is given at test time carries ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import torch

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.plugins.spec import ModelSpec


@dataclass(frozen=True)
class LabelledImages:
    """Training or validation cases.

    Attributes:
        case_ids: Case ids, in row order.
        images: uint8 (N, 1, S, S).
        labels: int64 (N,) class indices into ``classes``.
        masks: uint8 (N, 1, S, S) of {0, 1}, or ``None`` when the dataset has no masks.
        classes: The classes the labels index, in head order (the split's: normal, benign, malignant; or benign,
            malignant); a classification model's head has one output per class.
    """

    case_ids: tuple[str, ...]
    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None
    classes: tuple[str, ...]

    def to(self, device: str) -> LabelledImages:
        """The same data on ``device``."""
        masks = None if self.masks is None else self.masks.to(device)
        return replace(self, images=self.images.to(device), labels=self.labels.to(device), masks=masks)


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)[:, None].copy())


def labelled(dataset: Dataset, case_ids: Sequence[str], size: int, classes: Sequence[str]) -> LabelledImages:
    """Images, labels and masks of training-side cases at ``size`` x ``size`` from the decoded cache.

    Args:
        dataset: The dataset.
        case_ids: The cases, in row order.
        size: Side of the square images.
        classes: The classes the labels index (the split's ``classes``).

    Raises:
        BusbenchError: If a case's label is not one of ``classes`` (a split of other classes than the model's).
    """
    classes = tuple(classes)
    images, masks, labels = [], [], []
    for cid in case_ids:
        label = dataset.case(cid).label
        if label not in classes:
            raise BusbenchError(f"case {cid}", f"its class {label!r} is not one of the classes trained "
                                               f"({', '.join(classes)})")
        labels.append(classes.index(label))
        image, mask = dataset.load(cid, size)
        images.append(image)
        masks.append(mask)
    mask_tensor = None if not dataset.has_masks else _stack([cast(np.ndarray, m).astype(np.uint8) for m in masks])
    return LabelledImages(tuple(case_ids), _stack(images), torch.tensor(labels, dtype=torch.int64), mask_tensor,
                          classes)


def images_only(dataset: Dataset, case_ids: Sequence[str], size: int) -> torch.Tensor:
    """uint8 (N, 1, S, S) images of test cases: pixels only, in the order of ``case_ids``."""
    return _stack([dataset.load(cid, size)[0] for cid in case_ids])


def to_model_input(images: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Float [0, 1] images (N, 1, S, S) -> the model's input: channels repeated as the spec asks, normalised."""
    if spec.in_channels == 3:
        images = images.expand(-1, 3, -1, -1)
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return ((images - mean) / std).contiguous(memory_format=torch.channels_last)
