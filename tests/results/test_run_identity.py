"""Run identity: a plugin's own code, CPU threads and the GPU model make a run; recorded ids check out."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.cli import main
from benchmark.results.identity import check_run_id, compute_identity, identity_of, source_fingerprint
from benchmark.results.rundir import git_commit
from tests.helpers import TINY

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''
from torch import nn

from benchmark.plugins import ModelSpec, Submission, register

from .layers import WIDTH


@register
class TinyNet(Submission):
    spec = ModelSpec(name="tiny_identity", task="classification", description="identity test", input_size=16,
                     defaults={"lr": 1e-3, "epochs": 1, "batch_size": 16})

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, WIDTH, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(WIDTH, 3))
'''


def _busbench_run(plugins: Path, split: Path, out: Path, threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "BUSBENCH_SUBMISSIONS": str(plugins)}
    return subprocess.run([sys.executable, "-m", "benchmark", "run", "tiny_identity", "--dataset", TINY, "--splits",
                           str(split), "--folds", "0", "--precision", "fp32", "--device", "cpu", "--threads",
                           str(threads), "--out", str(out)], capture_output=True, text=True, env=env, cwd=REPO)


def test_editing_a_plugin_or_the_threads_makes_another_run(tiny_split, tmp_path):
    package = tmp_path / "plugins" / "tiny_identity"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (package / "layers.py").write_text("WIDTH = 4\n")
    out = tmp_path / "runs"
    first = _busbench_run(tmp_path / "plugins", tiny_split, out, threads=1)
    assert first.returncode == 0, first.stderr
    (package / "layers.py").write_text("WIDTH = 8\n")  # the user edits the layer widths
    edited = _busbench_run(tmp_path / "plugins", tiny_split, out, threads=1)
    assert edited.returncode == 0, edited.stderr
    assert "complete already, kept" not in edited.stderr
    more_threads = _busbench_run(tmp_path / "plugins", tiny_split, out, threads=2)
    assert more_threads.returncode == 0, more_threads.stderr
    folders = sorted(out.glob("tiny_identity-*"))
    assert len(folders) == 3
    docs = [json.loads((f / "run.json").read_text()) for f in folders]
    assert all(d["code"]["files"] == ["tiny_identity/__init__.py", "tiny_identity/layers.py"] for d in docs)
    assert len({d["code"]["sha256"] for d in docs}) == 2 and len({d["params"] for d in docs}) == 2
    assert all(check_run_id(d) is None and identity_of(d)[0] == 2 for d in docs)
    # The same command again finds its own run.
    again = _busbench_run(tmp_path / "plugins", tiny_split, out, threads=2)
    assert again.returncode == 0 and "fold 0: complete already, kept" in again.stderr, again.stderr


def test_source_fingerprint_of_a_single_module(tmp_path, monkeypatch):
    (tmp_path / "solo_plugin_for_identity.py").write_text("class Solo:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("solo_plugin_for_identity")
    try:
        before = source_fingerprint(module.Solo)
        assert before["files"] == ["solo_plugin_for_identity.py"] and len(before["sha256"]) == 64
        (tmp_path / "solo_plugin_for_identity.py").write_text("class Solo:\n    width = 2\n")
        assert source_fingerprint(module.Solo)["sha256"] != before["sha256"]
    finally:
        sys.modules.pop("solo_plugin_for_identity", None)


def test_compute_identity_holds_threads_on_cpu_and_the_gpu_model_on_cuda():
    cpu = SimpleNamespace(device="cpu", device_name="Some CPU", precision="fp32", threads=4)
    gpu = SimpleNamespace(device="cuda:1", device_name="NVIDIA H100", precision="bf16", threads=4)
    assert compute_identity(cpu) == {"device": "cpu", "precision": "fp32", "threads": 4}
    assert compute_identity(gpu) == {"device": "cuda", "precision": "bf16", "device_name": "NVIDIA H100"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_counts_untracked_plugins_as_uncommitted(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "README").write_text("x\n")
    _git(tmp_path, "add", "README")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "run.json").write_text("{}")  # untracked, but not code
    assert git_commit(tmp_path) == head
    (tmp_path / "submissions" / "mine").mkdir(parents=True)
    (tmp_path / "submissions" / "mine" / "__init__.py").write_text("# a plugin never committed\n")
    assert git_commit(tmp_path) == f"{head}-dirty"
    _git(tmp_path, "add", "submissions")
    _git(tmp_path, "commit", "-q", "-m", "plugin")
    assert git_commit(tmp_path) == _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "README").write_text("changed\n")
    assert git_commit(tmp_path).endswith("-dirty")
    assert git_commit(tmp_path / "nowhere") is None


def test_committed_runs_check_out_under_their_identity_version():
    docs = [json.loads(p.read_text()) for p in sorted((REPO / "leaderboard" / "results").glob("*/run.json"))]
    assert docs
    assert [d["run_id"] for d in docs if check_run_id(d)] == []
    tampered = {**docs[0], "hparams": {**docs[0]["hparams"], "lr": 123.0}}
    assert "is not the hash of the identity" in check_run_id(tampered)


@pytest.mark.slow
def test_verify_fails_on_a_run_id_that_is_not_its_identity(tiny_split, tmp_path, capsys):
    from benchmark.engine.runner import RunRequest, run_submission

    run = run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(0,), epochs=1, image_size=32,
                                    precision="fp32", threads=1, out=tmp_path / "runs")).run_dir
    assert main(["results", "verify", str(run), "--dataset", TINY]) == 0
    doc = json.loads((run / "run.json").read_text())
    doc["identity"]["seed"] = 99  # claims an identity its id was not made from
    (run / "run.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["results", "verify", str(run), "--dataset", TINY]) == 1
    assert "is not the hash of the identity" in capsys.readouterr().out
