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

from benchmark.plugins.registry import available, create, get, list_models, load_errors, register, unregister
from benchmark.plugins.spec import ModelSpec, SearchParam, Task
from benchmark.plugins.submission import Submission, TrainBatch

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
