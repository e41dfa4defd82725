"""Shared test set-up: a cache kept between runs, the real BUSI data when it is there, a tiny split, no network."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests import durations
from tests.helpers import write_tiny_split

REPO = Path(__file__).resolve().parents[1]
BUSI_DIR = Path(os.environ.get("BUSBENCH_BUSI", REPO.parent / "shared" / "data" / "BUSI"))


#: Where test sessions keep the busbench cache between runs (git ignores it); ``BUSBENCH_TEST_CACHE=fresh`` gives a
#: session an empty cache of its own instead.
TEST_CACHE = REPO / ".test-cache"


def cache_generation() -> str:
    """What the cached data depends on: the code that writes busbench's cache and the libraries that decode and draw.

    Everything busbench caches (decoded images, phantom sets, duplicate and examination reports, the audit's
    derived findings, the submission catalog) is keyed by the content it was made from, but not by the code that
    made it unless a version constant was bumped. Keying the folder by that code as well (``benchmark/data`` and
    every other module that writes into the cache) means an edited detector never meets a cache its previous
    version wrote.
    """
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in sorted((REPO / "benchmark").rglob("*.py")):
        text = path.read_bytes()
        if "data" in path.relative_to(REPO).parts[:2] or b"cache_root(" in text or b"DerivedCache(" in text:
            digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + text + b"\0")
    for dist in ("numpy", "scipy", "opencv-python-headless", "pillow"):
        try:
            digest.update(f"{dist}={version(dist)}".encode())
        except Exception:  # noqa: BLE001 (a library that is not installed is part of the key as absent)
            digest.update(f"{dist}=none".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session", autouse=True)
def _test_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never touch the user's ~/.cache/busbench. They share one cache (.test-cache/<generation>) that outlives
    # the session, so BUSI is decoded and each phantom set drawn once, not once per run; the pytest-xdist workers
    # share it too (busbench's caches are safe for concurrent processes, and a phantom set is drawn by whichever
    # worker needs it first). Tests about the cache itself use a cache folder of their own.
    if os.environ.get("BUSBENCH_TEST_CACHE") == "fresh":
        base = tmp_path_factory.getbasetemp()
        folder = base.parent / "busbench-cache" if os.environ.get("PYTEST_XDIST_WORKER") else base / "busbench-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = TEST_CACHE / cache_generation()
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # the one in use is the newest
        if os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":  # one process prunes: keep the two newest
            import shutil

            older = sorted((p for p in TEST_CACHE.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)[:-2]
            for stale in older:
                shutil.rmtree(stale, ignore_errors=True)
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
    # The longest test files first (tests/durations.py): pytest-xdist hands files out in this order, so the workers
    # finish together. The sort is stable: within a file, and among files without a figure, the order is pytest's.
    seconds = durations.load()
    items.sort(key=lambda item: -seconds.get(item.path.relative_to(REPO).as_posix(), 0.0))
