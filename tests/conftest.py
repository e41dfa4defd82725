"""Session-wide test set-up: a private cache folder, and the real BUSI data when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUSI_DIR = Path(os.environ.get("BUSBENCH_BUSI", REPO.parent / "shared" / "data" / "BUSI"))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never touch the user's ~/.cache/busbench; one cache per session keeps BUSI decoded once.
    os.environ["BUSBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("busbench-cache"))


@pytest.fixture(scope="session")
def busi_dir() -> Path:
    """The real BUSI folder (skips the test, visibly, when it is absent)."""
    if not (BUSI_DIR / "Dataset_BUSI_with_GT").is_dir():
        pytest.skip(f"real BUSI data not found at {BUSI_DIR} (set BUSBENCH_BUSI)")
    return BUSI_DIR


@pytest.fixture(scope="session")
def busi(busi_dir: Path):
    """The real BUSI dataset, loaded once per session."""
    from benchmark.data.busi import load_busi

    return load_busi(busi_dir)
