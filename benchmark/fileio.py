"""Atomic file writes (a result file is either the old one or the complete new one, never half written) and locks."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from benchmark.errors import BusbenchError


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *,
                      durable: bool = True) -> None:
    """Write ``path`` through a temporary file in the same folder, synced to disk, and an atomic rename.

    ``write`` streams the content into the open temporary file, so a large file (a checkpoint of a 134 M-parameter
    model with its optimiser state is 2 GB) is never held in memory as one more copy.

    Args:
        path: Destination file; its parent folders are created.
        write: Called once with the binary file handle; writes the complete content.
        durable: Sync the file to disk before the rename, so that it survives a power cut whole. ``False`` skips
            the sync (about a millisecond a file, far more on a busy disk) for a cache entry whose readers take
            an unreadable entry as a miss: while the machine stays up, readers still see the old file or the
            whole new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes owner-only files; results and split files are meant to be read by others and committed.
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(folder: str | os.PathLike[str], name: str = "*") -> list[Path]:
    """Delete the temporary files that a killed :func:`atomic_write_with` left in ``folder``; return them.

    A writer killed mid-write (SIGKILL, a power cut) leaves ``.<name>.<random>.tmp`` beside the file it was
    replacing, which stays complete. Call this only while holding the lock that every writer of those files holds,
    so that no live writer's temporary file is removed.

    Args:
        folder: The folder the files are written in.
        name: The destination file's name (``run.json``), or ``*`` for every file of the folder.
    """
    stale = sorted(Path(folder).glob(f".{name}.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`, also for ``durable``)."""
    atomic_write_with(path, lambda handle: handle.write(data), durable=durable)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON atomically, with a trailing newline so files diff cleanly."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike[str], *, missing: str = "does not exist",
              invalid: str = "is not valid JSON") -> Any:
    """A JSON document from a file the user gave or a run wrote; every way it can be unreadable is one error.

    Args:
        path: The file.
        missing: What the error says when the file does not exist.
        invalid: What it says when the file cannot be read or parsed (the reason follows in brackets), including a
            document nested more deeply than the parser can follow.

    Raises:
        BusbenchError: Naming the file.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BusbenchError(path, missing) from exc
    except RecursionError as exc:
        raise BusbenchError(path, f"{invalid} (nested more deeply than a JSON reader follows)") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BusbenchError(path, f"{invalid} ({exc})") from exc


@contextmanager
def try_lock(path: str | os.PathLike[str], *, wait: bool = False) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` if no other process holds it; yields whether this one got it.

    The lock is an advisory ``flock`` on the file (created, with its folders, and left in place), released when the
    block ends or the process dies, so a crashed holder never leaves a stale lock behind.

    Args:
        path: The lock file.
        wait: Wait for another holder instead of yielding ``False`` (for short critical sections).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def hold_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of :func:`try_lock` on ``path`` for the block, waiting for any other holder."""
    with try_lock(path, wait=True):
        yield


def cache_root() -> Path:
    """The busbench cache folder: ``$BUSBENCH_CACHE_DIR`` if set, else ``~/.cache/busbench``."""
    env = os.environ.get("BUSBENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "busbench"
