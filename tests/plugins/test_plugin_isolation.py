"""A plugin's code runs where the test fold's ground truth is not (issue 16, item 1).

Hostile plugins (``tests/fixture_plugins/hostile``) look for the test labels on the call stack, through the garbage
collector, in module globals, through the dataset folder named in ``sys.argv`` and through ``$BUSBENCH_BUSI``. In a
process that holds the dataset each of them finds it and predicts every label right (the control below); through a
real ``busbench run``, whose plugin code runs in fold processes given training cases and bare test images only, they
score at chance on noise images whose labels the pixels do not carry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.data.open import open_dataset
from benchmark.engine.plugin_process import PluginProcess
from benchmark.engine.tensors import images_only, to_model_input
from benchmark.engine.zygote import plugin_environment
from benchmark.errors import BusbenchError
from benchmark.metrics.classification import CLASSES
from benchmark.plugins import ModelSpec, Submission
from benchmark.splits.make import make_split
from benchmark.testing.leakage import CHANCE_LIMIT, write_noise_dataset

PLUGINS = Path(__file__).parents[1] / "fixture_plugins"
sys.path.insert(0, str(PLUGINS))
import hostile  # noqa: E402  (the plugin package, imported here for the in-process control)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = write_noise_dataset(tmp_path_factory.mktemp("noise"), hostile.SIZE)
    split = tmp_path_factory.mktemp("split") / "split.json"
    make_split(open_dataset(root), k=3, seed=0, val_fraction=0.25).save(split)
    return root, split


@pytest.mark.slow
def test_each_hostile_plugin_finds_the_truth_in_a_process_that_holds_it(noise, monkeypatch, tmp_path):
    root, _ = noise
    other = open_dataset(write_noise_dataset(tmp_path / "other", hostile.SIZE, seed=1))  # noqa: F841 (found first)
    dataset = open_dataset(root)  # a local of this frame, tracked by gc, and (below) a module global
    monkeypatch.setattr(sys, "argv", ["busbench", "run", "hostile_argv", "--dataset", str(root)])
    monkeypatch.setenv("BUSBENCH_BUSI", str(root))
    monkeypatch.setattr(hostile, "EXPOSED", dataset, raising=False)
    ids = [c.case_id for c in dataset.cases]
    truth = [dataset.classes.index(dataset.case(c).label) for c in ids]
    images = images_only(dataset, ids, hostile.SIZE)
    for cls in hostile.HOSTILE:
        plugin = cls()
        model = plugin.build_model()
        probs = plugin.predict(model(to_model_input(images.float().div(255), plugin.spec)))
        assert probs.argmax(1).tolist() == truth, cls.how


@pytest.mark.slow
def test_hostile_plugins_score_at_chance_through_busbench_run(noise, tmp_path):
    root, split = noise
    names = [cls.spec.name for cls in hostile.HOSTILE]
    env = {**os.environ, "BUSBENCH_SUBMISSIONS": str(PLUGINS), "BUSBENCH_BUSI": str(root)}
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", *names, "--dataset", str(root), "--splits",
                           str(split), "--epochs", "1", "--threads", "1", "--precision", "fp32", "--out",
                           str(tmp_path / "runs")], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {json.loads(p.read_text())["submission"]["name"]: p.parent for p in (tmp_path / "runs").glob("*/run.json")}
    assert sorted(runs) == sorted(names)
    for name, run in runs.items():
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["pooled"]["balanced_accuracy"] < CHANCE_LIMIT, (name, metrics["pooled"])
        verified = subprocess.run([sys.executable, "-m", "benchmark", "results", "verify", str(run), "--dataset",
                                   str(root)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert verified.returncode == 0, verified.stderr


def test_the_plugin_process_gets_no_busbench_variables(monkeypatch):
    monkeypatch.setenv("BUSBENCH_BUSI", "/data/BUSI")
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", "/cache")
    monkeypatch.setenv("BUSBENCH_KEEP_FREED_MEMORY", "0")
    env = plugin_environment()
    assert "BUSBENCH_BUSI" not in env and "BUSBENCH_CACHE_DIR" not in env
    assert env["BUSBENCH_KEEP_FREED_MEMORY"] == "0" and env["PATH"] == os.environ["PATH"]


class _LocalModel(Submission):
    spec = ModelSpec(name="local_model", task="classification", authors=("t",), description="t")


def test_a_model_the_plugin_process_cannot_import_is_refused_in_one_line():
    from benchmark.engine.device import resolve_compute

    local = type("Local", (_LocalModel,), {"__qualname__": "f.<locals>.Local"})
    with pytest.raises(BusbenchError, match="is defined in a function; busbench trains each fold in a separate "
                                            "process that imports the model's module"):
        PluginProcess(local, "", resolve_compute("cpu", "fp32", 1))


def test_a_plugin_whose_code_changed_since_the_run_started_is_refused(noise):
    from benchmark.engine.device import resolve_compute
    from benchmark.engine.loop import TrainSettings
    from benchmark.engine.tensors import labelled

    root, _ = noise
    dataset = open_dataset(root)
    ids = [c.case_id for c in dataset.cases][:6]
    with PluginProcess(hostile.HOSTILE[1], "0" * 64, resolve_compute("cpu", "fp32", 1)) as plugin:
        plugin.load(labelled(dataset, ids, 32, CLASSES), labelled(dataset, ids, 32, CLASSES))
        with pytest.raises(BusbenchError, match="its source files changed while the run was starting"):
            plugin.train({**hostile.HOSTILE[1]().hparams}, TrainSettings(1, 4, 0, 0), None)


def test_a_plugin_process_that_dies_fails_its_fold_in_one_line(noise):
    from benchmark.engine.device import resolve_compute
    from benchmark.engine.loop import PluginError, TrainSettings
    from benchmark.engine.tensors import labelled
    from benchmark.results.identity import source_fingerprint

    root, _ = noise
    dataset = open_dataset(root)
    ids = [c.case_id for c in dataset.cases][:6]
    cls = hostile.Exits
    with PluginProcess(cls, source_fingerprint(cls)["sha256"], resolve_compute("cpu", "fp32", 1)) as plugin:
        plugin.load(labelled(dataset, ids, 32, CLASSES), labelled(dataset, ids, 32, CLASSES))
        with pytest.raises(PluginError, match=r"the plugin's process ended unexpectedly \(exit code 3"):
            plugin.train(cls().hparams, TrainSettings(1, 4, 0, 0), None)
