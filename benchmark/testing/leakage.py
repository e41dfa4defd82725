"""The leakage check: a whole ``busbench run`` of the plugin on noise images whose test truth the pixels do not carry.

The check writes a small dataset in the BUSI layout where every image is uniform noise and every label and lesion
mask is drawn independently of the pixels, makes a 2-fold split of it, and trains the plugin through
:func:`~benchmark.engine.runner.run_submission`, the path ``busbench run`` takes (the plugin's code runs in its
fold processes, :mod:`benchmark.engine.plugin_process`). Nothing in the pixels predicts a label or a mask, so an
honest model scores at chance on the test folds: balanced accuracy near 1/3, lesion Dice far below 1. A score at
or above :data:`CHANCE_LIMIT` means the predictions came from the test truth itself, wherever the plugin found it
(the call stack, the garbage collector, a global, the environment, the dataset's folder named in ``sys.argv``).

With 12 cases per class, an honest classifier reaches a balanced accuracy of 0.75 with a probability below one in
a million; the check is deterministic for a given seed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import BusbenchError
from benchmark.plugins import registry
from benchmark.plugins.submission import Submission
from benchmark.testing.inputs import CheckOptions, ConformanceFailure

CLASSES = ("normal", "benign", "malignant")

#: A test-fold score at or above this on noise images means the plugin's predictions used the test truth.
CHANCE_LIMIT = 0.75

#: Cases per class of the noise dataset.
PER_CLASS = 12


def write_noise_dataset(root: Path, size: int, *, per_class: int = PER_CLASS, seed: int = 0) -> Path:
    """Write a BUSI-layout dataset of noise images whose labels and masks do not depend on the pixels.

    Args:
        root: Folder to write ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` (and ``_mask.png``) into.
        size: Side of the square images.
        per_class: Cases per class.
        seed: Seed of the pixels and the masks.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    for label in CLASSES:
        folder = root / "Dataset_BUSI_with_GT" / label
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, per_class + 1):
            image = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
            mask = np.zeros((size, size), dtype=np.uint8)
            if label != "normal":  # a lesion placed at random, unrelated to the noise under it
                h, w = rng.integers(size // 4, size // 2, size=2)
                top, left = rng.integers(0, size - h), rng.integers(0, size - w)
                mask[top:top + h, left:left + w] = 255
            Image.fromarray(image).save(folder / f"{label} ({n}).png")
            Image.fromarray(mask).save(folder / f"{label} ({n})_mask.png")
    return root


@contextmanager
def _registered(cls: type[Submission]) -> Iterator[str]:
    """The name ``cls`` is registered under, registering it for the block when it is not."""
    name = cls.spec.name
    known = registry.available().get(name)
    if known is cls:
        yield name
        return
    if known is not None:
        raise ConformanceFailure(f"the name {name!r} is registered by another class ({known.__module__}."
                                 f"{known.__qualname__})")
    registry.register(cls)
    try:
        yield name
    finally:
        registry.unregister(name)


@contextmanager
def _cache_in(folder: Path) -> Iterator[None]:
    """Keep the decoded-image cache of the noise dataset in ``folder`` (not in the user's cache)."""
    before = os.environ.get("BUSBENCH_CACHE_DIR")
    os.environ["BUSBENCH_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BUSBENCH_CACHE_DIR", None)
        else:
            os.environ["BUSBENCH_CACHE_DIR"] = before


def check_no_test_truth(cls: type[Submission], options: CheckOptions) -> str:
    """A ``busbench run`` on noise images (see module docstring): the plugin's test scores must be at chance."""
    from benchmark.data.open import open_dataset
    from benchmark.engine.runner import RunRequest, run_submission
    from benchmark.evaluation.score import HEADLINE
    from benchmark.splits.make import make_split

    size = options.sizes[0]
    with tempfile.TemporaryDirectory(prefix="busbench-leakage-") as tmp, _cache_in(Path(tmp) / "cache"), \
            _registered(cls) as name:
        root = write_noise_dataset(Path(tmp) / "noise", size, seed=options.seed)
        split = Path(tmp) / "split.json"
        make_split(open_dataset(root), k=2, seed=options.seed, val_fraction=0.25).save(split)
        request = RunRequest(name, str(root), split, epochs=1, image_size=size, seed=options.seed, device="cpu",
                             precision="fp32", threads=1, out=Path(tmp) / "runs",
                             hparams={**options.hparams, "batch_size": 4},
                             jobs=min(2, os.cpu_count() or 1))  # the two folds at once where there are two cores
        try:
            outcome = run_submission(request)
        except BusbenchError as exc:
            raise ConformanceFailure(f"busbench run refused the plugin: {exc}") from exc
    if outcome.status != "completed" or outcome.metrics is None:
        errors = "; ".join(f"fold {k}: {e}" for k, e in sorted(outcome.failed.items()))
        raise ConformanceFailure(f"the run on noise images did not complete ({outcome.status}): {errors}")
    metric = HEADLINE[cls.spec.task]  # balanced accuracy; Dice over the images with a lesion
    score = outcome.metrics["pooled"].get(metric)
    if score is None:
        raise ConformanceFailure(f"the run on noise images has no {metric}")
    n = PER_CLASS * len(CLASSES)  # every case is in one test fold
    if score >= CHANCE_LIMIT:
        raise ConformanceFailure(f"{metric} {score:.3f} on {n} noise images whose labels and masks the pixels do not "
                                 "carry: the predictions used the test folds' ground truth")
    return f"busbench run on {n} noise images, 2 folds, 1 epoch: {metric} {score:.3f}, at chance (< {CHANCE_LIMIT})"
