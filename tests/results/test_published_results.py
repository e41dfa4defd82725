"""The results committed under leaderboard/results, and the commands that publish and list runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.data.busi import load_busi
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import score_predictions
from benchmark.results.rundir import RunDir, file_sha256
from benchmark.splits.verify import load_split

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = sorted((REPO / "leaderboard" / "results").glob("*/run.json"))
# Lucky-split audits keep their draws in sub-folders and have no single split of their own; external runs are scored
# on another dataset (checked below through results verify).
RESCORABLE = [p for p in PUBLISHED if json.loads(p.read_text())["split"]["sha256"]
              and json.loads(p.read_text())["kind"] != "external"]
EXTERNAL = [p for p in PUBLISHED if json.loads(p.read_text())["kind"] == "external"]


def split_path(run_json: Path) -> Path:
    """A run's split file: inside the run folder (protocol audits) or in the repository (leaderboard runs)."""
    path = json.loads(run_json.read_text())["split"]["path"]
    return run_json.parent / path if (run_json.parent / path).exists() else REPO / path


@pytest.mark.parametrize("run_json", PUBLISHED, ids=[p.parent.name for p in PUBLISHED])
def test_published_run_is_complete_and_labelled(run_json):
    run = json.loads(run_json.read_text())
    metrics = json.loads((run_json.parent / "metrics.json").read_text())
    assert run["status"] == "completed" and run["dataset"]["name"] == "BUSI"
    if run["kind"] == "trained":  # leaderboard runs use the clean protocol, on a committed split
        assert run["split"]["protocol"] == "clean" and run["split"]["sha256"] == file_sha256(split_path(run_json))
        assert metrics["complete"] and metrics["n_cases"] == 780
    elif run["kind"] == "external":  # trained on BUSI's folds of a committed external split file
        assert run["split"]["sha256"] == file_sha256(REPO / run["split"]["path"])
        assert metrics["internal"]["complete"] and metrics["gap"]["value"] is not None
    else:
        assert run["kind"] == "protocol-audit" and run["split"]["protocol"] == run["protocol"]["name"]
    assert metrics["headline"]["value"] is not None
    assert run["git_commit"] and run["versions"]["torch"] and run["compute"]["device"]


@pytest.mark.slow
@pytest.mark.parametrize("run_json", RESCORABLE, ids=[p.parent.name for p in RESCORABLE])
def test_published_scores_recompute_from_their_predictions(run_json, busi_dir):
    # Anyone can re-score a published run from its committed predictions and get the committed numbers.
    run = json.loads(run_json.read_text())
    busi = load_busi(busi_dir)
    split = load_split(split_path(run_json), busi)
    predictions = read_run_predictions(RunDir(run_json.parent), run["task"], split, range(split.k))
    rescored = score_predictions(run["task"], split, busi, predictions, folds=list(range(split.k)))
    committed = json.loads((run_json.parent / "metrics.json").read_text())
    assert rescored["headline"] == pytest.approx(committed["headline"])
    for mine, theirs in zip(rescored["per_fold"], committed["per_fold"], strict=True):
        assert {k: v for k, v in mine.items() if k != "undefined"} == pytest.approx(
            {k: v for k, v in theirs.items() if k != "undefined"})


@pytest.mark.parametrize("run_json", EXTERNAL, ids=[p.parent.name for p in EXTERNAL])
def test_published_external_runs_verify(run_json, busi_dir):
    # The committed external examples re-score from their predictions: BUSI's own folds, and every image of the
    # synthetic second site (made again from its spec), through the external split file.
    from benchmark.evaluation.verify import verify_run

    check = verify_run(run_json.parent, str(busi_dir))
    assert check.reproduced and check.complete, check


def test_publish_list_and_reindex(tmp_path, capsys):
    src = PUBLISHED[0].parent
    code = main(["results", "publish", str(src), "--to", str(tmp_path / "pub")])
    assert code == 0 and (tmp_path / "pub" / src.name / "metrics.json").exists()
    assert not list((tmp_path / "pub" / src.name).rglob("*.pt"))
    assert main(["results", "publish", str(src), "--to", str(tmp_path / "pub")]) == 2  # never rewritten
    assert "published already" in capsys.readouterr().err
    assert main(["results", "reindex", str(tmp_path / "pub")]) == 0
    assert main(["results", "list", "--runs", str(tmp_path / "pub")]) == 0
    out = capsys.readouterr().out
    assert "indexed 1 run(s)" in out and src.name in out and "completed" in out


def test_empty_store_says_how_to_fill_it(tmp_path, capsys):
    assert main(["results", "list", "--runs", str(tmp_path)]) == 0
    assert "busbench run" in capsys.readouterr().out
