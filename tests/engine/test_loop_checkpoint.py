"""The epoch checkpoint of ``train_fold``: written after every epoch but the last, best weights stored once, none at
all without a path, and a fold resumed from it ends with the weights an uninterrupted fold ends with."""

from __future__ import annotations

import os

import pytest
import torch

from benchmark.engine import loop
from benchmark.engine.device import resolve_compute
from benchmark.engine.loop import CHECKPOINT_KEYS, TrainSettings, train_fold
from benchmark.engine.tensors import LabelledImages
from benchmark.plugins import create

CLASSES = ("normal", "benign", "malignant")


def _images(n: int, seed: int) -> LabelledImages:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    # each class a little brighter than the one before, so the model learns and the best epoch moves
    images = (torch.rand(n, 1, 24, 24, generator=g) * 120 + labels[:, None, None, None] * 60).to(torch.uint8)
    return LabelledImages(tuple(f"case-{seed}-{i}" for i in range(n)), images, labels, None, CLASSES)


TRAIN, VAL = _images(24, 0), _images(12, 1)
COMPUTE = resolve_compute("cpu", "fp32", 1)


class _Stop(Exception):
    pass


def _train(epochs: int, checkpoint, on_epoch=None):
    sub = create("small_cnn", {"width": 0.25})
    return train_fold(sub, TRAIN, VAL, TrainSettings(epochs, 8, 0, 0), COMPUTE, checkpoint, on_epoch=on_epoch)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_every_epoch_but_the_last_is_checkpointed_and_the_best_weights_are_stored_once(tmp_path, monkeypatch):
    # Scripted validation scores make the best epoch 1, 1, 3, 3 (1-based) whatever the CPU's rounding.
    scores = iter([0.5, 0.4, 0.6, 0.3])
    monkeypatch.setattr(loop, "validation_score", lambda task, data, probs: next(scores))
    path = tmp_path / "checkpoint.pt"
    seen = []

    def look(epoch: int, score: float) -> None:
        state = torch.load(path, weights_only=True) if path.exists() else None
        seen.append(None if state is None else (state["epoch"], state["best_epoch"], state["best_state"] is None))
        if state is not None:
            assert set(state) == CHECKPOINT_KEYS
            if state["best_state"] is not None:  # an earlier epoch was better: its weights differ from the model's
                assert any(not torch.equal(state["best_state"][k], v) for k, v in state["model"].items())

    _, best_epoch, _ = _train(4, path, look)
    # after epochs 1-3 the file holds that epoch (0-based); after epoch 4, the last, it still holds epoch 3's
    assert seen == [(0, 0, True), (1, 0, False), (2, 2, True), (2, 2, True)]
    assert best_epoch == 3


def test_without_a_path_no_file_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, best_epoch, history = _train(2, None)
    assert len(history) == 2 and 1 <= best_epoch <= 2
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("stop_after", [1, 2])
def test_a_fold_resumed_from_its_checkpoint_ends_with_the_uninterrupted_weights(tmp_path, stop_after):
    straight, straight_best, straight_history = _train(3, tmp_path / "a.pt")

    def stop(epoch: int, score: float) -> None:
        if epoch == stop_after:
            raise _Stop

    with pytest.raises(_Stop):
        _train(3, tmp_path / "b.pt", stop)
    resumed, resumed_best, resumed_history = _train(3, tmp_path / "b.pt")
    assert resumed_best == straight_best
    assert [(h["epoch"], h["train_loss"], h["val_score"]) for h in resumed_history] == [
        (h["epoch"], h["train_loss"], h["val_score"]) for h in straight_history]
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
