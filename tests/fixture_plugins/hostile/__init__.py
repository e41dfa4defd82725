"""Hostile plugins: each looks for the test fold's ground truth in one place a plugin's code can reach.

Used by ``tests/plugins/test_plugin_isolation.py``. Every plugin here is a tiny linear classifier whose ``predict``
hook, when it finds a dataset object (or the dataset's folder), matches the images it is asked to predict against that
dataset's images pixel for pixel and returns their true labels as one-hot probabilities. Where it finds nothing it
returns the model's own probabilities. The places tried:

* ``stack``: the local variables of every frame up the call stack (and their ``.dataset`` attribute);
* ``gc``: every object the garbage collector tracks;
* ``globals``: every module's globals (and their ``.dataset`` attribute);
* ``argv``: the dataset folder named after ``--dataset`` in ``sys.argv``, opened from disk;
* ``environ``: the dataset folder in ``$BUSBENCH_BUSI``, opened from disk.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.plugins import ModelSpec, Submission, register

SIZE = 32

#: The inputs of the last forward pass in this process (the predict hook gets only the outputs).
_SEEN: list[torch.Tensor] = []


class _Recording(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _SEEN[:] = [x.detach().cpu()]
        return self.net(x)


def _is_dataset(value: Any) -> bool:
    kind = type(value)
    return kind.__name__ == "Dataset" and str(getattr(kind, "__module__", "")).startswith("benchmark.")


def _candidates(value: Any) -> list[Any]:
    """``value``, and the dataset a busbench object holds (a plan, a context); other objects are not probed."""
    if str(getattr(type(value), "__module__", "")).startswith("benchmark."):
        return [value, getattr(value, "dataset", None)]
    return [value]


def _open(path: str | None) -> Any:
    if not path:
        return None
    from benchmark.data.open import open_dataset

    try:
        return open_dataset(path)
    except Exception:
        return None


def find_datasets(how: str) -> Iterator[Any]:
    """Every dataset object found by ``how`` (see module docstring); a process may hold several."""
    if how == "stack":
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                yield from (c for c in _candidates(value) if _is_dataset(c))
            frame = frame.f_back
    elif how == "gc":
        yield from (obj for obj in gc.get_objects() if _is_dataset(obj))
    elif how == "globals":
        for module in list(sys.modules.values()):
            for value in list(getattr(module, "__dict__", {}).values()):
                yield from (c for c in _candidates(value) if _is_dataset(c))
    elif how == "argv":
        args = sys.argv
        found = _open(next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--dataset"), None))
        yield from [found] if found is not None else []
    elif how == "environ":
        found = _open(os.environ.get("BUSBENCH_BUSI"))
        yield from [found] if found is not None else []
    else:
        raise ValueError(how)


def _labels_from(dataset: Any, pixels: torch.Tensor) -> list[int] | None:
    """The class index of each image in ``pixels`` (uint8, N x H x W) by exact match in ``dataset``, or ``None``."""
    by_pixels = {}
    for case in dataset.cases:
        image = dataset.load(case, pixels.shape[-1])[0]
        by_pixels[np.ascontiguousarray(image, dtype=np.uint8).tobytes()] = dataset.classes.index(case.label)
    labels = [by_pixels.get(row.numpy().tobytes()) for row in pixels]
    return None if any(label is None for label in labels) else labels


def true_labels(how: str, inputs: torch.Tensor, spec: ModelSpec) -> list[int] | None:
    """The true class index of each input image, from the first dataset found that holds them all, or ``None``."""
    pixels = ((inputs[:, 0] * spec.std[0] + spec.mean[0]) * 255).round().clamp(0, 255).to(torch.uint8)
    seen: set[int] = set()
    for dataset in find_datasets(how):
        if id(dataset) in seen:
            continue
        seen.add(id(dataset))
        labels = _labels_from(dataset, pixels)
        if labels is not None:
            return labels
    return None


class Hostile(Submission):
    """Base: a linear classifier whose predict hook returns the true labels where it can find them."""

    how = ""

    def build_model(self) -> nn.Module:
        return _Recording()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        labels = true_labels(self.how, _SEEN[0], self.spec) if _SEEN else None
        if labels is None:
            return torch.softmax(outputs.float(), dim=1)
        return nn.functional.one_hot(torch.tensor(labels), 3).float()


def _spec(how: str) -> ModelSpec:
    return ModelSpec(name=f"hostile_{how}", task="classification", authors=("busbench tests",), input_size=SIZE,
                     description=f"looks for test labels through {how}", defaults={"batch_size": 4, "epochs": 1})


def _hostile(how: str) -> type[Hostile]:
    """The registered hostile plugin that looks through ``how``, a top-level name of this module (importable)."""
    name = f"Hostile{how.title()}"
    cls = type(name, (Hostile,), {"spec": _spec(how), "how": how, "__module__": __name__, "__qualname__": name})
    globals()[name] = cls
    return register(cls)


HOSTILE = tuple(_hostile(how) for how in ("stack", "gc", "globals", "argv", "environ"))


@register
class Exits(Submission):
    """Ends its own process while building the model (as a crash or the out-of-memory killer would)."""

    spec = ModelSpec(name="hostile_exits", task="classification", authors=("busbench tests",), input_size=SIZE,
                     description="exits while building its model", defaults={"batch_size": 4, "epochs": 1})

    def build_model(self) -> nn.Module:
        os._exit(3)
