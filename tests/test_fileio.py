"""Atomic writes: a file is either its old content or the complete new one, and no temporary file is left."""

from __future__ import annotations

import functools
import stat
import subprocess
import sys

import pytest
import torch

from benchmark.fileio import atomic_write_bytes, atomic_write_with, try_lock


def test_a_writer_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.pt"
    atomic_write_bytes(target, b"old")

    def half_then_fail(handle):
        handle.write(b"new but incomplete")
        raise KeyboardInterrupt  # an interrupted run

    with pytest.raises(KeyboardInterrupt):
        atomic_write_with(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_streamed_torch_checkpoint_reads_back_and_is_world_readable(tmp_path):
    state = {"weights": torch.arange(10.0), "epoch": 3}
    target = tmp_path / "deep" / "model.pt"
    atomic_write_with(target, functools.partial(torch.save, state))
    loaded = torch.load(target, weights_only=True)
    assert loaded["epoch"] == 3 and torch.equal(loaded["weights"], state["weights"])
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_lock_is_held_by_one_holder_at_a_time_and_released(tmp_path):
    path = tmp_path / "locks" / "run.lock"
    with try_lock(path) as first:
        with try_lock(path) as second:
            assert first and not second
    with try_lock(path) as again:
        assert again
    held = subprocess.Popen([sys.executable, "-c", "import sys, time; from benchmark.fileio import try_lock\n"
                             f"with try_lock({str(path)!r}) as got:\n    print(got, flush=True); time.sleep(30)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "True"
        with try_lock(path) as mine:
            assert not mine
    finally:
        held.kill()
        held.wait()
    with try_lock(path) as after_the_holder_died:
        assert after_the_holder_died
