"""The one way a metric says "no number exists here", and how reports turn that into ``None`` plus a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class MetricUndefinedError(ValueError):
    """A metric has no value on these inputs (for example a recall for a class with no case).

    Metric functions raise it instead of returning a number by convention (scikit-learn warns and returns 0,
    torchmetrics returns a value computed over whatever is present); the report functions catch it and record
    ``None`` with the reason, so every caller chooses explicitly.

    Args:
        metric: The metric's name, as the report keys it (for example ``"per_class.normal.recall"``).
        reason: Why it is undefined, in words.
    """

    def __init__(self, metric: str, reason: str):
        self.metric = metric
        self.reason = reason
        super().__init__(f"{metric} is undefined: {reason}")


def defined_or_none(compute: Callable[[], T], undefined: dict[str, str]) -> T | None:
    """Run ``compute``; on :class:`MetricUndefinedError` return ``None`` and record its reason.

    Args:
        compute: A zero-argument call of one metric.
        undefined: The report's ``"undefined"`` dict (metric name -> reason), updated in place.

    Returns:
        The metric's value, or ``None`` when it is undefined.
    """
    try:
        return compute()
    except MetricUndefinedError as err:
        undefined[err.metric] = err.reason
        return None
