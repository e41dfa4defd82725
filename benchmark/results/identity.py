"""A run's identity: everything that changes its numbers, hashed into its run id, and the check of a recorded id.

The identity of a run made by this busbench (identity version 2, :data:`IDENTITY_VERSION`) holds

* what the command chose: submission, task, hyper-parameters, image size, dataset fingerprint, split, seed, and
  what the kind of run adds (a protocol audit's protocol, a tuned run's search space and study);
* the submission's own code: the sha256 of its source files (:func:`source_fingerprint`);
* where it computed, as far as that changes results (:func:`compute_identity`): device type and precision, the
  CPU thread count on CPU (torch splits reductions by thread), the GPU model on CUDA.

``run.json`` records the identity (``identity``) and the files hashed (``code``), so anyone can recompute the run
id from it. Runs made before version 2 record no identity: their ids hashed the fields of version 1 (no code, no
threads, no GPU model), which :func:`identity_of` rebuilds from ``run.json``, so that their ids are checked too
(``busbench results verify``) and stay what they are. The two versions cannot collide: version 2 hashes its
version number.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path
from typing import Any, Protocol

from benchmark.results.rundir import config_hash

#: The identity recipe of runs made now; runs that record no ``identity`` were made under version 1.
IDENTITY_VERSION = 2

#: The namespace package that submission folders are imported under (see :mod:`benchmark.plugins.registry`).
_SUBMISSIONS_PACKAGE = "busbench_submissions"

#: What ``code`` says when a submission's source files cannot be found.
UNKNOWN = "unknown"


class ComputeFacts(Protocol):
    """The resolved compute choices a run identity needs (:class:`benchmark.engine.device.ComputeSetup` has them)."""

    @property
    def device(self) -> str: ...  # noqa: D102

    @property
    def device_name(self) -> str: ...  # noqa: D102

    @property
    def precision(self) -> str: ...  # noqa: D102

    @property
    def threads(self) -> int: ...  # noqa: D102


def _package_of(module: str) -> str:
    """The package whose files are a submission's code: ``busbench_submissions.<name>``, else the top package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == _SUBMISSIONS_PACKAGE and len(parts) > 1 else parts[0]


def _source_files(cls: type) -> tuple[Path, list[Path]]:
    """The folder the relative paths start at, and the source files of the package that defines ``cls``."""
    package = sys.modules.get(_package_of(cls.__module__))
    paths = list(getattr(package, "__path__", None) or [])
    if paths:
        files = sorted({f for p in paths for f in Path(p).rglob("*.py") if "__pycache__" not in f.parts})
        return Path(paths[0]).parent, files
    try:
        file = Path(getattr(package, "__file__", None) or inspect.getfile(cls))
    except (TypeError, OSError):
        return Path("."), []
    return file.parent, [file] if file.suffix == ".py" and file.is_file() else []


