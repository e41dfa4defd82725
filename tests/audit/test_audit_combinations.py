"""Leaks combined into one protocol, a committed split file as the clean folds, and the published-flag readings."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.audit.leaks import LEAKS, Protocol, parse_protocol, report_order
from benchmark.audit.paper_protocols import FLAG_READINGS, PUBLISHED, UnknownFlag, paper_protocols, readings
from benchmark.audit.protocol_data import COPY_MARK, overlay_masks
from benchmark.audit.protocol_plans import AuditContext, parse_protocols, protocol_plans
from benchmark.audit.protocols import AuditRequest, audit_protocols
from benchmark.cli import main
from benchmark.data.duplicates import find_duplicates
from benchmark.data.open import open_dataset
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.engine.tensors import labelled
from benchmark.errors import BusbenchError
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import prepare
from benchmark.evaluation.verify import verify_run
from benchmark.metrics.segmentation import paper_dice_iou
from benchmark.plugins import registry
from benchmark.results.identity import source_fingerprint
from benchmark.results.rundir import RunDir
from benchmark.splits.make import make_split, redeal
from benchmark.splits.schema import read_split

TINY = "synthetic:n=45,size=48"
FAST = {"epochs": 1, "image_size": 32, "threads": 1}


@pytest.fixture(scope="module")
def split_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("split") / "split.json"
    make_split(open_dataset(TINY), k=3, seed=0, val_fraction=0.5).save(path)
    return path


@pytest.fixture(scope="module")
def ctx(split_file: Path) -> AuditContext:
    dataset = open_dataset(TINY)
    return AuditContext(dataset, registry.create("small_cnn"), 32, 3, 0, find_duplicates(dataset),
                        source_fingerprint(registry.get("small_cnn"))["sha256"], read_split(split_file))


# --- names -----------------------------------------------------------------------------------------------------------


def test_a_protocol_is_named_by_its_leaks_in_composition_order():
    assert parse_protocol("select+overlay+naive").name == "naive-split+mask-overlay+select-on-test"
    assert parse_protocol("overlay+augment").name == "augment-before-split+mask-overlay"
    assert parse_protocol("clean") == Protocol() and parse_protocol("clean").name == "clean"
    empty = parse_protocol("naive+empty")
    assert empty.scoring_only and empty.training == parse_protocol("naive-split") and empty.name.endswith("scored-1")
    for bad, message in [("clean+naive", "combines with none"), ("naive+naive", "names naive-split twice"),
                         ("naive+augment", "drop naive-split"), ("naive+peek", "unknown leak 'peek'")]:
        with pytest.raises(BusbenchError, match=message):
            parse_protocol(bad)
    combos = [parse_protocol(t) for t in ("naive+overlay+select", "select", "clean", "augment+overlay", "naive")]
    assert [p.name for p in report_order(combos)] == [
        "clean", "naive-split", "select-on-test", "augment-before-split+mask-overlay",
        "naive-split+mask-overlay+select-on-test"]


def test_a_leak_of_the_other_task_is_refused():
    with pytest.raises(BusbenchError, match="mask-overlay is a classification protocol"):
        parse_protocols("naive+overlay", "segmentation")
    with pytest.raises(BusbenchError, match="empty-mask-scored-1 is a segmentation protocol"):
        parse_protocols("empty", "classification")


# --- the published flags, read ----------------------------------------------------------------------------------------


def _ledger() -> list[dict[str, str]]:
    with PUBLISHED.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_recorded_flag_value_has_a_reading():
    for row in _ledger():
        for flag in ("split", "augmentation_timing", "mask_in_input", "selection_on_test", "empty_mask_convention"):
            if row["task"] in ("classification", "segmentation") and row[flag] not in ("", "n/a"):
                assert row[flag] in FLAG_READINGS[flag], (flag, row[flag])
    with pytest.raises(UnknownFlag, match="selection_on_test 'sometimes' has no reading"):
        readings({"task": "classification", "split": "kfold", "augmentation_timing": "training_only",
                  "mask_in_input": "no", "selection_on_test": "sometimes"})


def test_each_seed_paper_reads_as_its_flags_say():
    rows = [r for r in _ledger() if r["headline"] == "1"]

    def names(paper: str, model: str, mask: str | None = None) -> list[tuple[str, str]]:
        row = next(r for r in rows if r["paper"] == paper and r["model"] == model
                   and (mask is None or r["mask_in_input"] == mask))
        return [(x.protocol.name, x.label) for x in readings(row)]

    # Cheyi: masks overlaid, augmentation possibly before the split: both readings, labelled
    assert names("Cheyi 2024", "VGG16", "yes") == [
        ("naive-split+mask-overlay", "augmentation in training only"),
        ("augment-before-split+mask-overlay", "augmentation before the split")]
    # Baniadam: masks may reach the input; its U-Net averages normal images scored 1
    assert [n for n, _ in names("Baniadam Dizaj 2021", "VGG-16")] == ["naive-split", "naive-split+mask-overlay"]
    assert names("Baniadam Dizaj 2021", "U-Net") == [("naive-split+empty-mask-scored-1", "")]
    # Munukurthi: selection on the reported set likely, augmentation in training only
    assert [n for n, _ in names("Munukurthi 2024", "VGG19")] == ["naive-split+select-on-test",
                                                                 "naive-split+mask-overlay+select-on-test"]
    cheyi = next(r for r in rows if r["paper"] == "Cheyi 2024")
    assert "selection on the reported set unknown: not reproduced" in readings(cheyi)[0].notes
    classification = paper_protocols(rows, "classification")
    assert len(classification) == len(set(classification)) == 8
    assert all(not p.has("lucky-split") for p in classification)
    assert {p.name for p in parse_protocols("papers", "segmentation")} >= {"clean", "naive-split+empty-mask-scored-1"}


# --- plans -----------------------------------------------------------------------------------------------------------


def test_a_committed_split_is_the_clean_folds_and_a_redeal_keeps_its_groups(ctx, split_file):
    plan = protocol_plans(ctx, Protocol())[0]
    assert plan.split is ctx.base and plan.details["group"] == "duplicates"
    again = redeal(ctx.base, ctx.dataset, k=3, seed=0)
    assert [sorted(f.test) for f in again.folds] == [sorted(f.test) for f in ctx.base.folds]  # same seed, same folds
    draws = protocol_plans(ctx, parse_protocol("lucky"), 3)
    groups = {c: r.group for c, r in ctx.base.cases.items()}
    for plan in draws:
        fold = plan.split.folds[0]
        assert plan.folds == [0] and plan.split.k == 5
        assert not {groups[c] for c in fold.test} & {groups[c] for c in (*fold.train, *fold.val)}
    assert len({plan.split.folds[0].test for plan in draws}) == 3


def test_naive_overlay_select_composes_every_leak(ctx):
    plan = protocol_plans(ctx, parse_protocol("naive+overlay+select"))[0]
    assert plan.split.generator["group"] == "none" and plan.details["leaks"] == [
        "naive-split", "mask-overlay", "select-on-test"]
    data = plan.build(1)
    fold = plan.split.folds[1]
    assert data.selection == "test" and data.select.case_ids == tuple(fold.test) == data.test_ids
    plain = labelled(ctx.dataset, fold.train, 32, ctx.classes)
    assert torch.equal(data.train.images, overlay_masks(plain).images)
    assert torch.equal(data.test_images, overlay_masks(labelled(ctx.dataset, fold.test, 32, ctx.classes)).images)


def test_augment_overlay_select_selects_on_the_scored_originals(ctx):
    plan = protocol_plans(ctx, parse_protocol("augment+overlay+select"))[0]
    data = plan.build(0)
    assert data.selection == "test" and data.select.case_ids == data.test_ids
    assert all(COPY_MARK not in c for c in data.test_ids) and any(COPY_MARK in c for c in data.train.case_ids)
    masks = data.train.masks.bool()
    assert masks.any() and torch.all(data.train.images[masks] >= 127)  # overlaid: at least half-way to white


# --- running ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_audit_clean_run_on_a_split_file_is_the_engine_run(split_file, tmp_path):
    """An audit run is an engine run that sees different data and nothing else: clean data, same predictions."""
    run = run_submission(RunRequest("small_cnn", TINY, split_file, out=tmp_path / "runs", **FAST))
    summary = audit_protocols(AuditRequest("small_cnn", TINY, protocols="clean", splits=split_file,
                                           out=tmp_path / "audit", **FAST))
    audit_dir = Path(summary["rows"][0]["run_dir"])
    split = read_split(split_file)
    ours = read_run_predictions(RunDir(run.run_dir), "classification", split, [0, 1, 2])
    theirs = read_run_predictions(RunDir(audit_dir), "classification", split, [0, 1, 2])
    assert ours.keys() == theirs.keys()
    assert all(ours[c][0] == theirs[c][0] and np.allclose(ours[c][1], theirs[c][1]) for c in ours)
    doc = json.loads((audit_dir / "run.json").read_text())
    assert doc["protocol"]["clean_split"]["path"] == str(split_file) and summary["clean_split"] == str(split_file)


@pytest.mark.slow
def test_a_combination_runs_from_the_command_line_and_verifies(split_file, tmp_path, capsys):
    out = tmp_path / "audit"
    code = main(["audit", "protocols", "small_cnn", "--dataset", TINY, "--splits", str(split_file), "--protocols",
                 "select+overlay+naive,lucky", "--lucky-draws", "2", "--epochs", "1", "--image-size", "32",
                 "--threads", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "naive-split+mask-overlay+select-on-test" in captured.out
    summary = json.loads((out / "protocols.json").read_text())
    rows = {r["protocol"]: r for r in summary["rows"]}
    assert list(rows) == ["clean", "lucky-split", "naive-split+mask-overlay+select-on-test"]
    combo = rows["naive-split+mask-overlay+select-on-test"]
    assert combo["leaks"] == ["naive-split", "mask-overlay", "select-on-test"]
    assert combo["paired"]["difference"] == pytest.approx(combo["value"] - rows["clean"]["value"])
    for row in rows.values():
        assert verify_run(Path(row["run_dir"])).reproduced, row["protocol"]
    with pytest.raises(BusbenchError, match="--k: is 4, but"):
        audit_protocols(AuditRequest("small_cnn", TINY, splits=split_file, k=4, out=out, **FAST))


@pytest.mark.slow
def test_the_empty_mask_reading_rescores_the_segmentation_run(split_file, tmp_path):
    summary = audit_protocols(AuditRequest("munukurthi2024_unet", TINY, protocols="naive+empty", splits=split_file,
                                           hparams={"base_width": 8, "batch_size": 8}, out=tmp_path, **FAST))
    rows = {r["protocol"]: r for r in summary["rows"]}
    assert list(rows) == ["clean", "naive-split", "naive-split+empty-mask-scored-1"]
    naive, empty = rows["naive-split"], rows["naive-split+empty-mask-scored-1"]
    assert empty["run_dir"] == naive["run_dir"]  # nothing trained for the scoring leak
    assert len(list(tmp_path.glob("munukurthi2024_unet-*/run.json"))) == 2
    rd = RunDir(naive["run_dir"])
    split = read_split(rd.path / "split.json")
    dataset = open_dataset(TINY)
    inputs = prepare("segmentation", split, dataset, read_run_predictions(rd, "segmentation", split, [0, 1, 2]),
                     folds=[0, 1, 2])
    dice, iou = paper_dice_iou(inputs.counts)
    assert empty["value"] == pytest.approx(dice) and empty["figures"]["iou"]["value"] == pytest.approx(iou)
    assert empty["ci_low"] <= dice <= empty["ci_high"] and empty["scoring"].startswith("mean over all images")
    assert empty["paired"]["difference"] == pytest.approx(dice - rows["clean"]["value"])
    assert set(LEAKS) >= set(empty["leaks"]) == {"naive-split", "empty-mask-scored-1"}


@pytest.mark.slow
def test_two_processes_share_an_audit_and_train_each_protocol_once(tmp_path):
    out = tmp_path / "audit"
    command = [sys.executable, "-m", "benchmark", "audit", "protocols", "small_cnn", "--dataset", TINY,
               "--protocols", "naive,select,overlay", "--k", "3", "--epochs", "1", "--image-size", "32",
               "--threads", "1", "--out", str(out)]
    env = {**os.environ, "BUSBENCH_LOCK_POLL": "1"}
    first, second = (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                     for _ in range(2))
    logs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == second.returncode == 0, logs
    err = logs[0][1] + logs[1][1]
    names = ["clean", "naive-split", "mask-overlay", "select-on-test"]
    assert all(err.count(f"{n}: training small_cnn") == 1 for n in names), err
    assert all(err.count(f"{n}: complete already, kept") == 1 for n in names), err
    assert len(list(out.glob("small_cnn-*/run.json"))) == 4
    assert [r["status"] for r in json.loads((out / "protocols.json").read_text())["rows"]] == ["completed"] * 4
