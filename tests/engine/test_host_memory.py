"""Freed host memory is reused on CPU runs: large tensors come from the heap, the same numbers, and an off switch."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from benchmark.engine.device import resolve_compute
from benchmark.engine.host_memory import ENV_SWITCH, keep_freed_memory

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the setting is glibc's malloc"
)

# A 64 MB tensor is above glibc's largest mmap threshold (32 MB), so by default it gets its own mapping, which is
# unmapped when it is freed and page-faulted in again by the next allocation. With the setting it comes from the heap
# (brk), whose pages stay mapped after a free. Prints whether the tensor lies inside the [heap] mapping.
WHERE_A_LARGE_TENSOR_LIVES = """
import sys, torch
from benchmark.engine.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
gradient = torch.ones(16 * 2**20)
address = gradient.data_ptr()
heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(applied, any(int(lo, 16) <= address < int(hi, 16) for lo, hi in heap))
"""

# Three SGD steps of a layer whose weight and gradient (40 MB each) are above the mmap threshold.
TRAINING_STEPS = """
import sys, torch
from benchmark.engine.host_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.manual_seed(0)
torch.set_num_threads(1)
layer = torch.nn.Linear(10240, 1024)
optimiser = torch.optim.SGD(layer.parameters(), lr=0.1)
x, y = torch.randn(4, 10240), torch.randn(4, 1024)
for _ in range(3):
    optimiser.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(layer(x), y)
    loss.backward()
    optimiser.step()
print(loss.item().hex(), float(layer.weight.double().sum()).hex())
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})})
    return result.stdout.strip()


@glibc_only
def test_a_large_tensor_comes_from_the_heap_not_its_own_mapping():
    assert _python(WHERE_A_LARGE_TENSOR_LIVES, "keep").split() == ["True", "True"]
    assert _python(WHERE_A_LARGE_TENSOR_LIVES, "default").split() == ["False", "False"]


@pytest.mark.slow
@glibc_only
def test_reusing_memory_leaves_training_numbers_unchanged():
    assert _python(TRAINING_STEPS, "keep") == _python(TRAINING_STEPS, "default")


def test_the_environment_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert keep_freed_memory() is False
    assert resolve_compute("cpu", "fp32", None).keep_freed_memory is False


@glibc_only
def test_cpu_runs_record_the_setting():
    compute = resolve_compute("cpu", "fp32", None)
    assert compute.keep_freed_memory is True
    assert compute.to_json()["keep_freed_memory"] is True
