"""``busbench run --workers N`` (local executor): folds train at once, each in its own process, with the same files
as fold after fold."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.engine import fold as fold_module
from tests.helpers import TINY


def _run(split: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "small_cnn", "--dataset", TINY, "--splits", str(split), "--image-size", "32", "--epochs", "1",
            "--precision", "fp32", "--threads", "1", "--out", str(out), *extra]


@pytest.mark.slow
def test_two_folds_at_once_write_the_same_files_as_one_at_a_time(tiny_split, tmp_path, monkeypatch):
    at_once: set[int] = set()
    most = [0]
    guard = threading.Lock()
    original = fold_module.run_fold

    def counting(submission, dataset, k, *args, **kwargs):
        with guard:
            at_once.add(k)
            most[0] = max(most[0], len(at_once))
        try:
            return original(submission, dataset, k, *args, **kwargs)
        finally:
            with guard:
                at_once.discard(k)

    assert main(_run(tiny_split, tmp_path / "serial")) == 0
    monkeypatch.setattr(fold_module, "run_fold", counting)
    assert main(_run(tiny_split, tmp_path / "parallel", "--workers", "2")) == 0
    assert most[0] == 2  # two folds did train at the same time
    (serial,) = (tmp_path / "serial").glob("small_cnn-*")
    (parallel,) = (tmp_path / "parallel").glob("small_cnn-*")
    assert serial.name == parallel.name  # the same run: how many folds train at once is not part of it
    for name in sorted(p.relative_to(serial).as_posix() for p in serial.rglob("fold-*/predictions.csv")):
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    folds = json.loads((parallel / "run.json").read_text())["folds"]
    assert sorted(folds) == [str(k) for k in range(len(folds))] and len(folds) >= 2
    assert json.loads((serial / "metrics.json").read_text())["headline"] == \
        json.loads((parallel / "metrics.json").read_text())["headline"]
