"""The engine's epoch-selection score is the evaluator's metric (checked against scikit-learn and by hand)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score

from benchmark.engine.loop import validation_score
from benchmark.engine.tensors import LabelledImages

CLASSES = ("normal", "benign", "malignant")


def _data(labels: np.ndarray, masks: torch.Tensor | None = None) -> LabelledImages:
    n = len(labels)
    return LabelledImages(tuple(f"c{i}" for i in range(n)), torch.zeros(n, 1, 8, 8, dtype=torch.uint8),
                          torch.as_tensor(labels), masks, CLASSES)


def test_classification_is_balanced_accuracy_over_the_classes_present():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probs = torch.softmax(torch.as_tensor(rng.normal(size=(200, 3)), dtype=torch.float32), 1)
    pred = probs.argmax(1).numpy()
    assert validation_score("classification", _data(y), probs) == balanced_accuracy_score(y, pred)
    # a validation part without normals: the mean runs over benign and malignant recall
    y2 = np.where(y == 0, 1, y)
    expected = recall_score(y2, pred, labels=[1, 2], average="macro")
    assert abs(validation_score("classification", _data(y2), probs) - expected) < 1e-12
    assert validation_score("classification", _data(y), probs.to(torch.bfloat16)) >= 0  # bf16 outputs are read too


def test_segmentation_is_lesion_dice_at_half_and_zero_without_lesions():
    rng = np.random.default_rng(1)
    masks = torch.as_tensor(rng.random((6, 1, 8, 8)) < 0.3).to(torch.uint8)
    masks[0] = 0  # an image without a lesion is left out of the mean
    probs = torch.as_tensor(rng.random((6, 1, 8, 8)), dtype=torch.float32)
    dices = []
    for ref, p in zip(masks.bool().numpy(), (probs >= 0.5).numpy(), strict=True):
        if ref.any():
            dices.append(2 * (ref & p).sum() / (ref.sum() + p.sum()))
    score = validation_score("segmentation", _data(np.zeros(6, np.int64), masks), probs)
    assert abs(score - float(np.mean(dices))) < 1e-12
    assert validation_score("segmentation", _data(np.zeros(2, np.int64), masks[:1].repeat(2, 1, 1, 1)),
                            probs[:2]) == 0.0
