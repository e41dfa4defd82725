"""Model plugins: what a submission declares (spec), the hooks it may override (Submission), and the registry.

A complete plugin::

    from torch import nn
    from benchmark.plugins import ModelSpec, Submission, register

    @register
    class TinyCNN(Submission):
        spec = ModelSpec(name="tiny_cnn", task="classification", authors=("Ada",), input_size=64)

        def build_model(self) -> nn.Module:
            return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(8, 3))
"""

from typing import TYPE_CHECKING, Any

from benchmark.plugins.registry import available, create, get, list_models, load_errors, register, unregister
from benchmark.plugins.spec import ModelSpec, SearchParam, Task

if TYPE_CHECKING:
    from benchmark.plugins.submission import Submission, TrainBatch


def __getattr__(name: str) -> Any:
    """``Submission`` and ``TrainBatch``, imported on first use.

    They import torch, which the command line's parser, ``busbench list`` and the registry do not need.
    """
    if name in ("Submission", "TrainBatch"):
        from benchmark.plugins import submission

        return getattr(submission, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ModelSpec",
    "SearchParam",
    "Submission",
    "Task",
    "TrainBatch",
    "available",
    "create",
    "get",
    "list_models",
    "load_errors",
    "register",
    "unregister",
]
