"""Open a dataset from what a user types.

``synthetic[:options]``, a BUSI folder or zip, a BUS-BRA folder, a BUS-UCLM folder, or a CSV manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.data.busbra import is_busbra, load_busbra
from benchmark.data.busi import load_busi
from benchmark.data.busuclm import is_busuclm, load_busuclm
from benchmark.data.dataset import Dataset
from benchmark.data.manifest import load_manifest
from benchmark.data.synthetic import open_synthetic, parse_synthetic_spec
from benchmark.errors import BusbenchError

#: Where the real BUSI data lives when the environment says nothing else (tests and CI read it from here).
DEFAULT_BUSI_ENV = "BUSBENCH_BUSI"


def open_dataset(spec: str | os.PathLike[str]) -> Dataset:
    """Open a dataset.

    Args:
        spec: ``"synthetic"`` (the embedded default: 780 phantom images in the BUSI layout), ``"synthetic:n=60,
            seed=1,size=96"`` for a smaller or other phantom set, a BUSI folder or ``.zip``, a BUS-BRA folder (has
            ``bus_data.csv``), a BUS-UCLM folder (``INFO.csv`` beside ``images/``; a BUS-UCLM zip opens with
            :func:`benchmark.data.busuclm.load_busuclm`), or a ``.csv`` manifest (see ``benchmark.data.manifest``).

    Returns:
        The loaded dataset (pixels are read lazily, through the decoded cache).

    Raises:
        BusbenchError: If the spec names nothing readable or the data are malformed.
    """
    text = os.fspath(spec)
    if text == "synthetic" or text.startswith("synthetic:"):
        return open_synthetic(parse_synthetic_spec(text))
    path = Path(text)
    if not path.exists():
        raise BusbenchError(text, "does not exist (give a dataset folder, a .zip, a manifest .csv, or 'synthetic')")
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_manifest(path)
    if path.is_dir() and is_busbra(path):
        return load_busbra(path)
    if path.is_dir() and is_busuclm(path):
        return load_busuclm(path)
    return load_busi(path)
