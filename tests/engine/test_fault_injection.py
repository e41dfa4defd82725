"""Kill ``busbench run`` and ``busbench tune`` at several points; resumed, they give what an uninterrupted run gives.

The plugin ``tests/fixture_plugins/faulty`` kills the whole command (its own process and the plugin process, SIGKILL
to the process group) in the middle of an epoch, half-way through writing an epoch checkpoint, or half-way through
writing ``run.json``. The same command, run again without the fault, must finish with predictions and ``metrics.json``
byte-identical to a run that was never interrupted, keep what had finished, leave no half-written file behind, and
verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from tests.helpers import TINY

PLUGINS = Path(__file__).parents[1] / "fixture_plugins"
REPO = Path(__file__).resolve().parents[2]

# The tiny split's folds train on about 15 cases: 4 batches of 4 an epoch, 3 epochs, 2 checkpoints a fold (none after
# the last epoch); run.json is written when the run opens, after each of the 3 folds and when the run ends (5 times).
RUN_FAULTS = ["loss:17", "checkpoint:5", "run.json:1", "run.json:3", "run.json:5"]


def _busbench(args: list[str], tmp: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUSBENCH_SUBMISSIONS": str(PLUGINS), "FAULT_COUNTS": str(tmp / "fault-counts.json")}
    env.pop("FAULT_AT", None)
    if fault is not None:
        env["FAULT_AT"] = fault
    # A session of its own: the fault kills the command's process group, not pytest.
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, start_new_session=True)


def _run_args(split: Path, out: Path) -> list[str]:
    return ["run", "faulty", "--dataset", TINY, "--splits", str(split), "--threads", "1", "--precision", "fp32",
            "--device", "cpu", "--out", str(out)]


def _outputs(run: Path) -> dict[str, bytes]:
    """What must be byte-identical: each fold's predictions and the run's metrics."""
    files = sorted(run.glob("fold-*/predictions.csv")) + [run / "metrics.json"]
    return {str(f.relative_to(run)): f.read_bytes() for f in files}


@pytest.fixture(scope="module")
def uninterrupted_run(tiny_split, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("straight")
    done = _busbench(_run_args(tiny_split, tmp / "runs"), tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp / "runs").glob("faulty-*")
    return run


@pytest.mark.parametrize("fault", RUN_FAULTS)
def test_a_killed_run_resumes_to_the_uninterrupted_results(fault, uninterrupted_run, tiny_split, tmp_path, capsys):
    killed = _busbench(_run_args(tiny_split, tmp_path / "runs"), tmp_path, fault)
    assert killed.returncode == -9, (fault, killed.returncode, killed.stderr[-2000:])
    (run,) = (tmp_path / "runs").glob("faulty-*")
    assert run.name == uninterrupted_run.name  # without the fault, the plugin's identity is the same
    kept = {p: p.stat().st_mtime_ns for p in run.glob("fold-*/result.json")}
    resumed = _busbench(_run_args(tiny_split, tmp_path / "runs"), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _outputs(run) == _outputs(uninterrupted_run)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # finished folds were kept, not redone
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert not [p.name for p in run.rglob("*.tmp")]  # no half-written file left behind
    assert not list(run.glob("fold-*/checkpoint.pt"))
    # verified in this process (it starts no plugin process and has no fault to survive: a command of its own
    # would only add an interpreter's start-up)
    capsys.readouterr()
    assert main(["results", "verify", str(run), "--dataset", TINY]) == 0, capsys.readouterr().err


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
def uninterrupted_tune(tiny_split, tmp_path_factory) -> tuple[Path, dict[str, list[dict[str, float]]]]:
    tmp = tmp_path_factory.mktemp("tune-straight")
    done = _busbench(_tune_args(tiny_split, tmp / "runs"), tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp / "runs").glob("faulty-tuned-*")
    return run, _trial_params(tmp / "study.sqlite")


# Two outer folds of 3 trials and a final training each, 2 epochs: a trial's 8 loss calls. Tuning writes no epoch
# checkpoint (trials and final trainings start again when killed), so its faults are mid-epoch and mid-run.json.
TUNE_FAULTS = ["loss:13", "run.json:2"]


@pytest.mark.parametrize("fault", TUNE_FAULTS)
def test_a_killed_tuning_resumes_to_the_uninterrupted_results(fault, uninterrupted_tune, tiny_split, tmp_path):
    straight_run, straight_trials = uninterrupted_tune
    killed = _busbench(_tune_args(tiny_split, tmp_path / "runs"), tmp_path, fault)
    assert killed.returncode == -9, (fault, killed.returncode, killed.stderr[-2000:])
    resumed = _busbench(_tune_args(tiny_split, tmp_path / "runs"), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (run,) = (tmp_path / "runs").glob("faulty-tuned-*")
    assert run.name == straight_run.name
    # the same parameters were proposed, in the same order, and the same model predicted the same test cases
    assert _trial_params(tmp_path / "study.sqlite") == straight_trials
    assert _outputs(run) == _outputs(straight_run)
    assert not [p.name for p in run.rglob("*.tmp")]
