"""The folder one run writes, and the provenance recorded in ``run.json``.

Layout of ``<out>/<run_id>/``::

    run.json                 what ran: submission, hyper-parameters, data, split, seeds, compute, versions, status
    fold-<k>/result.json     one finished (or failed) fold: best epoch, history, wall time, error
    fold-<k>/predictions.csv classification: case_id,fold,prob_normal,prob_benign,prob_malignant
    fold-<k>/external.csv    external validation: the fold model's probabilities for every case of the test data
    fold-<k>/masks.npz       segmentation: per case the predicted binary mask at the image's original size
    fold-<k>/model.pt        the selected weights (kept for explanations; never committed)
    fold-<k>/checkpoint.pt   the last epoch's state while the fold trains (removed when it finishes)
    metrics.json             scores of the pooled out-of-fold predictions, per fold, with confidence intervals

Every file is written atomically; a finished fold's files are never rewritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BusbenchError
from benchmark.fileio import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    hold_lock,
    read_json,
    remove_partial_writes,
)

#: A fold's predictions of an external dataset's cases (``busbench external``), beside its ``predictions.csv``.
EXTERNAL_PREDICTIONS = "external.csv"


def prob_columns(classes: Sequence[str]) -> tuple[str, ...]:
    """The probability columns of a classification predictions CSV: ``prob_<class>`` in the split's class order."""
    return tuple(f"prob_{c}" for c in classes)


#: The columns of three-class predictions (BUSI: normal, benign, malignant).
PROB_COLUMNS = prob_columns(("normal", "benign", "malignant"))


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (split files are identified by it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def config_hash(identity: dict[str, Any]) -> str:
    """A short stable hash of a run's identity (everything that changes its numbers)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def git_commit(root: Path | None = None) -> str | None:
    """The busbench checkout's commit, or ``None`` outside a git checkout.

    ``-dirty`` is appended when the checkout has uncommitted changes: a tracked file changed, or an untracked file
    under ``submissions/`` (a plugin that was never committed is code the commit does not hold; other untracked
    files, such as run folders, are not code).

    Args:
        root: The checkout (default: the one this busbench is imported from).
    """
    root = root or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") or git(
            "status", "--porcelain", "--untracked-files=all", "--", "submissions")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that can change a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in ("busbench", "torch", "torchvision", "timm", "segmentation-models-pytorch", "numpy", "scikit-learn",
                 "scipy", "pillow", "opencv-python-headless"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


class RunDir:
    """Access to one run folder (see module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def run_json(self) -> Path:
        """Path of ``run.json``."""
        return self.path / "run.json"

    @property
    def metrics_json(self) -> Path:
        """Path of ``metrics.json``."""
        return self.path / "metrics.json"

    def fold_dir(self, fold: int) -> Path:
        """Folder of one fold."""
        return self.path / f"fold-{fold}"

    def read_run(self) -> dict[str, Any] | None:
        """``run.json`` as a dict, or ``None`` when the run has not started."""
        if not self.run_json.exists():
            return None
        return read_json(self.run_json)

    def lock_path(self, name: str) -> Path:
        """A lock file of this run (``.locks/<name>.lock``; never published)."""
        return self.path / ".locks" / f"{name}.lock"

    def write_run(self, doc: dict[str, Any]) -> None:
        """Write ``run.json`` atomically, merging the fold table with the one on disk.

        Several processes may train folds of one run at once (``--folds``, a Dask executor, the same command twice):
        each writes its own document, so the fold table on disk (folds another process completed) is merged into
        ``doc`` (in place) under a lock before the write, and no process drops another's folds.
        """
        with hold_lock(self.lock_path("run")):
            remove_partial_writes(self.path, self.run_json.name)  # left by a writer killed mid-write
            on_disk = self.read_run()
            if on_disk is not None and isinstance(on_disk.get("folds"), dict) and isinstance(doc.get("folds"), dict):
                doc["folds"] = {**on_disk["folds"], **doc["folds"]}
                if "params" in on_disk and "params" not in doc:
                    doc["params"] = on_disk["params"]
            atomic_write_json(self.run_json, doc)

    def fold_result(self, fold: int) -> dict[str, Any] | None:
        """A fold's ``result.json``, or ``None`` when it has not finished."""
        path = self.fold_dir(fold) / "result.json"
        return read_json(path) if path.exists() else None

    def fold_completed(self, fold: int) -> bool:
        """Whether the fold has a ``result.json`` whose status is ``completed``."""
        result = self.fold_result(fold)
        return result is not None and result.get("status") == "completed"

    def write_fold_result(self, fold: int, doc: dict[str, Any]) -> None:
        """Write a fold's result; a completed fold's result is never replaced."""
        if self.fold_completed(fold):
            raise BusbenchError(self.fold_dir(fold), "fold is complete already; its results are never rewritten")
        atomic_write_json(self.fold_dir(fold) / "result.json", doc)


def write_class_predictions(path: Path, rows: list[tuple[str, int, np.ndarray]], classes: Sequence[str]) -> None:
    """Write classification predictions (case id, fold, one probability per class of ``classes``) as CSV, atomically.

    Probabilities are written with ``repr`` so that reading the file back gives exactly the numbers that were scored.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("case_id", "fold", *prob_columns(classes)))
    for case_id, fold, probs in rows:
        writer.writerow([case_id, fold, *(repr(float(p)) for p in probs)])
    atomic_write_text(path, buf.getvalue())


def write_masks(path: Path, masks: dict[str, np.ndarray]) -> None:
    """Write binary masks (one per case id, any size) as a compressed ``.npz`` of packed bits, atomically."""
    arrays: dict[str, Any] = {}  # Any: np.savez's stubs would match an array to its allow_pickle flag
    for case_id, mask in masks.items():
        arrays[f"{case_id}:bits"] = np.packbits(mask.astype(bool))
        arrays[f"{case_id}:shape"] = np.asarray(mask.shape, dtype=np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_masks(path: Path) -> dict[str, np.ndarray]:
    """Read masks written by :func:`write_masks`."""
    out: dict[str, np.ndarray] = {}
    with np.load(path) as npz:
        for key in npz.files:
            case_id, kind = key.rsplit(":", 1)
            if kind == "shape":
                shape = tuple(int(v) for v in npz[key])
                bits = npz[f"{case_id}:bits"]
                out[case_id] = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
    return out
