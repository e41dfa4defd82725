"""Tiny seeded inputs for the conformance checks, and calls into plugin code that turn errors into failures."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchmark.engine.tensors import to_model_input
from benchmark.plugins.submission import Submission, TrainBatch


class ConformanceFailure(AssertionError):
    """A submission broke a rule of the plugin API; the message says which rule and what was seen."""


@dataclass(frozen=True)
class CheckOptions:
    """How big the conformance checks run.

    Attributes:
        sizes: Square input sides to try (the first is also the size of the engine run); a U-Net-like model
            needs multiples of its total stride (32 for five stride-2 stages).
        hparams: Hyper-parameters over the submission's defaults (e.g. a smaller width to run faster).
        batch: Images per batch in the shape, loss and augmentation checks (at least 2, for BatchNorm).
        seed: Seed of every random input and model initialisation.
        atol: Absolute tolerance on probabilities when comparing two computations that should agree (different
            batch compositions pick different CPU kernels, which changes the last bits).
    """

    sizes: tuple[int, ...] = (32, 64)
    hparams: dict[str, Any] = field(default_factory=dict)
    batch: int = 4
    seed: int = 0
    atol: float = 1e-4

    def __post_init__(self) -> None:
        if not self.sizes or any(int(s) < 8 for s in self.sizes):
            raise ValueError(f"sizes must be one or more sides of at least 8 px, got {self.sizes}")
        if self.batch < 2:
            raise ValueError(f"batch must be at least 2, got {self.batch}")


def plugin_call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call plugin code; an exception becomes a :class:`ConformanceFailure` naming the hook (traceback chained)."""
    try:
        return fn(*args, **kwargs)
    except ConformanceFailure:
        raise
    except Exception as exc:
        raise ConformanceFailure(f"{what} raised {type(exc).__name__}: {exc}") from exc


def build(submission: Submission) -> nn.Module:
    """``build_model`` as the engine calls it: must return a module; moved to channels-last like in training."""
    model = plugin_call("build_model()", submission.build_model)
    if not isinstance(model, nn.Module):
        raise ConformanceFailure(f"build_model() returned {type(model).__name__}, not a torch.nn.Module")
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in torch's stubs


#: The last model :func:`seeded_build` made, with what made it and torch's RNG state right after: the checks of one
#: submission run one after another, and a copy of a big backbone is several times faster than building it again.
_last_build: dict[str, Any] = {}


def seeded_build(submission: Submission, seed: int, *, fresh: bool = False) -> nn.Module:
    """A model built right after seeding torch's global RNG (what the engine does before each fold).

    A repeated call for the same submission class, hyper-parameters, classes and seed returns a deep copy of the
    model built last time and leaves torch's RNG where that build left it: the same model and the same random
    numbers afterwards, as long as ``build_model`` is reproducible under a seed (which ``check_deterministic``
    checks with ``fresh=True`` builds).

    Args:
        submission: The configured submission.
        seed: Seed of torch's global RNG before the build.
        fresh: Always call ``build_model`` (and remember the result).
    """
    key = (type(submission), repr(sorted(submission.hparams.items())), submission.classes, seed)
    if not fresh and _last_build.get("key") == key:
        try:
            model = copy.deepcopy(_last_build["model"])
        except Exception:  # a module that cannot be copied is built again
            pass
        else:
            torch.set_rng_state(_last_build["rng"])
            return model
    torch.manual_seed(seed)
    model = build(submission)
    _last_build.clear()
    try:
        _last_build.update(key=key, model=copy.deepcopy(model), rng=torch.get_rng_state())
    except Exception:  # not copyable: nothing to reuse
        _last_build.clear()
    return model


def random_images(n: int, size: int, seed: int) -> torch.Tensor:
    """Float images (N, 1, S, S) in [0, 1] on the engine's uint8 grid: smooth blobs plus speckle, seeded."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, max(2, size // 8), max(2, size // 8), generator=g)
    smooth = nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    speckle = torch.rand(n, 1, size, size, generator=g)
    return (0.7 * smooth + 0.3 * speckle).mul(255).round().div(255)


def random_masks(n: int, size: int, seed: int) -> torch.Tensor:
    """Float {0, 1} lesion masks (N, 1, S, S): a random rectangle per image, the first one left empty."""
    g = torch.Generator().manual_seed(seed + 1)
    masks = torch.zeros(n, 1, size, size)
    for i in range(1, n):
        top, left = (int(v) for v in torch.randint(0, size // 2, (2,), generator=g))
        height, width = (int(v) for v in torch.randint(size // 8 + 1, size // 2, (2,), generator=g))
        masks[i, 0, top : top + height, left : left + width] = 1
    return masks


def train_batch(n: int, size: int, seed: int, *, with_masks: bool = True, num_classes: int = 3) -> TrainBatch:
    """A training batch in [0, 1] (before normalisation) holding every class, with masks unless told otherwise.

    Labels cycle through ``0 .. num_classes - 1`` (a segmentation model's ``num_classes`` is 0: three are used).
    """
    labels = torch.arange(n, dtype=torch.int64) % (num_classes or 3)
    masks = random_masks(n, size, seed) if with_masks else None
    return TrainBatch(random_images(n, size, seed), labels, masks)


def model_input(submission: Submission, images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the model's input, exactly as the engine prepares it (channels, mean/std)."""
    return to_model_input(images, submission.spec)


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a model output (a tensor, or dicts / lists / tuples of them)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from tensors_in(v)


def expected_shape(submission: Submission, n: int, size: int) -> tuple[int, ...]:
    """The probabilities' shape the engine requires for ``n`` images of ``size`` x ``size``."""
    return (n, submission.num_classes) if submission.spec.task == "classification" else (n, 1, size, size)


def predict(submission: Submission, model: nn.Module, images: torch.Tensor, where: str) -> torch.Tensor:
    """Eval-mode probabilities of images in [0, 1], checked for type, shape and finiteness.

    Args:
        submission: The submission (its ``predict`` hook is used).
        model: The model; put in eval mode here, as the engine does before predicting.
        images: Float (N, 1, S, S) in [0, 1].
        where: Words for failure messages, e.g. ``"at 32 px"``.

    Raises:
        ConformanceFailure: If the model or hook fails, or returns a wrong type, shape or non-finite values.
    """
    model.eval()
    n, size = images.shape[0], images.shape[-1]
    inputs = model_input(submission, images)
    with torch.no_grad():
        outputs = plugin_call(f"model forward {where}", model, inputs)
        for t in tensors_in(outputs):
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise ConformanceFailure(f"model outputs {where} contain NaN or infinite values")
        probs = plugin_call(f"predict() {where}", submission.predict, outputs)
    if not isinstance(probs, torch.Tensor):
        raise ConformanceFailure(f"predict() {where} returned {type(probs).__name__}, not a tensor")
    want = expected_shape(submission, n, size)
    if tuple(probs.shape) != want:
        task = submission.spec.task
        raise ConformanceFailure(
            f"predict() {where} for {n} images of {tuple(inputs.shape[1:])} returned shape {tuple(probs.shape)}; "
            f"a {task} model must give {want}"
        )
    probs = probs.float()
    if not torch.isfinite(probs).all():
        raise ConformanceFailure(f"predict() {where} returned NaN or infinite probabilities")
    return probs
