"""The phantom set as a dataset: generated once into the cache, then opened like BUSI; its ground-truth readers."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from benchmark.data.busi import load_busi
from benchmark.data.dataset import Dataset
from benchmark.data.synthetic.config import (
    GENERATOR_VERSION,
    SyntheticConfig,
    check_config,
    config_digest,
    synthetic_spec,
)
from benchmark.data.synthetic.generation import DUPLICATES_FILE, FACTS_FILE, INFO_FILE, generate
from benchmark.errors import BusbenchError
from benchmark.fileio import cache_root, hold_lock


def _is_complete(root: Path, config: SyntheticConfig) -> bool:
    try:
        info = json.loads((root / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    return info.get("config") == asdict(config) and info.get("generator_version") == GENERATOR_VERSION


def open_synthetic(config: SyntheticConfig) -> Dataset:
    """Open a phantom set, generating it into the cache the first time.

    The set lives in ``cache_root()/synthetic/<digest>`` (see :func:`config_digest`) and is reused while complete.

    Args:
        config: What set to open.

    Returns:
        The dataset, loaded by the BUSI loader, named ``"synthetic"`` for the default configuration and e.g.
        ``"synthetic:n=60,seed=1,size=96"`` otherwise, with ``kind == "synthetic"``. Its source folder holds the
        ground-truth files (see :func:`synthetic_root`, :func:`planted_pairs`).

    Raises:
        BusbenchError: If the configuration is out of range.
    """
    check_config(config)
    root = cache_root() / "synthetic" / config_digest(config)
    if not _is_complete(root, config):
        # One process draws a new set; others opening it meanwhile wait for it instead of drawing it again.
        with hold_lock(root.with_name(root.name + ".lock")):
            if not _is_complete(root, config):
                if root.exists():  # incomplete or from elsewhere: never trust it
                    shutil.rmtree(root)
                generate(config, root)
    dataset = load_busi(root, name=synthetic_spec(config))
    dataset.kind = "synthetic"
    return dataset


def synthetic_root(dataset: Dataset) -> Path:
    """The folder a phantom dataset was generated into (holds ``duplicates.csv`` and ``phantom_facts.csv``).

    Raises:
        BusbenchError: If ``dataset`` is not a generated phantom set.
    """
    root = Path(dataset.source.location)
    if not (root / INFO_FILE).is_file():
        raise BusbenchError(root, f"is not a generated phantom set (no {INFO_FILE})")
    return root


def planted_pairs(dataset: Dataset) -> list[tuple[str, str, str]]:
    """The planted duplicate pairs of a phantom dataset, from its ``duplicates.csv``.

    Returns:
        ``(original case id, copy case id, kind)`` triples, kind one of :data:`DUPLICATE_KINDS`.

    Raises:
        BusbenchError: If ``dataset`` is not a generated phantom set.
    """
    path = synthetic_root(dataset) / DUPLICATES_FILE
    with open(path, newline="") as f:
        return [(row["case_a"], row["case_b"], row["kind"]) for row in csv.DictReader(f)]


def phantom_facts(dataset: Dataset) -> dict[str, dict[str, str]]:
    """Per-case ground truth of a phantom dataset (colour, annotations, n_lesions, shape, posterior, duplicate_of).

    Raises:
        BusbenchError: If ``dataset`` is not a generated phantom set.
    """
    path = synthetic_root(dataset) / FACTS_FILE
    with open(path, newline="") as f:
        return {row["case_id"]: row for row in csv.DictReader(f)}
