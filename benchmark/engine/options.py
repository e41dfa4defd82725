"""What every training command shares (``busbench run``, ``busbench tune``, ``busbench audit protocols``).

Their common request options, and the checks they make before anything trains: the submission exists and is of the
asked task, segmentation data has masks, the split file verifies and the requested folds exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.dataset import Dataset
from benchmark.errors import BusbenchError
from benchmark.plugins import registry
from benchmark.plugins.spec import ModelSpec
from benchmark.plugins.submission import Submission
from benchmark.splits.schema import SplitFile
from benchmark.splits.verify import load_split


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """How to train and where to write: the part of a command's request that is the same for every command.

    Keyword-only, so that each request keeps its own fields (``submission``, ``dataset``, ...) first and positional.
    See ``busbench run --help`` for each option.

    Attributes:
        epochs: Epochs per fold (``None``: the submission's default).
        image_size: Input side in pixels (``None``: the submission's ``input_size``).
        hparams: Hyper-parameters over the submission's defaults.
        seed: Seed of everything random.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        threads: CPU threads for torch (``None``: torch's choice).
        out: Folder the run folders go into.
        results_url: Results store URL (``None``: the default store under ``out``).
        progress: Show per-epoch progress on stderr.
    """

    epochs: int | None = None
    image_size: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    out: Path = Path("runs")
    results_url: str | None = None
    progress: bool = False


#: The smallest input side a command accepts (a network's strides need some pixels to work on).
MIN_IMAGE_SIZE = 8


def submission_class(name: str, task: str | None) -> type[Submission]:
    """The registered submission ``name``, checked to be a ``task`` model when a task is asked for.

    Raises:
        BusbenchError: If the name is unknown or the model is of another task.
    """
    cls = registry.get(name)
    spec = cls.spec
    if task is not None and task != spec.task:
        raise BusbenchError(f"model {spec.name!r}", f"is a {spec.task} model, not {task}")
    return cls


def configured_submission(cls: type[Submission], options: TrainingOptions,
                          classes: Sequence[str] | None = None) -> Submission:
    """An instance with the request's hyper-parameters over the defaults, and ``--epochs`` over both.

    Args:
        cls: The submission class.
        options: The request.
        classes: Classification: the head's classes, the split's (``None``: the first class set the spec declares,
            enough to check the options before the split is read).

    Raises:
        BusbenchError: For a budget that trains nothing (fewer than 1 epoch, a batch of fewer than 1 image, an
            input side below :data:`MIN_IMAGE_SIZE` pixels), before anything is read or trained.
    """
    if classes is None:
        classes = cls.spec.class_sets()[0] if cls.spec.task == "classification" else ()
    submission = cls(options.hparams, classes=classes)
    if options.epochs is not None:
        submission.hparams["epochs"] = options.epochs
    for name, flag in (("epochs", "--epochs"), ("batch_size", "--set batch_size")):
        value = submission.hparams.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BusbenchError(flag, f"must be a whole number of at least 1, not {value!r}")
    if options.image_size is not None and options.image_size < MIN_IMAGE_SIZE:
        raise BusbenchError("--image-size", f"must be at least {MIN_IMAGE_SIZE} pixels, not {options.image_size}")
    return submission


def check_trainable(dataset: Dataset, task: str) -> None:
    """Check that a ``task`` model can train on ``dataset``: segmentation needs its masks.

    Raises:
        BusbenchError: If the data has no masks for a segmentation model.
    """
    if task == "segmentation" and not dataset.has_masks:
        raise BusbenchError(dataset.name, "has no masks; segmentation models cannot be trained on it")


def check_class_set(split: SplitFile, spec: ModelSpec, where: str) -> None:
    """Check that a model of ``spec`` can be trained with a head over the classes ``split`` scores.

    A classification model declares the heads it can be trained with (``ModelSpec.class_counts``); the split
    names the class set (normal, benign, malignant; or benign vs malignant for data without normal images).

    Raises:
        BusbenchError: For a classification model whose spec does not declare the split's class set.
    """
    if spec.task == "classification" and tuple(split.classes) not in spec.class_sets():
        supported = "; ".join(", ".join(c) for c in spec.class_sets())
        raise BusbenchError(where, f"scores {' vs '.join(split.classes)}; model {spec.name!r} is trained over "
                                   f"{supported} only (its spec's class_counts)")


def split_and_folds(path: Path, dataset: Dataset, folds: tuple[int, ...] | None,
                    spec: ModelSpec) -> tuple[SplitFile, list[int]]:
    """The split file at ``path`` verified against ``dataset`` and the model, and the requested folds, sorted.

    Args:
        path: The split file.
        dataset: The data.
        folds: The requested folds (``None``: all).
        spec: The model's spec (:func:`check_class_set`).

    Raises:
        BusbenchError: If the split does not verify, scores classes the model cannot be trained on, or a requested fold
            does not exist.
    """
    split = load_split(path, dataset)
    check_class_set(split, spec, str(path))
    return split, split.chosen_folds(folds)
