"""Shared test set-up: a private cache folder, the real BUSI data when it is there, a tiny split, no network."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.helpers import write_tiny_split

REPO = Path(__file__).resolve().parents[1]
BUSI_DIR = Path(os.environ.get("BUSBENCH_BUSI", REPO.parent / "shared" / "data" / "BUSI"))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never touch the user's ~/.cache/busbench; one cache per session keeps BUSI decoded and each phantom set
    # drawn once. Under pytest-xdist the workers share it (beside their own temporary folders): busbench's caches
    # are safe for concurrent processes, and a phantom set is drawn by whichever worker needs it first.
    base = tmp_path_factory.getbasetemp()
    folder = base.parent / "busbench-cache" if os.environ.get("PYTEST_XDIST_WORKER") else base / "busbench-cache"
    folder.mkdir(exist_ok=True)
    os.environ["BUSBENCH_CACHE_DIR"] = str(folder)


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


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-fold split file of :data:`tests.helpers.TINY` (validation fraction 0.5), written once per module."""
    return write_tiny_split(tmp_path_factory.mktemp("split") / "tiny.json")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Sockets that refuse to connect; the test fails if anything tried.

    Not autouse: modules that must prove they stay offline opt in
    (``pytestmark = pytest.mark.usefixtures("no_network")``).
    """
    attempts: list[object] = []

    def refuse(self, address):
        attempts.append(address)
        raise RuntimeError(f"test forbids network access (connect to {address})")

    def refuse_lookup(host, *args, **kwargs):
        attempts.append(host)
        raise RuntimeError(f"test forbids network access (look-up of {host})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)  # a look-up comes first, and may fail before connect
    yield
    assert not attempts, f"network connections attempted: {attempts}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the conformance suites' leakage runs slow: each trains the plugin through a whole ``busbench run``.

    Other heavy tests carry ``@pytest.mark.slow`` themselves; ``pytest -m "not slow"`` leaves them all out.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("check") == "no_test_truth":
            item.add_marker(pytest.mark.slow)
