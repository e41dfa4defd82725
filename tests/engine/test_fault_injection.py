"""Kill ``busbench run`` and ``busbench tune`` at several points; resumed, they give what an uninterrupted run gives.

The plugin ``tests/fixture_plugins/faulty`` kills the whole command (its own process and the plugin process, SIGKILL
to the process group) in the middle of an epoch, half-way through writing an epoch checkpoint, or half-way through
writing ``run.json``. The same command, run again without the fault, must finish with predictions and ``metrics.json``
byte-identical to a run that was never interrupted, keep what had finished, leave no half-written file behind, and
verify.

Only the killed commands get interpreters of their own (the fault kills its process group). The uninterrupted and the
resumed commands run in the test's own process, through the same ``main`` a shell's ``busbench`` calls, which saves
an interpreter's start-up (torch imported twice, about 5 s of CPU) per command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.plugins import registry
from tests.helpers import TINY

PLUGINS = Path(__file__).parents[1] / "fixture_plugins"
REPO = Path(__file__).resolve().parents[2]

# The tiny split's folds train on about 15 cases: 4 batches of 4 an epoch, 3 epochs, 2 checkpoints a fold (none after
# the last epoch); run.json is written when the run opens, after each of the 3 folds and when the run ends (5 times).
RUN_FAULTS = ["loss:17", "checkpoint:5", "run.json:1", "run.json:3", "run.json:5"]


def _killed(args: list[str], tmp: Path, fault: str) -> subprocess.CompletedProcess[str]:
    """``busbench ARGS`` in an interpreter of its own, with ``$FAULT_AT`` set to ``fault``."""
    # (``$BUSBENCH_SUBMISSIONS`` is the folder of ``faulty`` alone, set by the ``faulty_plugin`` fixture)
    env = {**os.environ, "FAULT_COUNTS": str(tmp / "fault-counts.json"), "FAULT_AT": fault}
    # A session of its own: the fault kills the command's process group, not pytest.
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, start_new_session=True)


@pytest.fixture(scope="module", autouse=True)
def faulty_plugin(tmp_path_factory: pytest.TempPathFactory):
    """A submissions folder holding a copy of ``faulty`` alone, found by every command of this module.

    In this process too (``faulty`` imported here without a fault is harmless). Not the whole fixture folder: other
    tests import its ``heads`` and ``hostile`` packages as top-level modules, and discovering them again under
    busbench's package name would be a name clash, which the stored catalog of that folder would then keep.
    """
    assert "FAULT_AT" not in os.environ
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copytree(PLUGINS / "faulty", folder / "faulty", ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUSBENCH_SUBMISSIONS", str(folder))
        registry.rediscover()
        yield
    registry.unregister("faulty")
    registry.rediscover()


def _straight(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``busbench ARGS`` without a fault, in this process; it must exit 0."""
    capsys.readouterr()
    code = main(args)
    assert code == 0, capsys.readouterr().err[-3000:]


def _run_args(split: Path, out: Path) -> list[str]:
    return ["run", "faulty", "--dataset", TINY, "--splits", str(split), "--threads", "1", "--precision", "fp32",
            "--device", "cpu", "--out", str(out)]


def _outputs(run: Path) -> dict[str, bytes]:
    """What must be byte-identical: each fold's predictions and the run's metrics."""
    files = sorted(run.glob("fold-*/predictions.csv")) + [run / "metrics.json"]
    return {str(f.relative_to(run)): f.read_bytes() for f in files}


@pytest.fixture(scope="module")
def uninterrupted_run(faulty_plugin, tiny_split, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("straight")
    assert main(_run_args(tiny_split, tmp / "runs")) == 0
    (run,) = (tmp / "runs").glob("faulty-*")
    return run


@pytest.mark.parametrize("fault", RUN_FAULTS)
def test_a_killed_run_resumes_to_the_uninterrupted_results(fault, uninterrupted_run, tiny_split, tmp_path, capsys):
    killed = _killed(_run_args(tiny_split, tmp_path / "runs"), tmp_path, fault)
    assert killed.returncode == -9, (fault, killed.returncode, killed.stderr[-2000:])
    (run,) = (tmp_path / "runs").glob("faulty-*")
    assert run.name == uninterrupted_run.name  # without the fault, the plugin's identity is the same
    kept = {p: p.stat().st_mtime_ns for p in run.glob("fold-*/result.json")}
    _straight(_run_args(tiny_split, tmp_path / "runs"), capsys)
    assert _outputs(run) == _outputs(uninterrupted_run)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # finished folds were kept, not redone
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert not [p.name for p in run.rglob("*.tmp")]  # no half-written file left behind
    assert not list(run.glob("fold-*/checkpoint.pt"))
    _straight(["results", "verify", str(run), "--dataset", TINY], capsys)


def _tune_args(split: Path, out: Path) -> list[str]:
    return ["tune", "faulty", "--dataset", TINY, "--splits", str(split), "--folds", "0,1", "--trials", "3",
            "--epochs", "2", "--pruner", "none", "--heartbeat", "1", "--threads", "1", "--precision", "fp32",
            "--device", "cpu", "--out", str(out), "--study", "faulty-study",
            "--storage", f"sqlite:///{out.parent / 'study.sqlite'}"]


def _trial_params(storage: Path) -> dict[str, list[dict[str, float]]]:
    import optuna
    from optuna.trial import TrialState

    from benchmark.tuning.worker import place_order

    url = f"sqlite:///{storage}"
    return {name: [t.params for t in place_order(optuna.load_study(study_name=name, storage=url).get_trials())
                   if t.state == TrialState.COMPLETE]
            for name in sorted(optuna.study.get_all_study_names(url))}


@pytest.fixture(scope="module")
def uninterrupted_tune(faulty_plugin, tiny_split, tmp_path_factory) -> tuple[Path, dict[str, list[dict[str, float]]]]:
    tmp = tmp_path_factory.mktemp("tune-straight")
    assert main(_tune_args(tiny_split, tmp / "runs")) == 0
    (run,) = (tmp / "runs").glob("faulty-tuned-*")
    return run, _trial_params(tmp / "study.sqlite")


# Two outer folds of 3 trials and a final training each, 2 epochs: a trial's 8 loss calls. Tuning writes no epoch
# checkpoint (trials and final trainings start again when killed), so its faults are mid-epoch and mid-run.json.
TUNE_FAULTS = ["loss:13", "run.json:2"]


@pytest.mark.parametrize("fault", TUNE_FAULTS)
def test_a_killed_tuning_resumes_to_the_uninterrupted_results(fault, uninterrupted_tune, tiny_split, tmp_path,
                                                              capsys):
    straight_run, straight_trials = uninterrupted_tune
    killed = _killed(_tune_args(tiny_split, tmp_path / "runs"), tmp_path, fault)
    assert killed.returncode == -9, (fault, killed.returncode, killed.stderr[-2000:])
    _straight(_tune_args(tiny_split, tmp_path / "runs"), capsys)
    (run,) = (tmp_path / "runs").glob("faulty-tuned-*")
    assert run.name == straight_run.name
    # the same parameters were proposed, in the same order, and the same model predicted the same test cases
    assert _trial_params(tmp_path / "study.sqlite") == straight_trials
    assert _outputs(run) == _outputs(straight_run)
    assert not [p.name for p in run.rglob("*.tmp")]
