"""Small builders for test data: datasets in the BUSI layout, split files of the tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.plugins import get
from benchmark.testing import CHECKS


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Write an array as PNG (optionally converting to a PIL mode such as '1', 'L', 'RGB', 'RGBA')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if mode is not None:
        img = img.convert(mode)
    img.save(path)
    return path


def tiny_busi(root: Path, per_class: int = 3, size: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    """Write a tiny BUSI-layout dataset of random images with a square lesion (none for normal); return its root."""
    rng = np.random.default_rng(seed)
    base = root / "Dataset_BUSI_with_GT"
    for label in ("normal", "benign", "malignant"):
        for n in range(1, per_class + 1):
            image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            mask = np.zeros(size, dtype=np.uint8)
            if label != "normal":
                mask[4:12, 5:15] = 255
            write_png(base / label / f"{label} ({n}).png", image)
            write_png(base / label / f"{label} ({n})_mask.png", mask)
    return root


#: The tiny synthetic dataset most engine tests train on (45 cases of 48 px: a fold trains in about a second).
TINY = "synthetic:n=45,seed=4,size=48"


def write_tiny_split(path: Path, dataset: str = TINY, val_fraction: float = 0.5) -> Path:
    """Write a 3-fold split (seed 0, duplicates grouped) of the ``dataset`` spec to ``path``; return ``path``."""
    from benchmark.data.open import open_dataset
    from benchmark.splits.make import make_split

    make_split(open_dataset(dataset), k=3, seed=0, val_fraction=val_fraction).save(path)
    return path


def pretrained_refusal(name: str) -> str:
    """Build model ``name`` with ``pretrained=True`` and no local weights; return its one-line refusal.

    The refusal must come without a connection being tried (no download attempted), name the model and say both
    ways on (``--no-pretrained`` or ``weights=PATH``).
    """
    import socket
    from unittest import mock

    from benchmark.errors import BusbenchError
    from benchmark.plugins import create

    sub = create(name, {"pretrained": True})
    tried = AssertionError(f"building {name} without weights tried to connect")
    with mock.patch.object(socket.socket, "connect", side_effect=tried), \
            mock.patch.object(socket.socket, "connect_ex", side_effect=tried), pytest.raises(BusbenchError) as caught:
        sub.build_model()
    message = str(caught.value)
    assert message.startswith(f"model {name!r}:") and "--no-pretrained" in message and "weights=PATH" in message
    return message


def saved_synthetic_split(folder: Path, spec: str, k: int = 3):
    """The synthetic data of ``spec``, a ``k``-fold split of it saved as ``folder/split.json``, and that split loaded.

    Returns:
        ``(dataset, path, split)``.
    """
    from benchmark.data.open import open_dataset
    from benchmark.splits.make import make_split
    from benchmark.splits.verify import load_split

    dataset = open_dataset(spec)
    path = folder / "split.json"
    make_split(dataset, k=k).save(path)
    return dataset, path, load_split(path, dataset)


#: Every conformance check but the leakage run (a whole ``busbench run`` on noise images, 10-60 s per big model): for
#: a model whose data-facing hooks are those of another model that runs it (see :func:`assert_same_data_hooks`).
WITHOUT_LEAKAGE_RUN = [c for c in CHECKS if c != "no_test_truth"]


def assert_same_data_hooks(name: str, stand_in: str) -> None:
    """Check that ``stand_in``'s leakage run covers ``name``: every method but ``build_model`` is the same function.

    The leakage check runs a plugin's hooks (loss, optimiser, augmentation, prediction, constructor) on noise data;
    ``build_model`` sees no data. Two models of one family that differ only in the backbone they build therefore
    leak or not together, and one leakage run per family is enough.
    """
    a, b = get(name), get(stand_in)
    methods = {n for n in dir(a) if callable(getattr(a, n)) and not isinstance(getattr(a, n), type)}
    methods |= {n for n in dir(b) if callable(getattr(b, n)) and not isinstance(getattr(b, n), type)}
    methods = {n for n in methods if not n.startswith("__") or n == "__init__"}  # not type's own machinery
    differing = sorted(n for n in methods - {"build_model"}
                       if getattr(getattr(a, n, None), "__func__", getattr(a, n, None))
                       is not getattr(getattr(b, n, None), "__func__", getattr(b, n, None)))
    assert not differing, f"{name} and {stand_in} differ in {differing}: {name} needs its own leakage run"
