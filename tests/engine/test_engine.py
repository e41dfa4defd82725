"""The training engine as a user meets it: a full run, resume after SIGKILL, plugin failures, the results store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.cli import main
from benchmark.data.open import open_dataset
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.errors import BusbenchError
from benchmark.plugins import ModelSpec, Submission, register, unregister
from benchmark.results.store import ResultsStore, default_store_url
from tests.helpers import TINY


def _run_args(split: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "small_cnn", "--dataset", TINY, "--splits", str(split), "--image-size", "32", "--precision", "fp32",
            "--threads", "1", "--out", str(out), *extra]


def _cmd(split: Path, out: Path, *extra: str) -> list[str]:
    """``busbench run`` as a shell starts it: an interpreter of its own."""
    return [sys.executable, "-m", "benchmark", *_run_args(split, out, *extra)]


@pytest.mark.slow
def test_quickstart_runs_the_whole_loop_on_the_synthetic_default(tmp_path, capsys):
    code = main(["quickstart", "--out", str(tmp_path), "--epochs", "1", "--image-size", "32"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "planted duplicate pairs recovered" in out and "[5/5]" in out and "balanced_accuracy" in out
    run_dirs = list((tmp_path / "runs").glob("small_cnn-*"))
    assert len(run_dirs) == 1
    run = json.loads((run_dirs[0] / "run.json").read_text())
    metrics = json.loads((run_dirs[0] / "metrics.json").read_text())
    assert run["status"] == "completed" and run["split"]["protocol"] == "clean" and run["params"] > 0
    assert metrics["n_cases"] == 780 and metrics["complete"] and metrics["bootstrap"]["unit"] == "duplicate cluster"
    assert set(run["compute"]) >= {"device", "device_name", "precision", "threads"}
    # a second quickstart finds everything done: split verified, run complete
    assert main(["quickstart", "--out", str(tmp_path), "--epochs", "1", "--image-size", "32"]) == 0
    assert "verified existing" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_results(tiny_split, tmp_path, capsys):
    # Only the killed command has an interpreter of its own; the straight and the resumed ones run through main here.
    assert main(_run_args(tiny_split, tmp_path / "a", "--epochs", "4")) == 0
    proc = subprocess.Popen(_cmd(tiny_split, tmp_path / "b", "--epochs", "4"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    # kill it hard in the middle of fold 1 (after fold 0 finished and fold 1 checkpointed an epoch)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "b").glob("*/fold-1/checkpoint.pt")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = next((tmp_path / "b").glob("small_cnn-*"))
    assert (run_dir / "fold-0" / "result.json").exists() and not (run_dir / "metrics.json").exists()
    fold0 = (run_dir / "fold-0" / "result.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(_run_args(tiny_split, tmp_path / "b", "--epochs", "4")) == 0
    assert "fold 0: complete already, kept" in capsys.readouterr().err
    assert (run_dir / "fold-0" / "result.json").stat().st_mtime_ns == fold0  # finished results never rewritten
    a_dir = next((tmp_path / "a").glob("small_cnn-*"))
    assert a_dir.name == run_dir.name  # same command, same run identity
    for k in range(3):
        assert (a_dir / f"fold-{k}" / "predictions.csv").read_text() == (
            run_dir / f"fold-{k}" / "predictions.csv").read_text()
    assert json.loads((a_dir / "metrics.json").read_text()) == json.loads((run_dir / "metrics.json").read_text())


class _Flaky(Submission):
    """Fails in the second fold it trains, in a way chosen by ``mode``.

    Each fold trains in its own plugin process, so the folds built so far are counted in the file named by
    ``$FLAKY_COUNTER`` (the plugin process inherits the environment, busbench's own variables excepted).
    """

    spec = ModelSpec(name="flaky_test_model", task="classification", authors=("tests",), input_size=32)
    mode = "raise"

    def build_model(self) -> nn.Module:
        counter = Path(os.environ["FLAKY_COUNTER"])
        builds = int(counter.read_text() or 0) + 1 if counter.exists() else 1
        counter.write_text(str(builds))
        failing = builds == 2
        if failing and self.mode == "raise":
            raise RuntimeError("boom in build_model")
        width = 4 if failing and self.mode == "shape" else 3
        model = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, width))
        if failing and self.mode == "nan":
            nn.init.constant_(model[1].weight, float("nan"))
        return model


class _FlakyShape(_Flaky):
    mode = "shape"


class _FlakyNan(_Flaky):
    mode = "nan"


FLAKY = {"raise": _Flaky, "shape": _FlakyShape, "nan": _FlakyNan}


@pytest.fixture
def flaky(tmp_path, monkeypatch):
    """Register the flaky model of a mode for one test, its fold count in a fresh file."""
    monkeypatch.setenv("FLAKY_COUNTER", str(tmp_path / "builds"))
    registered = []

    def use(mode: str) -> None:
        register(FLAKY[mode])
        registered.append(mode)

    yield use
    if registered:
        unregister("flaky_test_model")


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "message"), [("raise", "boom in build_model"),
                                               ("shape", "predictions have shape"),
                                               ("nan", "loss is nan")])
def test_a_failing_plugin_fails_its_fold_only(tiny_split, tmp_path, flaky, mode, message):
    flaky(mode)
    outcome = run_submission(RunRequest("flaky_test_model", TINY, tiny_split, epochs=1, precision="fp32",
                                        out=tmp_path))
    assert outcome.status == "failed" and list(outcome.failed) == [1] and outcome.metrics is None
    assert message in outcome.failed[1]
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["status"] == "failed" and message in run["errors"]["1"]
    for k in (0, 2):  # the other folds' results are kept
        assert json.loads((outcome.run_dir / f"fold-{k}" / "result.json").read_text())["status"] == "completed"
    row = ResultsStore(default_store_url(tmp_path)).get_run(outcome.run_dir.name)
    assert row["status"] == "failed" and message in row["error"] and row["headline_value"] is None


@pytest.mark.slow
def test_cli_exit_code_is_nonzero_when_a_fold_fails(tiny_split, tmp_path, capsys, flaky):
    flaky("raise")
    code = main(["run", "flaky_test_model", "--dataset", TINY, "--splits", str(tiny_split), "--epochs", "1",
                 "--out", str(tmp_path)])
    assert code == 1 and "fold 1 failed: build_model: RuntimeError: boom" in capsys.readouterr().err


def test_run_checks_its_inputs(tiny_split, tmp_path):
    with pytest.raises(BusbenchError, match="is a classification model, not segmentation"):
        run_submission(RunRequest("small_cnn", TINY, tiny_split, task="segmentation", out=tmp_path))
    with pytest.raises(BusbenchError, match="is not registered"):
        run_submission(RunRequest("no_such_model", TINY, tiny_split, out=tmp_path))
    with pytest.raises(BusbenchError, match="fold"):
        run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(7,), out=tmp_path))
    with pytest.raises(BusbenchError, match="other pixels"):  # the split is verified against the data
        run_submission(RunRequest("small_cnn", "synthetic:n=45,seed=5,size=48", tiny_split, out=tmp_path))
    assert not list(tmp_path.glob("*/run.json"))


@pytest.mark.slow
def test_segmentation_run_scores_at_original_size(tiny_split, tmp_path):
    outcome = run_submission(RunRequest("unet_resnet18", TINY, tiny_split, epochs=1, image_size=32, folds=(0,),
                                        hparams={"batch_size": 8}, precision="fp32", out=tmp_path))
    assert outcome.status == "partial" and outcome.metrics is not None and not outcome.metrics["complete"]
    from benchmark.results.rundir import read_masks

    masks = read_masks(outcome.run_dir / "fold-0" / "masks.npz")
    facts = open_dataset(TINY).facts()
    assert all(m.shape == (facts[c].height, facts[c].width) for c, m in masks.items())
    assert "per image on images with a non-empty reference" in outcome.metrics["convention"]


class _TwoStage(Submission):
    """Segment, then classify the image weighted by the predicted lesion: one classification model, two losses."""

    spec = ModelSpec(name="two_stage_test_model", task="classification", authors=("tests",), input_size=32)

    def build_model(self) -> nn.Module:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.segment = nn.Conv2d(1, 1, 3, padding=1)
                self.classify = nn.Sequential(nn.Flatten(), nn.Linear(2 * 32 * 32, 3))

            def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
                mask_logits = self.segment(x)
                crop = x * torch.sigmoid(mask_logits)
                return {"logits": self.classify(torch.cat([x, crop], 1)), "mask_logits": mask_logits}

        return Net()

    def loss(self, outputs, batch):
        if batch.masks is None:  # the plugin process trains with the training masks
            raise AssertionError("a training batch came without its masks")
        seg = nn.functional.binary_cross_entropy_with_logits(outputs["mask_logits"].float(), batch.masks)
        return nn.functional.cross_entropy(outputs["logits"].float(), batch.labels) + seg

    def predict(self, outputs):
        return torch.softmax(outputs["logits"].float(), dim=1)


@pytest.mark.slow
def test_a_two_stage_submission_is_expressible(tiny_split, tmp_path):
    register(_TwoStage)
    try:
        outcome = run_submission(RunRequest("two_stage_test_model", TINY, tiny_split, epochs=1, precision="fp32",
                                            out=tmp_path))
    finally:
        unregister("two_stage_test_model")
    assert outcome.status == "completed" and outcome.metrics["n_cases"] == 45  # batches carried their masks


@pytest.mark.slow
def test_compare_two_runs_on_one_split(tiny_split, tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        outcome = run_submission(RunRequest("small_cnn", TINY, tiny_split, epochs=1, image_size=32, seed=seed,
                                            precision="fp32", out=tmp_path))
        runs.append(outcome.run_dir)
    from benchmark.evaluation.compare import compare_runs

    same = compare_runs(runs[0], runs[0], TINY)
    assert same["bootstrap"]["difference"] == 0 and same["bootstrap"]["p_value"] == 1
    result = compare_runs(runs[0], runs[1], TINY, metric="accuracy")
    assert result["b"]["value"] - result["a"]["value"] == pytest.approx(result["bootstrap"]["difference"])
    assert len(result["a"]["per_fold"]) == 3
    assert main(["compare", str(runs[0]), str(runs[1]), "--dataset", TINY]) == 0
    assert "corrected resampled t-test" in capsys.readouterr().out
    with pytest.raises(BusbenchError, match="unknown classification metric"):
        compare_runs(runs[0], runs[1], TINY, metric="dice")


@pytest.mark.slow
def test_another_cpu_thread_count_is_another_run(tiny_split, tmp_path):
    # CPU reductions depend on the thread count, so it is part of the run identity: a new folder, never a mix.
    runs = {threads: run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(0,), epochs=1, image_size=32,
                                               precision="fp32", threads=threads, out=tmp_path))
            for threads in (1, 2)}
    assert runs[1].run_dir != runs[2].run_dir and {r.status for r in runs.values()} == {"partial"}
    docs = {t: json.loads((r.run_dir / "run.json").read_text()) for t, r in runs.items()}
    assert {t: d["identity"]["compute"]["threads"] for t, d in docs.items()} == {1: 1, 2: 2}
    again = run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(1,), epochs=1, image_size=32,
                                      precision="fp32", threads=1, out=tmp_path))
    assert again.run_dir == runs[1].run_dir


@pytest.mark.parametrize(("command", "option", "message"), [
    ("run", ["--epochs", "0"], "--epochs: must be a whole number of at least 1, not 0"),
    ("run", ["--set", "batch_size=0"], "--set batch_size: must be a whole number of at least 1, not 0"),
    ("run", ["--set", "epochs=2.5"], "--epochs: must be a whole number of at least 1, not 2.5"),
    ("run", ["--image-size", "4"], "--image-size: must be at least 8 pixels, not 4"),
    ("audit", ["--epochs", "0"], "--epochs: must be a whole number of at least 1, not 0"),
])
def test_a_budget_that_trains_nothing_is_refused_before_anything_runs(tiny_split, tmp_path, capsys, command,
                                                                      option, message):
    if command == "run":
        argv = ["run", "small_cnn", "--dataset", TINY, "--splits", str(tiny_split), "--out", str(tmp_path), *option]
    else:
        argv = ["audit", "protocols", "small_cnn", "--dataset", TINY, "--out", str(tmp_path), *option]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"busbench: error: {message}\n", err
    assert not list(tmp_path.rglob("run.json"))


class _Planted:
    """Unpickling this object writes a file: what a checkpoint planted in a shared --out could do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["truncated", "planted"])
