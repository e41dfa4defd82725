"""The leakage check: one tiny fold through the real engine, with the test fold's ground truth sealed.

The fold's data is an in-memory stand-in for a :class:`~benchmark.data.dataset.Dataset` (the same methods the engine
calls: ``load``, ``decode``, ``case``, ``cases``, ``classes``, ``has_masks``). Training and validation cases carry
real labels and masks. For test cases the labels and masks *do not exist*: in their place are sealed objects that
record and raise on any use (comparison, conversion, hashing, iteration, attribute access). The engine's own
functions (``labelled``, ``train_fold``, ``images_only``, ``predict_probabilities``) then run one epoch, so a
change to the engine that reads test ground truth is caught as well as a plugin that goes looking for it (through
the call stack, the garbage collector or a global). The model's forward inputs at prediction time are recorded and
must be plain image tensors equal to the normalised test images, with nothing attached.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data.case import Case
from benchmark.engine.device import ComputeSetup
from benchmark.engine.loop import PluginError, TrainSettings, predict_probabilities, train_fold
from benchmark.engine.tensors import images_only, labelled, to_model_input
from benchmark.plugins.submission import Submission
from benchmark.testing.checks import instantiate
from benchmark.testing.inputs import CheckOptions, ConformanceFailure, expected_shape, random_images, random_masks

CLASSES = ("normal", "benign", "malignant")


class TestTruthRead(ConformanceFailure):
    """Raised where sealed test ground truth is used (and recorded, in case the plugin swallows the error)."""

    __test__ = False  # not a pytest test class, despite its name


class Sealed:
    """Stands in for a test case's label or mask: every use is recorded in ``log`` and raises."""

    __slots__ = ("_what", "_log")

    def __init__(self, what: str, log: list[str]):
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_log", log)

    def _touch(self, how: str) -> Any:
        what = object.__getattribute__(self, "_what")
        object.__getattribute__(self, "_log").append(f"{what} ({how})")
        raise TestTruthRead(f"the {what} was read ({how})")

    def __repr__(self) -> str:  # reprs appear in tracebacks and debuggers; they reveal nothing
        return f"<sealed {object.__getattribute__(self, '_what')}>"

    def __getattr__(self, name: str) -> Any:
        return self._touch(f"attribute {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._touch(f"set {name}")

    def __eq__(self, other: object) -> bool:
        return self._touch("==")

    def __ne__(self, other: object) -> bool:
        return self._touch("!=")

    def __hash__(self) -> int:
        return self._touch("hash")

    def __bool__(self) -> bool:
        return self._touch("truth value")

    def __len__(self) -> int:
        return self._touch("len")

    def __iter__(self) -> Any:
        return self._touch("iteration")

    def __getitem__(self, key: Any) -> Any:
        return self._touch("indexing")

    def __str__(self) -> str:
        return self._touch("str")

    def __format__(self, spec: str) -> str:
        return self._touch("format")

    def __index__(self) -> int:
        return self._touch("index")

    def __int__(self) -> int:
        return self._touch("int")

    def __float__(self) -> float:
        return self._touch("float")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self._touch("numpy conversion")


class SealedFold:
    """One fold's cases in memory: train/val with ground truth, test with sealed labels and masks.

    Args:
        size: Side of the square images.
        counts: Number of (train, val, test) cases; classes cycle normal, benign, malignant.
        seed: Seed of the images and masks.
    """

    classes = CLASSES
    has_masks = True
    name = "sealed-fold"
    kind = "conformance"

    def __init__(self, size: int, counts: tuple[int, int, int] = (6, 3, 5), seed: int = 0):
        self.size = size
        self.log: list[str] = []
        total = sum(counts)
        images = (random_images(total, size, seed)[:, 0] * 255).round().to(torch.uint8).numpy()
        masks = random_masks(total, size, seed)[:, 0].bool().numpy()
        parts = [p for p, n in zip(("train", "val", "test"), counts, strict=True) for _ in range(n)]
        self.ids: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        self._cases: dict[str, Case] = {}
        self._pixels: dict[str, tuple[np.ndarray, Any]] = {}
        for i, part in enumerate(parts):
            cid = f"{part}-{len(self.ids[part])}"
            self.ids[part].append(cid)
            if part == "test":
                label: Any = Sealed(f"label of test case {cid}", self.log)
                mask: Any = Sealed(f"mask of test case {cid}", self.log)
                mask_files: Any = Sealed(f"mask files of test case {cid}", self.log)
            else:
                label, mask, mask_files = CLASSES[i % 3], masks[i], (f"{cid}_mask.png",)
            self._cases[cid] = Case(cid, label, f"{cid}.png", mask_files)
            self._pixels[cid] = (images[i], mask)

    @property
    def cases(self) -> tuple[Case, ...]:
        """All cases, train first, then val, then test."""
        return tuple(self._cases.values())

    def __len__(self) -> int:
        return len(self._cases)

    def case(self, case_id: str) -> Case:
        """The case with id ``case_id`` (a test case's label and masks are sealed)."""
        return self._cases[case_id]

    def decode(self, case: Case) -> tuple[np.ndarray, Any]:
        """RGB image and mask at the native size (a test case's mask is sealed)."""
        image, mask = self._pixels[case.case_id]
        return np.repeat(image[:, :, None], 3, axis=2), mask

    def load(self, case: Case | str, size: int | tuple[int, int] | None = None) -> tuple[np.ndarray, Any]:
        """Grey image and mask; only the native size exists (a test case's mask is sealed)."""
        cid = case if isinstance(case, str) else case.case_id
        if size not in (None, self.size, (self.size, self.size)):
            raise ValueError(f"the sealed fold holds {self.size} px images only, not {size}")
        return self._pixels[cid]


class _Recorder:
    """What the model's forward pass is given while the engine predicts the test fold."""

    def __init__(self) -> None:
        self.predicting = False
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.predicting:
            self.calls.append((args, kwargs))


def _guarded(cls: type[Submission], recorder: _Recorder) -> type[Submission]:
    """A subclass whose models report their forward inputs to ``recorder`` (it changes nothing else)."""

    def build_model(self: Submission) -> nn.Module:
        model = cls.build_model(self)
        if isinstance(model, nn.Module):
            model.register_forward_pre_hook(recorder.hook, with_kwargs=True)
        return model

    return type(cls.__name__, (cls,), {"build_model": build_model, "__module__": cls.__module__})


def _attached(value: Any) -> str | None:
    """Why a forward input is more than plain pixels, or ``None`` when it is a plain tensor."""
    if type(value) is not torch.Tensor:
        return f"a {type(value).__name__} (expected a plain torch.Tensor)"
    if vars(value):
        return f"a tensor with attributes attached: {sorted(vars(value))}"
    return None


def check_no_test_truth(cls: type[Submission], options: CheckOptions) -> str:
    """One fold through the engine with sealed test ground truth: nothing reads it, prediction sees pixels only."""
    size = options.sizes[0]
    fold = SealedFold(size, seed=options.seed)
    recorder = _Recorder()
    submission = instantiate(_guarded(cls, recorder), CheckOptions(
        sizes=options.sizes, hparams={**options.hparams, "epochs": 1, "batch_size": 4}, seed=options.seed))
    compute = ComputeSetup("cpu", "cpu", "fp32", torch.get_num_threads(), channels_last=True)
    failure: Exception | None = None
    probs = test_images = None
    with tempfile.TemporaryDirectory(prefix="busbench-conformance-") as tmp:
        try:
            train = labelled(fold, fold.ids["train"], size)  # type: ignore[arg-type]
            val = labelled(fold, fold.ids["val"], size)  # type: ignore[arg-type]
            settings = TrainSettings(epochs=1, batch_size=4, seed=options.seed, fold=0)
            model, _, _ = train_fold(submission, train, val, settings, compute, Path(tmp) / "checkpoint.pt")
            recorder.predicting = True
            test_images = images_only(fold, fold.ids["test"], size)  # type: ignore[arg-type]
            probs = predict_probabilities(submission, model, test_images, compute, batch_size=4)
        except (PluginError, TestTruthRead) as exc:
            failure = exc
        finally:
            recorder.predicting = False
    if fold.log:
        seen = sorted(set(fold.log))
        raise ConformanceFailure(f"test-fold ground truth was read during training or prediction: "
                                 f"{'; '.join(seen[:4])}{f' and {len(seen) - 4} more' if len(seen) > 4 else ''}")
    if failure is not None:
        raise ConformanceFailure(f"one epoch through the engine failed: {failure}") from failure
    assert probs is not None and test_images is not None
    n = len(fold.ids["test"])
    if tuple(probs.shape) != expected_shape(submission, n, size):
        raise ConformanceFailure(f"the engine's predictions have shape {tuple(probs.shape)}")
    if not recorder.calls:
        raise ConformanceFailure("the model's forward pass was never called at prediction time")
    inputs = []
    for args, kwargs in recorder.calls:
        if kwargs or len(args) != 1:
            raise ConformanceFailure(f"at prediction the model got {len(args)} positional and {sorted(kwargs)} "
                                     f"keyword arguments; expected one image tensor")
        problem = _attached(args[0])
        if problem is not None:
            raise ConformanceFailure(f"at prediction the model was given {problem}")
        inputs.append(args[0])
    expected = to_model_input(test_images.float().div(255), submission.spec)
    if not torch.equal(torch.cat(inputs).cpu(), expected):
        raise ConformanceFailure("at prediction the model was given something other than the normalised test images")
    return f"1 epoch on {len(fold.ids['train'])} cases; {n} test cases predicted; sealed test truth untouched"