def source_fingerprint(cls: type) -> dict[str, Any]:
    """Hash the source files of the package (or module) that registered a submission class.

    For a package under a submissions folder (``submissions/<name>/``) that is every ``*.py`` in the package, at any
    depth; for an installed distribution, the files of its top-level package (or its single module). Code a
    submission imports from busbench itself (``benchmark.models``) is covered by ``git_commit`` and the busbench
    version instead.

    Args:
        cls: The registered :class:`~benchmark.plugins.submission.Submission` subclass.

    Returns:
        ``{"sha256", "files"}``: one sha256 over every file's relative path and bytes, and the relative paths (from
        the package's parent folder, e.g. ``small_cnn/__init__.py``). ``sha256`` is :data:`UNKNOWN` and ``files``
        empty when no source file can be found (a class defined interactively).
    """
    root, files = _source_files(cls)
    if not files:
        return {"sha256": UNKNOWN, "files": []}
    digest = hashlib.sha256()
    names = []
    for file in files:
        name = file.relative_to(root).as_posix()
        names.append(name)
        digest.update(f"{name}\0{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return {"sha256": digest.hexdigest(), "files": names}


def compute_identity(compute: ComputeFacts) -> dict[str, Any]:
    """The part of where a run computes that changes its numbers.

    Device type and precision always; on CPU the thread count (reductions are split by thread, which changes the
    last bits of every sum and, over training, the model); on CUDA the GPU model (kernels differ between models).
    """
    device = compute.device.split(":")[0]
    facts: dict[str, Any] = {"device": device, "precision": compute.precision}
    if device == "cpu":
        facts["threads"] = compute.threads
    else:
        facts["device_name"] = compute.device_name
    return facts


def run_identity(choices: dict[str, Any], code: dict[str, Any], compute: ComputeFacts) -> dict[str, Any]:
    """A run's identity (see module docstring): the command's choices, the submission's code and its compute.

    Args:
        choices: What the command chose (submission, task, hyper-parameters, data, split, seed, and what the kind of
            run adds); JSON-ready.
        code: The submission's :func:`source_fingerprint`.
        compute: The resolved compute setup.

    Returns:
        The identity to hash with :func:`run_id` and to record as ``run.json``'s ``identity``.
    """
    return {"identity_version": IDENTITY_VERSION, **choices, "code": code["sha256"],
            "compute": compute_identity(compute)}


def run_id(prefix: str, identity: dict[str, Any]) -> str:
    """The run id: ``<prefix>-<12 hex digits of the identity's hash>``."""
    return f"{prefix}-{config_hash(identity)}"


# --- runs made before identity version 2 ---------------------------------------------------------------------------


def _v1_common(doc: dict[str, Any]) -> dict[str, Any]:
    compute = doc.get("compute") or {}
    return {"submission": (doc.get("submission") or {}).get("name"), "task": doc.get("task"),
            "hparams": doc.get("hparams"), "image_size": doc.get("image_size"),
            "dataset": (doc.get("dataset") or {}).get("fingerprint"), "seed": doc.get("seed"),
            "device": str(compute.get("device", "")).split(":")[0], "precision": compute.get("precision")}


def _v1_trained(doc: dict[str, Any]) -> dict[str, Any]:
    return {**_v1_common(doc), "split": (doc.get("split") or {}).get("sha256")}


def _v1_protocol_audit(doc: dict[str, Any]) -> dict[str, Any]:
    protocol = doc.get("protocol") or {}
    name = protocol.get("name")
    return {**_v1_common(doc), "k": (doc.get("split") or {}).get("k"), "protocol": name,
            "copies": protocol.get("copies") if name == "augment-before-split" else None,
            "alpha": protocol.get("alpha") if name == "mask-overlay" else None,
            "draws": protocol.get("draws_requested") if name == "lucky-split" else None}


def _v1_tuned(doc: dict[str, Any]) -> dict[str, Any]:
    common, tuning = _v1_common(doc), doc.get("tuning") or {}
    return {"format": 1, "submission": common["submission"], "task": common["task"],
            "search_space": tuning.get("search_space"), "split_sha256": (doc.get("split") or {}).get("sha256"),
            "dataset_fingerprint": common["dataset"], "image_size": common["image_size"],
            "hparams": common["hparams"], "seed": common["seed"], "study": tuning.get("study"),
            "trials": tuning.get("trials"), "pruner": tuning.get("pruner"), "device": common["device"],
            "precision": common["precision"]}


_V1 = {"trained": _v1_trained, "protocol-audit": _v1_protocol_audit, "tuned": _v1_tuned}


def identity_of(doc: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """The identity a ``run.json`` was hashed from, and its version.

    Returns:
        ``(version, identity)``: the recorded identity (version 2 and later); for a run that records none, version 1
        and the identity rebuilt from its fields, or ``None`` for a kind whose version-1 identity held more than
        ``run.json`` records (predictions-only runs hash their predictions file).
    """
    recorded = doc.get("identity")
    if isinstance(recorded, dict):
        return int(recorded.get("identity_version", IDENTITY_VERSION)), recorded
    rebuild = _V1.get(str(doc.get("kind")))
    return 1, rebuild(doc) if rebuild is not None else None


def check_run_id(doc: dict[str, Any]) -> str | None:
    """Check that a ``run.json``'s ``run_id`` is the hash of the identity it records (or, version 1, implies).

    Returns:
        A problem in words, or ``None`` when the id is the identity's hash or the identity cannot be rebuilt.
    """
    _, identity = identity_of(doc)
    recorded = str(doc.get("run_id", ""))
    if identity is None:
        return None
    digest = recorded.rpartition("-")[2]
    if digest != config_hash(identity):
        return f"run id {recorded!r} is not the hash of the identity its run.json records ({config_hash(identity)})"
    return None
