"""The run document (``run.json``), built in one place for every kind of run.

Kinds: ``trained`` (``busbench run``), ``tuned`` (``busbench tune``), ``protocol-audit`` (``busbench audit
protocols``), ``predictions`` (``busbench evaluate``) and ``external`` (``busbench external``). Every document holds::

    run_id, kind, created, task
    submission                   the submission's spec (or, for predictions, its name and "source": "predictions")
    hparams, image_size, epochs, seed, tuned, pretrained   how it was trained (all null for predictions)
    dataset                      {"name", "fingerprint", "spec"}
    split                        {"path", "sha256", "k", "group", "protocol"}
    identity, code               what its run id hashes (run identity v2) and the submission's source hash
    folds                        per completed fold: seconds, best epoch, peak memory
    status, compute, git_commit, versions

and the kind's own section (``tuning``, ``protocol``, ``predictions``, ``external``). The engine adds ``params``,
``errors`` and ``finished`` as the run proceeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from benchmark.results.rundir import RunDir, git_commit, package_versions

KINDS = ("trained", "tuned", "protocol-audit", "predictions", "external")

#: The training fields of a run that trained nothing (scored predictions made elsewhere).
NOT_TRAINED: dict[str, Any] = {"hparams": None, "image_size": None, "epochs": None, "seed": None, "tuned": None,
                               "pretrained": None}


def now() -> str:
    """The current UTC time as recorded in run documents (ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def training_record(hparams: dict[str, Any], image_size: int, seed: int, *, tuned: bool = False) -> dict[str, Any]:
    """How a run trains: hyper-parameters, input size, epochs, seed, tuned or not, pretrained or scratch."""
    return {"hparams": hparams, "image_size": image_size, "epochs": hparams["epochs"], "seed": seed, "tuned": tuned,
            "pretrained": bool(hparams.get("pretrained"))}


def new_run_doc(run_id: str, kind: str, *, task: str, submission: dict[str, Any], training: dict[str, Any],
                dataset: dict[str, Any], split: dict[str, Any], identity: dict[str, Any] | None,
                code: dict[str, Any] | None, compute: dict[str, Any] | None, **sections: Any) -> dict[str, Any]:
    """A new run's ``run.json`` document, status ``running`` with no fold done (see module docstring).

    Args:
        run_id: The run folder's name.
        kind: One of :data:`KINDS`.
        task: ``classification`` or ``segmentation``.
        submission: The spec's JSON (``ModelSpec.to_json()``), or a predictions submission's name record.
        training: :func:`training_record`, or :data:`NOT_TRAINED`.
        dataset: ``Dataset.provenance(spec)``.
        split: ``SplitFile.provenance(path, sha256)``.
        identity: What the run id hashes (``None`` for predictions, whose id hashes the predictions file).
        code: The submission's source fingerprint (``None`` for predictions).
        compute: ``ComputeSetup.to_json()`` (``None`` for predictions).
        **sections: The kind's own sections (``tuning``, ``protocol``, ``predictions``...).

    Raises:
        ValueError: On an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r} (expected one of {', '.join(KINDS)})")
    doc: dict[str, Any] = {"run_id": run_id, "kind": kind, "created": now(), "task": task, "submission": submission,
                           **training, "dataset": dataset, "split": split}
    if identity is not None:
        doc.update(identity=identity, code=code)
    doc.update(sections)
    doc.update({"folds": {}, "status": "running", "compute": compute, "git_commit": git_commit(),
                "versions": package_versions()})
    return doc


def open_run_doc(rd: RunDir, new: Callable[[], dict[str, Any]], compute: dict[str, Any]) -> dict[str, Any]:
    """The run's document: the one in ``rd`` when the run resumes, else ``new()``; written back at once.

    A resumed run records this invocation's compute, commit and package versions (a fold finished by an earlier
    invocation keeps its own wall time and memory in its ``result.json``).
    """
    doc = rd.read_run()
    if doc is None:
        doc = new()  # stamped with this invocation's provenance already
    else:
        doc.update({"compute": compute, "git_commit": git_commit(), "versions": package_versions()})
    rd.write_run(doc)
    return doc
