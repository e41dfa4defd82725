"""Reuse of freed host memory while training on CPU.

glibc's ``malloc`` serves every allocation above its mmap threshold (at most 32 MB on 64-bit Linux) with a fresh
``mmap`` and hands it back to the kernel on ``free``. A training step allocates a gradient for every weight, so a
large dense layer's gradient (VGG16's 25088x4096 layer: 411 MB) is page-faulted in from zero pages on every step:
profiled on ``dajam2025_vgg16`` at batch 4, those page faults were most of the backward pass. Telling ``malloc`` to
serve everything from its heap and to keep freed memory lets the next step reuse the pages already mapped. The
figures are in BENCHMARKS.md ("Freed-memory reuse on CPU"): 2-2.7x for models with large dense layers, 1.5x for a
ResNet-50 in bf16, nothing for a U-Net.

The cost is resident memory: a process keeps its peak footprint until it exits, and the heap can fragment (a freed
block too small for the next aligned request stays mapped beside a new one). ``BUSBENCH_KEEP_FREED_MEMORY=0`` turns
it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

ENV_SWITCH = "BUSBENCH_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse instead of returning it to the kernel.

    Sets ``M_MMAP_MAX = 0`` (no allocation gets its own mapping, so freeing one does not unmap it) and
    ``M_TRIM_THRESHOLD`` to its largest value, 2 GiB (free memory at the heap's top goes back to the kernel only
    beyond that). Process-wide and idempotent; call it before training. A no-op outside Linux with glibc, and when
    ``BUSBENCH_KEEP_FREED_MEMORY`` is ``0``.

    Returns:
        Whether the setting is in force in this process.
    """
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; its value is a C int, hence 2**31 - 1 for the trim threshold.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
