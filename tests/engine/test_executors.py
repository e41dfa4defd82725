"""``busbench run --executor dask``: the same files as the local executor, on a local two-worker Dask cluster."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.plugins import registry
from benchmark.results.store import ResultsStore, default_store_url
from tests.helpers import TINY

distributed = pytest.importorskip("distributed", reason="Dask is not installed (pip install -e '.[distributed]')")

REPO = Path(__file__).resolve().parents[2]

# Fails fold 1 only, in whichever process trains it: train_fold seeds torch with derived_seed(seed, fold, -1) just
# before build_model, so the fold is known without any state shared between processes.
FAILING_PLUGIN = '''
import torch
from torch import nn

from benchmark.engine.loop import derived_seed
from benchmark.plugins import ModelSpec, Submission, register


@register
class FailsFoldOne(Submission):
    spec = ModelSpec(name="fails_fold_one", task="classification", authors=("tests",), input_size=32)

    def build_model(self):
        if torch.initial_seed() == derived_seed(0, 1, -1):
            raise RuntimeError("boom in fold 1")
        return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 3))
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A two-worker cluster on 127.0.0.1 whose workers (and this process) also see the failing plugin."""
    plugins = tmp_path_factory.mktemp("plugins")
    (plugins / "fails_fold_one").mkdir()
    (plugins / "fails_fold_one" / "__init__.py").write_text(FAILING_PLUGIN)
    saved = os.environ.get("BUSBENCH_SUBMISSIONS")
    os.environ["BUSBENCH_SUBMISSIONS"] = os.pathsep.join([str(REPO / "submissions"), str(plugins)])
    registry.rediscover()  # this process runs the local side of the comparison
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None)
    try:
        yield local
    finally:
        local.close()
        registry.unregister("fails_fold_one")
        if saved is None:
            os.environ.pop("BUSBENCH_SUBMISSIONS", None)
        else:
            os.environ["BUSBENCH_SUBMISSIONS"] = saved
        registry.rediscover()


def _run(split: Path, out: Path, *extra: str, model: str = "small_cnn") -> list[str]:
    return ["run", model, "--dataset", TINY, "--splits", str(split), "--image-size", "32", "--epochs", "1",
            "--precision", "fp32", "--threads", "1", "--out", str(out), *extra]


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
def test_a_grid_on_two_dask_workers_writes_the_same_files_as_the_local_executor(tiny_split, tmp_path, capsys):
    assert main(_run(tiny_split, tmp_path / "local", "--seed", "0,1")) == 0
    local_out = capsys.readouterr().out
    assert main(_run(tiny_split, tmp_path / "dask", "--seed", "0,1", "--executor", "dask", "--workers", "2")) == 0
    dask_out = capsys.readouterr().out
    assert dask_out.count("status: completed") == local_out.count("status: completed") == 2
    runs = sorted(p.name for p in (tmp_path / "local").glob("small_cnn-*"))
    assert len(runs) == 2 and sorted(p.name for p in (tmp_path / "dask").glob("small_cnn-*")) == runs
    for run_id in runs:
        a, b = tmp_path / "local" / run_id, tmp_path / "dask" / run_id
        _same_files(a, b, ["metrics.json", *(f"fold-{k}/predictions.csv" for k in range(3))])
        run_a, run_b = (json.loads((d / "run.json").read_text()) for d in (a, b))
        assert run_b["status"] == "completed" and run_b["params"] == run_a["params"]
        assert {k: v["best_epoch"] for k, v in run_b["folds"].items()} == {
            k: v["best_epoch"] for k, v in run_a["folds"].items()} and len(run_b["folds"]) == 3
        executor = run_b["executor"]
        assert executor["kind"] == "dask" and executor["workers"] == 2 and "executor" not in run_a
        assert set(executor["folds"]) == {"0", "1", "2"}
        assert all(w.startswith("tcp://127.0.0.1:") for w in executor["folds"].values())  # nothing beyond this host
        row = ResultsStore(default_store_url(tmp_path / "dask")).get_run(run_id)
        assert row["status"] == "completed" and row["headline_value"] is not None


@pytest.mark.slow
def test_a_failing_fold_is_reported_as_the_local_executor_reports_it(tiny_split, tmp_path, cluster, capsys):
    assert main(_run(tiny_split, tmp_path / "local", model="fails_fold_one")) == 1
    local_err = capsys.readouterr().err
    code = main(_run(tiny_split, tmp_path / "dask", "--executor", "dask", "--scheduler", cluster.scheduler_address,
                     model="fails_fold_one"))
    dask_err = capsys.readouterr().err
    assert code == 1
    line = "fold 1 failed: build_model: RuntimeError: boom in fold 1"
    assert line in local_err and line in dask_err
    a = next((tmp_path / "local").glob("fails_fold_one-*"))
    b = tmp_path / "dask" / a.name
    run_a, run_b = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert run_a["status"] == run_b["status"] == "failed" and run_a["errors"] == run_b["errors"]
    assert run_b["executor"]["scheduler"] == cluster.scheduler_address
    assert not (a / "metrics.json").exists() and not (b / "metrics.json").exists()
    _same_files(a, b, ["fold-0/predictions.csv", "fold-2/predictions.csv"])
    row = ResultsStore(default_store_url(tmp_path / "dask")).get_run(a.name)
    assert row["status"] == "failed" and "boom in fold 1" in row["error"] and row["headline_value"] is None


def test_bad_input_is_a_one_line_error_before_anything_trains(tiny_split, tmp_path, cluster, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cases = [
        (["--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"], "--scheduler: cannot reach a Dask"),
        (["--executor", "dask", "--scheduler", "http://127.0.0.1:8786"], "expected tcp://HOST:PORT"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler: applies to --executor dask only"),
        (["--workers", "0"], "--workers: must be at least 1"),
        (["--executor", "dask", "--workers", "2", "--scheduler", cluster.scheduler_address], "--workers: sizes"),
        (["--executor", "dask", "--folds", "7", "--scheduler", cluster.scheduler_address], "fold(s) [7] do not exist"),
    ]
    for extra, message in cases:
        assert main(_run(tiny_split, tmp_path / "out", *extra)) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("busbench: error: ") and message in err and err.count("\n") == 1, err
    # an unknown model is found on the worker and comes back as the same one-line error
    assert main(_run(tiny_split, tmp_path / "out", "--executor", "dask", "--scheduler", cluster.scheduler_address,
                     model="no_such_model")) == 2
    err = capsys.readouterr().err
    assert err.startswith("busbench: error: model 'no_such_model': is not registered") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing was written, let alone trained
