"""Where and how a run computes: device, numeric precision and CPU threads, recorded in every run."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any

import torch

from benchmark.engine.host_memory import keep_freed_memory
from benchmark.errors import BusbenchError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ComputeSetup:
    """The resolved compute choices of a run.

    Attributes:
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``).
        device_name: Human-readable name (CPU model or GPU name).
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast with gradient scaling, CUDA only).
        threads: Torch intra-op threads.
        channels_last: Whether images and models use the channels-last memory format.
        keep_freed_memory: Whether freed host memory is kept for reuse (CPU runs; see ``engine.host_memory``).
    """

    device: str
    device_name: str
    precision: str
    threads: int
    channels_last: bool
    keep_freed_memory: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record for ``run.json``."""
        return asdict(self)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for forward passes (a no-op in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.split(":")[0], dtype=dtype)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def resolve_compute(device: str = "auto", precision: str = "auto", threads: int | None = None) -> ComputeSetup:
    """Resolve ``--device``, ``--precision`` and ``--threads`` into a :class:`ComputeSetup`, and apply the threads.

    ``auto`` picks CUDA when available. Precision ``auto`` is bf16 autocast where the hardware supports it (CPU:
    measured about 2x faster than fp32 for resnet18 at 224 px on 2 threads; CUDA with bf16 support), else fp32.
    On CPU it also makes ``malloc`` keep freed memory for the next training step
    (:func:`benchmark.engine.host_memory.keep_freed_memory`).

    Raises:
        BusbenchError: For CUDA requested without a GPU, fp16 on CPU, or an unknown value.
    """
    if device not in DEVICES and not device.startswith("cuda:"):
        raise BusbenchError("--device", f"unknown device {device!r} (expected {', '.join(DEVICES)})")
    if precision not in PRECISIONS:
        raise BusbenchError("--precision", f"unknown precision {precision!r} (expected {', '.join(PRECISIONS)})")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BusbenchError("--device", "CUDA was requested but no GPU is available to torch")
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    on_cuda = device.startswith("cuda")
    if precision == "auto":
        if on_cuda:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "bf16" if _cpu_supports_bf16() else "fp32"
    if precision == "fp16" and not on_cuda:
        raise BusbenchError("--precision", "fp16 autocast needs CUDA; use bf16 or fp32 on CPU")
    name = torch.cuda.get_device_name(torch.device(device)) if on_cuda else _cpu_name()
    keep = False if on_cuda else keep_freed_memory()
    return ComputeSetup(device, name, precision, torch.get_num_threads(), channels_last=True, keep_freed_memory=keep)


def _cpu_supports_bf16() -> bool:
    # AVX-512 BF16 / AMX make bf16 fast; without them autocast still works but gains little. Be conservative and
    # only choose bf16 when torch reports a bf16-capable CPU backend.
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without loading TorchInductor to do it.

    Since torch 2.x the public function also sets ``torch._inductor.config.deterministic``, and importing that
    config loads TorchInductor and TorchDynamo: about 1.4 s of CPU in a command's own process, which seeds each fold
    but builds no optimizer (measured on a 2-core AMD EPYC, torch 2.13; plugin processes have TorchDynamo loaded by
    their zygote, for torch's optimizers). busbench compiles nothing; where a plugin has loaded TorchInductor
    already, the public function runs so that its flag is set as well.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


def seed_everything(seed: int) -> None:
    """Seed torch's global RNG and ask for deterministic kernels (reruns on one machine give the same numbers)."""
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _deterministic_kernels()
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
