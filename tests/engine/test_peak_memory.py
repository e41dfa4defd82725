"""Each fold's peak memory is measured from the fold's start and recorded where a user sizing a machine looks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.engine.runner import RunRequest, run_submission
from tests.helpers import TINY

linux_only = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="the reset is Linux's")

# In a fresh process (what earlier tests allocated must not matter): the peak while a 256 MiB tensor lived, the
# resident set after freeing it and resetting the mark, and the peak right after that reset. Peaks come from
# PeakMemory; the resident set from /proc/self/status, an independent reading.
PEAK_AROUND_A_LARGE_TENSOR = """
import torch
from benchmark.engine.peak_memory import PeakMemory
def rss_mib():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
start = rss_mib()
peak = PeakMemory("cpu")
big = torch.ones(64 * 2**20)  # 256 MiB, every page written
during = peak.to_json()
del big
after = PeakMemory("cpu")
print(start, during["host_mib"], during["host_since"], rss_mib(), after.to_json()["host_mib"])
"""


@linux_only
def test_the_peak_covers_a_large_tensor_and_a_reset_forgets_it():
    out = subprocess.run([sys.executable, "-c", PEAK_AROUND_A_LARGE_TENSOR], capture_output=True, text=True,
                         check=True).stdout.split()
    start, during, since, rss_after, peak_after = float(out[0]), float(out[1]), out[2], float(out[3]), float(out[4])
    assert since == "fold"
    assert during >= start + 250
    # After the reset the mark is the resident set of that moment, not the 256 MiB peak before it.
    assert peak_after < during - 200
    assert peak_after <= rss_after + 16


@pytest.mark.slow
def test_every_completed_fold_records_its_peak_memory(tiny_split, tmp_path):
    outcome = run_submission(RunRequest(submission="small_cnn", dataset=TINY, splits=tiny_split, out=tmp_path,
                                        image_size=32, epochs=1, precision="fp32", threads=1, folds=(0, 1)))
    run = json.loads((outcome.run_dir / "run.json").read_text())
    for k in ("0", "1"):
        result = json.loads((outcome.run_dir / f"fold-{k}" / "result.json").read_text())
        memory = run["folds"][k]["memory"]
        assert memory == result["memory"]
        # A Python process with torch loaded holds far more than 50 MiB; a figure below that is not a reading.
        assert memory["host_mib"] > 50 and "gpu_mib" not in memory
        assert memory["host_since"] == ("fold" if Path("/proc/self/clear_refs").exists() else "process")
