"""On-disk caches: pixel fingerprints per file state, and decoded images resized per target size.

Layout under :func:`benchmark.fileio.cache_root` (``$BUSBENCH_CACHE_DIR``, default ``~/.cache/busbench``)::

    index/<source-hash>.json          case_id -> {key, fp, image_fp, shape}   (key = files' size+mtime or CRC)
    decoded/<fp[:2]>/<fp>-<H>x<W>.npz  grey image uint8 (+ mask bool) of one case at one size ("native" = original)
    decoded/<fp[:2]>/<fp>-mask.npz     the case's united mask at its original size, as packed bits (scoring's reference)
    derived/<name>-<recipe-hash>.json  pixel fingerprint(s) -> a value computed from those pixels only

A case is re-decoded only when one of its files' key changes; decoded arrays are keyed by the case fingerprint, so
changed pixels never hit a stale entry. Every write is atomic, so an interrupted run leaves a usable cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.fileio import atomic_write_bytes, atomic_write_json, cache_root


class FingerprintIndex:
    """Remembers, per source, each case's fingerprint together with the file-state key it was computed from."""

    def __init__(self, source_identity: str):
        digest = hashlib.sha256(source_identity.encode()).hexdigest()[:20]
        self.path = cache_root() / "index" / f"{digest}.json"
        try:
            self._entries: dict[str, dict] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}  # a missing or damaged index only costs a re-decode
        self._dirty = False

    def get(self, case_id: str, key: str) -> dict | None:
        """The stored entry for ``case_id`` if it was computed from files in state ``key``."""
        entry = self._entries.get(case_id)
        return entry if entry is not None and entry.get("key") == key else None

    def put(self, case_id: str, entry: dict) -> None:
        """Record an entry (must contain ``key``); written out by :meth:`save`."""
        self._entries[case_id] = entry
        self._dirty = True

    def save(self) -> None:
        """Write the index atomically if anything changed."""
        if self._dirty:
            atomic_write_json(self.path, self._entries, indent=None)
            self._dirty = False


def _decoded_path(fingerprint: str, size: tuple[int, int] | None) -> Path:
    tag = "native" if size is None else f"{size[0]}x{size[1]}"
    return cache_root() / "decoded" / fingerprint[:2] / f"{fingerprint}-{tag}.npz"


def load_decoded(fingerprint: str, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A cached (grey image, mask) for a case fingerprint and size, or ``None`` if not cached (or unreadable)."""
    path = _decoded_path(fingerprint, size)
    try:
        with np.load(path) as npz:
            image = npz["image"]
            mask = npz["mask"] if "mask" in npz.files else None
        return image, mask
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _mask_path(fingerprint: str) -> Path:
    return cache_root() / "decoded" / fingerprint[:2] / f"{fingerprint}-mask.npz"


def load_mask(fingerprint: str) -> np.ndarray | None:
    """A case's cached united ``bool`` mask at its original size, or ``None`` (not cached, or unreadable)."""
    try:
        with np.load(_mask_path(fingerprint)) as npz:
            bits, shape = npz["bits"], tuple(int(n) for n in npz["shape"])
        if len(shape) != 2 or bits.size * 8 < shape[0] * shape[1]:
            return None
        return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def store_mask(fingerprint: str, mask: np.ndarray) -> None:
    """Cache a case's united mask at its original size, as packed bits (about 37 KB for a BUSI image).

    Not synced to disk (see :func:`store_decoded`): :func:`load_mask` takes a damaged entry as a miss.
    """
    buf = io.BytesIO()
    np.savez(buf, bits=np.packbits(mask.astype(bool), axis=None), shape=np.asarray(mask.shape, dtype=np.int64))
    atomic_write_bytes(_mask_path(fingerprint), buf.getvalue(), durable=False)


def store_decoded(fingerprint: str, size: tuple[int, int] | None, image: np.ndarray, mask: np.ndarray | None) -> None:
    """Cache a decoded (grey image, mask) pair atomically.

    Not synced to disk (one file per case: the syncs cost more than the writes): after a power cut an entry may be
    empty or damaged, and :func:`load_decoded` takes it as a miss (an npz member's CRC is checked on reading).
    """
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"image": image} if mask is None else {"image": image, "mask": mask}
    np.savez(buf, **arrays)
    atomic_write_bytes(_decoded_path(fingerprint, size), buf.getvalue(), durable=False)


class DerivedCache:
    """Values computed from pixels alone (a detector's findings, a thumbnail), keyed by pixel fingerprints.

    One JSON file per ``name`` and ``recipe``: the recipe is everything besides the pixels that decides the value
    (detector thresholds, a version tag, a size), so changing it starts a new file and a stale value is never read.
    Keys are built from fingerprints (:meth:`benchmark.data.dataset.Dataset.facts`), so changed pixels miss.

    :meth:`save` re-reads the file and adds this process's new entries before its atomic write, so two processes
    filling one cache at once both keep what they computed (a lost race only costs a recomputation).

    Args:
        name: What is cached (a file-name-safe word).
        recipe: JSON-ready description of everything except the pixels that the values depend on.
    """

    def __init__(self, name: str, recipe: Any):
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        self.path = cache_root() / "derived" / f"{name}-{digest}.json"
        self._entries = self._read()
        self._new: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # missing or damaged: recompute
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> Any | None:
        """The cached value for ``key``, or ``None``."""
        return self._new.get(key, self._entries.get(key))

    def put(self, key: str, value: Any) -> None:
        """Remember a JSON-ready value; written out by :meth:`save` (a value the file holds already is not new)."""
        if self._entries.get(key) != value:
            self._new[key] = value

    def save(self) -> None:
        """Add the new entries to the file atomically (keeping entries other processes wrote meanwhile)."""
        if not self._new:
            return
        merged = {**self._read(), **self._new}
        atomic_write_json(self.path, merged, indent=None)
        self._entries, self._new = merged, {}
