"""A plugin that kills its whole command (``busbench run`` or ``tune``, and the plugin process) at a chosen point.

Used by ``tests/engine/test_fault_injection.py``. ``$FAULT_AT`` chooses the point, counted over every process of the
command in the file ``$FAULT_COUNTS`` (the plugin process inherits the environment, busbench's variables excepted):

* ``loss:N``: in the N-th call of the loss hook (in the middle of an epoch);
* ``checkpoint:N``: half-way through writing the N-th epoch checkpoint (in the plugin process);
* ``run.json:N``: half-way through writing ``run.json`` for the N-th time (in the command's own process).

Half-way means through busbench's own atomic writer: the temporary file holds half of the bytes when the process
group is killed with SIGKILL, as a power cut would leave it. Without ``$FAULT_AT`` this is a small linear
classifier like any other, so the same run resumed without the variable has the same identity.
"""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import torch
from torch import nn

import benchmark.engine.loop as loop
from benchmark.fileio import atomic_write_with
from benchmark.plugins import ModelSpec, SearchParam, Submission, register
from benchmark.results.rundir import RunDir

FAULT = os.environ.get("FAULT_AT", "")


def _count(point: str) -> int:
    """How many times ``point`` was reached so far in this command, this time included."""
    path = Path(os.environ["FAULT_COUNTS"])
    counts = json.loads(path.read_text()) if path.exists() else {}
    counts[point] = counts.get(point, 0) + 1
    path.write_text(json.dumps(counts))
    return counts[point]


def _due(point: str) -> bool:
    kind, _, n = FAULT.partition(":")
    return kind == point and _count(point) == int(n)


def _die() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _half_then_die(path: Path, data: bytes) -> None:
    def write(handle: Any) -> None:
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        _die()

    atomic_write_with(path, write)


if FAULT.startswith("checkpoint:"):
    _real_save = loop._save

    def _save(path: Path, state: dict[str, Any]) -> None:
        if path.name == "checkpoint.pt" and _due("checkpoint"):
            buffer = io.BytesIO()
            torch.save(state, buffer)
            _half_then_die(path, buffer.getvalue())
        _real_save(path, state)

    loop._save = _save

if FAULT.startswith("run.json:"):
    _real_write_run = RunDir.write_run

    def _write_run(self: RunDir, doc: dict[str, Any]) -> None:
        if _due("run.json"):
            _half_then_die(self.run_json, json.dumps(doc).encode())
        _real_write_run(self, doc)

    RunDir.write_run = _write_run  # type: ignore[method-assign]


@register
class Faulty(Submission):
    """A linear classifier on 32 px images that dies where ``$FAULT_AT`` says."""

    spec = ModelSpec(name="faulty", task="classification", authors=("busbench tests",), input_size=32,
                     description="dies at a chosen point", defaults={"batch_size": 4, "epochs": 3},
                     search_space={"lr": SearchParam("float", 1e-4, 1e-2, log=True)})

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 3))

    def loss(self, outputs: torch.Tensor, batch: Any) -> torch.Tensor:
        if _due("loss"):
            _die()
        return super().loss(outputs, batch)
