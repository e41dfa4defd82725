"""Test plugins whose classification heads are fixed at three outputs (issue 17, section 2).

* ``fixed_head`` says so (``class_counts=(3,)``, the default): busbench refuses to train it on a benign vs malignant
  split, in one line, before anything runs.
* ``unsized_head`` claims it can be trained with two classes too but ignores ``self.num_classes``: the conformance
  checks find the 2-class head's wrong shape.
"""

from __future__ import annotations

from torch import nn

from benchmark.plugins import ModelSpec, Submission, register


def _three_outputs() -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16, 3))


@register
class FixedHead(Submission):
    """A linear classifier with three outputs, declared so."""

    spec = ModelSpec(name="fixed_head", task="classification", authors=("busbench tests",), input_size=32,
                     description="three outputs, whatever the split", defaults={"batch_size": 4, "epochs": 1})

    def build_model(self) -> nn.Module:
        return _three_outputs()


@register
class UnsizedHead(Submission):
    """Declares heads of 3 and 2 classes, builds 3 outputs for both."""

    spec = ModelSpec(name="unsized_head", task="classification", class_counts=(3, 2), authors=("busbench tests",),
                     input_size=32, description="ignores self.num_classes", defaults={"batch_size": 4, "epochs": 1})

    def build_model(self) -> nn.Module:
        return _three_outputs()
