"""Peak memory of one fold's training and prediction, recorded in ``run.json`` so a user can size a machine.

Host memory is the process's peak resident set (``VmHWM`` in ``/proc/self/status``). Linux lets a process reset
that mark (writing ``5`` to ``/proc/self/clear_refs``), so each fold starts from what it holds at its start, not
from the largest fold before it; where the reset is refused, the figure is the peak since the process started and
is marked so. GPU memory is torch's peak of allocated tensors on the run's device, reset the same way.

A fold resumed from a checkpoint in a new process reports the peak of its resumed part only.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _vm_hwm_kib() -> int | None:
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss_kib() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss


def reset_host_peak() -> bool:
    """Reset the process's peak-resident mark to its current resident set.

    Returns:
        Whether the mark was reset (Linux only); when not, :func:`host_peak_mib` reports the peak since the
        process started.
    """
    try:
        _CLEAR_REFS.write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def host_peak_mib() -> float:
    """The process's peak resident memory in MiB since start or since :func:`reset_host_peak`."""
    kib = _vm_hwm_kib()
    return round((kib if kib is not None else _maxrss_kib()) / 1024, 1)


@dataclass
class PeakMemory:
    """Measures the peak memory of one stretch of work: construct it at the start, call :meth:`to_json` at the end.

    Attributes:
        device: The run's torch device (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
    """

    device: str
    _host_reset: bool = False

    def __post_init__(self) -> None:
        self._host_reset = reset_host_peak()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))

    def to_json(self) -> dict[str, Any]:
        """The peaks so far: ``host_mib``, ``host_since`` (``"fold"`` or ``"process"``) and, on CUDA, ``gpu_mib``."""
        out: dict[str, Any] = {"host_mib": host_peak_mib(), "host_since": "fold" if self._host_reset else "process"}
        if self.device.startswith("cuda"):
            out["gpu_mib"] = round(torch.cuda.max_memory_allocated(torch.device(self.device)) / 2**20, 1)
        return out