def test_a_damaged_or_planted_checkpoint_restarts_the_fold_and_runs_no_code(tiny_split, tmp_path, capfd, kind):
    options = {"epochs": 2, "image_size": 32, "threads": 1, "precision": "fp32"}
    clean = run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(0,), out=tmp_path / "clean", **options))
    first = run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(1,), out=tmp_path / "runs", **options))
    checkpoint = first.run_dir / "fold-0" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    marker = tmp_path / "marker"
    if kind == "truncated":
        whole = torch.save({"model": {}}, tmp_path / "whole.pt") or (tmp_path / "whole.pt").read_bytes()
        checkpoint.write_bytes(whole[: len(whole) // 2])
    else:
        torch.save({"model": _Planted(str(marker))}, checkpoint)
    capfd.readouterr()
    outcome = run_submission(RunRequest("small_cnn", TINY, tiny_split, folds=(0,), out=tmp_path / "runs", **options))
    err = capfd.readouterr().err
    assert outcome.failed == {} and not marker.exists()
    assert json.loads((outcome.run_dir / "fold-0" / "result.json").read_text())["status"] == "completed"
    assert f"fold 0: checkpoint {checkpoint} cannot be used (" in err and "starts again from its first epoch" in err
    # the fold ran from its first epoch: the same predictions as a run that never had a checkpoint
    ours = (outcome.run_dir / "fold-0" / "predictions.csv").read_text()
    assert ours == (clean.run_dir / "fold-0" / "predictions.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("shares", [("0,1,2", "0,1,2"), ("0", "1,2")])
def test_two_commands_on_one_run_folder_train_each_fold_once_and_keep_every_fold(tiny_split, tmp_path, shares):
    out = tmp_path / "runs"
    env = {**__import__("os").environ, "BUSBENCH_LOCK_POLL": "1"}

    def command(folds: str) -> list[str]:
        return [sys.executable, "-m", "benchmark", "run", "small_cnn", "--dataset", TINY, "--splits",
                str(tiny_split), "--folds", folds, "--epochs", "2", "--image-size", "32", "--threads", "1",
                "--out", str(out)]

    procs = [subprocess.Popen(command(f), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for f in shares]
    logs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    err = "".join(e for _, e in logs)
    for k in range(3):
        assert err.count(f"fold {k} epoch 1/2") == 1, err  # each fold trained by one process only
    (run_dir,) = [p.parent for p in out.glob("*/run.json")]
    doc = json.loads((run_dir / "run.json").read_text())
    assert sorted(doc["folds"]) == ["0", "1", "2"] and doc["status"] == "completed", doc
    assert not list(run_dir.glob("fold-*/checkpoint.pt"))
    for k in range(3):  # nothing of a completed fold was written after its result
        result = run_dir / f"fold-{k}" / "result.json"
        assert (run_dir / f"fold-{k}" / "predictions.csv").stat().st_mtime_ns <= result.stat().st_mtime_ns
    with ResultsStore(default_store_url(out)) as store:
        row = store.get_run(run_dir.name)
    assert row["status"] == "completed"
