"""Seeding and deterministic kernels (``benchmark.engine.device``), checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return done.stdout.split()


def test_seeding_asks_for_deterministic_kernels_without_loading_torchinductor() -> None:
    # torch.use_deterministic_algorithms imports TorchInductor (about 1.4 s in every fold's plugin process).
    out = _run("import sys, torch; from benchmark.engine.device import seed_everything; seed_everything(3); "
               "print(torch.are_deterministic_algorithms_enabled(), "
               "torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._inductor' in sys.modules, "
               "torch.initial_seed())")
    assert out == ["True", "True", "False", "3"]


def test_seeding_sets_torchinductors_flag_where_a_plugin_loaded_it() -> None:
    out = _run("import torch, torch._inductor.config as config; from benchmark.engine.device import seed_everything; "
               "seed_everything(0); print(torch.are_deterministic_algorithms_enabled(), config.deterministic)")
    assert out == ["True", "True"]
