"""What a submission declares about itself: task, provenance, input conventions, defaults and search space."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from benchmark.classes import CLASS_SETS, TASKS
from benchmark.errors import BusbenchError

Task = Literal["classification", "segmentation"]
_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")

#: Hyper-parameters every submission has; its ``defaults`` may change the values, not remove the keys.
ENGINE_DEFAULTS: dict[str, Any] = {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 16, "epochs": 20}


@dataclass(frozen=True)
class SearchParam:
    """One dimension of an Optuna search space.

    Attributes:
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        low: Lower bound (float/int).
        high: Upper bound (float/int).
        log: Sample on a log scale (float/int).
        choices: The options (categorical).
    """

    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "categorical":
            if not self.choices:
                raise BusbenchError("search space", "a categorical parameter needs choices")
        elif self.kind in ("float", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise BusbenchError("search space", f"a {self.kind} parameter needs low < high")
            if self.log and self.low <= 0:
                raise BusbenchError("search space", "a log-scale parameter needs low > 0")
        else:
            raise BusbenchError("search space", f"unknown parameter kind {self.kind!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Metadata of a registered model; shown by ``busbench list`` and recorded in every run.

    Attributes:
        name: Registry name (lower case, ``a-z0-9_.-``), unique across all installed submissions.
        task: ``"classification"`` or ``"segmentation"`` (binary lesion mask).
        class_counts: Classification: the heads the model can be trained with, by number of classes: 3 (normal,
            benign, malignant) and/or 2 (benign, malignant, for data without normal images). The split being
            trained names the class set and the model's ``build_model`` reads it from ``self.num_classes``; a
            model whose head is fixed at 3 outputs declares ``(3,)`` (the default). Empty for segmentation.
        authors: Who made the submission.
        reference: Paper or DOI the model comes from (empty if none).
        description: One line on what it is.
        input_size: Side of the square input the model is trained at (the engine resizes; ``--image-size``
            overrides).
        in_channels: 1 (grey) or 3 (grey repeated, for ImageNet-style backbones).
        mean: Per-channel mean subtracted from images scaled to [0, 1].
        std: Per-channel standard deviation divided out after that.
        pretrained: Source of pretrained weights the model can start from (``None``: trained from scratch).
        licence: Licence of the submission's code (and weights).
        defaults: Default hyper-parameters; merged over ``ENGINE_DEFAULTS`` (lr, weight_decay, batch_size, epochs).
        search_space: Optuna search space, hyper-parameter name -> :class:`SearchParam`.
        notes: Choices made where the source paper is silent, recorded with results.
    """

    name: str
    task: Task
    class_counts: tuple[int, ...] | None = None
    authors: tuple[str, ...] = ()
    reference: str = ""
    description: str = ""
    input_size: int = 128
    in_channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    pretrained: str | None = None
    licence: str = "MIT"
    defaults: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, SearchParam] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"model spec {self.name!r}"
        if not _NAME.match(self.name):
            raise BusbenchError(where, "name must be lower case letters, digits, '_', '-' or '.', from a letter on")
        if self.task not in TASKS:
            raise BusbenchError(where, f"unknown task {self.task!r} (expected {' or '.join(TASKS)})")
        if self.class_counts is None:
            object.__setattr__(self, "class_counts", (3,) if self.task == "classification" else ())
        counts = tuple(self.class_counts or ())
        object.__setattr__(self, "class_counts", counts)
        if self.task == "classification" and (not counts or set(counts) - set(CLASS_SETS)):
            raise BusbenchError(where, f"class_counts {counts} must name heads of "
                                       f"{' or '.join(str(n) for n in sorted(CLASS_SETS, reverse=True))} classes")
        if self.task == "segmentation" and counts:
            raise BusbenchError(where, "class_counts is for classification models")
        if self.in_channels not in (1, 3):
            raise BusbenchError(where, f"in_channels must be 1 or 3, not {self.in_channels}")
        if len(self.mean) not in (1, self.in_channels) or len(self.std) != len(self.mean):
            raise BusbenchError(where, "mean and std need one value, or one per input channel")
        if any(s <= 0 for s in self.std):
            raise BusbenchError(where, "std values must be positive")
        if not 8 <= self.input_size <= 4096:
            raise BusbenchError(where, f"input_size {self.input_size} is out of range 8..4096")
        unknown = set(self.search_space) - set(self.hparams())
        if unknown:
            raise BusbenchError(where, f"search space names unknown hyper-parameters: {', '.join(sorted(unknown))}")

    def class_sets(self) -> tuple[tuple[str, ...], ...]:
        """The class sets a classification model can be trained on (:data:`CLASS_SETS`), in declared order."""
        return tuple(CLASS_SETS[n] for n in self.class_counts or ())

    def hparams(self) -> dict[str, Any]:
        """The full default hyper-parameters: engine defaults overridden by the submission's."""
        return {**ENGINE_DEFAULTS, **self.defaults}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready metadata (recorded in ``run.json``)."""
        doc = asdict(self)
        doc["defaults"] = self.hparams()
        return doc
