"""``busbench results verify``: a run's recorded scores come out again from its stored predictions, or it says so."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.evaluation.verify import MISSING, metric_differences
from tests.helpers import TINY


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory, tiny_split) -> Path:
    """A completed 3-fold classification run on the tiny synthetic data, its split file kept beside it."""
    root = tmp_path_factory.mktemp("verify")
    split = root / "split.json"
    shutil.copy(tiny_split, split)
    outcome = run_submission(RunRequest(submission="small_cnn", dataset=TINY, splits=split, out=root / "runs",
                                        image_size=32, epochs=1, precision="fp32", threads=1))
    assert outcome.status == "completed"
    return outcome.run_dir


@pytest.fixture
def run_copy(scored_run, tmp_path) -> Path:
    """A copy of the scored run that a test may tamper with (its run.json still names the original split)."""
    return Path(shutil.copytree(scored_run, tmp_path / scored_run.name))


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_a_run_reproduces_its_recorded_scores(run_copy, capsys):
    assert main(["results", "verify", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"{run_copy}: every recorded figure reproduced"


def test_a_changed_score_fails_and_is_never_overwritten(run_copy, capsys):
    metrics = _metrics(run_copy)
    recorded = metrics["headline"]["value"]
    metrics["headline"]["value"] = recorded + 0.01
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    before = (run_copy / "metrics.json").read_bytes()
    assert main(["results", "verify", str(run_copy), "--update"]) == 1
    out = capsys.readouterr().out
    assert "1 recorded figure(s) did not reproduce" in out
    assert f"headline.value: recorded {recorded + 0.01!r}, now {recorded!r}" in out
    assert (run_copy / "metrics.json").read_bytes() == before


def test_a_missing_figure_fails_and_is_written_only_on_request(run_copy, capsys):
    fresh = _metrics(run_copy)
    older = json.loads(json.dumps(fresh))
    del older["pooled"]["macro_f1"], older["bootstrap"]
    (run_copy / "metrics.json").write_text(json.dumps(older))
    assert main(["results", "verify", str(run_copy)]) == 1
    out = capsys.readouterr().out
    assert "2 figure(s) this evaluator computes are missing from metrics.json: pooled.macro_f1, bootstrap" in out
    assert _metrics(run_copy) == older  # without --update nothing is written
    assert main(["results", "verify", str(run_copy), "--update"]) == 0
    assert "wrote 2 missing figure(s)" in capsys.readouterr().out
    assert _metrics(run_copy) == fresh


def test_the_evaluator_version_is_recorded_and_checked(run_copy, capsys):
    # Every metrics.json names the scoring code that made it (benchmark/evaluation/version.py); a file that says
    # another evaluator made it does not verify, even where its figures reproduce.
    from benchmark.evaluation.version import EVALUATOR_VERSION

    metrics = _metrics(run_copy)
    assert metrics["evaluator_version"] == EVALUATOR_VERSION
    metrics["evaluator_version"] = EVALUATOR_VERSION + 1
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    assert main(["results", "verify", str(run_copy)]) == 1
    assert f"evaluator_version: recorded {EVALUATOR_VERSION + 1}, now {EVALUATOR_VERSION}" in capsys.readouterr().out


def test_deleting_the_intervals_fails(run_copy, capsys):
    metrics = _metrics(run_copy)
    del metrics["ci"], metrics["pooled"]["auc_malignant"]
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    assert main(["results", "verify", str(run_copy)]) == 1
    assert "missing from metrics.json: pooled.auc_malignant, ci" in capsys.readouterr().out


def test_metrics_rescored_on_fewer_folds_than_the_run_completed_fail(run_copy, capsys):
    from benchmark.data.open import open_dataset
    from benchmark.evaluation.predictions import read_run_predictions
    from benchmark.evaluation.score import score_predictions
    from benchmark.results.rundir import RunDir
    from benchmark.splits.verify import load_split

    dataset = open_dataset(TINY)
    split = load_split(json.loads((run_copy / "run.json").read_text())["split"]["path"], dataset)
    partial = score_predictions("classification", split, dataset,
                                read_run_predictions(RunDir(run_copy), "classification", split, [0, 2]), folds=[0, 2])
    assert partial["complete"] is False
    (run_copy / "metrics.json").write_text(json.dumps(partial))
    assert main(["results", "verify", str(run_copy)]) == 1
    assert "folds: recorded [0, 2], now [0, 1, 2]" in capsys.readouterr().out


def test_other_data_or_another_split_file_is_refused(run_copy, capsys):
    assert main(["results", "verify", str(run_copy), "--dataset", "synthetic:n=45,seed=5,size=48"]) == 2
    assert "is not the data" in capsys.readouterr().err
    split = Path(json.loads((run_copy / "run.json").read_text())["split"]["path"])
    shutil.copy(split, run_copy / "split.json")  # a run folder's own split file is the one used
    (run_copy / "split.json").write_text((run_copy / "split.json").read_text() + "\n")
    assert main(["results", "verify", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"busbench: error: {run_copy / 'split.json'}: ") and "sha256 differs" in err
    assert len(err.strip().splitlines()) == 1


def test_a_folder_without_scores_is_refused(tmp_path, capsys):
    assert main(["results", "verify", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_metric_differences_by_hand():
    recorded = {"a": 0.5, "b": {"c": [1, 2.0], "d": "x"}, "gone": 1, "nan": math.nan, "flag": True, "n": 3}
    recomputed = {"a": 0.5 + 1e-12, "b": {"c": [1, 2.5], "d": "x"}, "new": 2, "nan": math.nan, "flag": 1,
                  "n": 3.0}
    diff = metric_differences(recorded, recomputed)
    assert diff.changed == [("b.c[1]", 2.0, 2.5), ("gone", 1, MISSING), ("flag", True, 1)]
    assert diff.added == ["new"]
    assert metric_differences({"l": [1, 2]}, {"l": [1, 2, 3]}).changed == [("l", [1, 2], [1, 2, 3])]
