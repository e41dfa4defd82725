"""Protocol inflation audit: each protocol's data flow, the summary, resuming, and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import benchmark.engine.fold as engine_fold
from benchmark.audit.leaks import applicable
from benchmark.audit.protocols import (
    COPY_MARK,
    OVERLAY_ALPHA,
    AuditContext,
    AuditRequest,
    audit_protocols,
    augment_before_split_protocol,
    clean_protocol,
    format_table,
    lucky_split_draws,
    mask_overlay_protocol,
    naive_split_protocol,
    original_id,
    parse_protocols,
    select_on_test_protocol,
)
from benchmark.cli import main
from benchmark.data.duplicates import find_duplicates
from benchmark.data.open import open_dataset
from benchmark.engine.plugin_process import PluginProcess
from benchmark.engine.tensors import images_only, labelled
from benchmark.errors import BusbenchError
from benchmark.evaluation.verify import verify_run
from benchmark.plugins import registry
from benchmark.results.identity import source_fingerprint
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.schema import check_structure

TINY = "synthetic:n=45,size=48"
#: The single protocols of a classification audit, in report order (empty-mask-scored-1 is segmentation only).
CLASSIFICATION = [p.name for p in applicable("classification")]


@pytest.fixture(scope="module")
def ctx() -> AuditContext:
    dataset = open_dataset(TINY)
    return AuditContext(dataset, registry.create("small_cnn", {"epochs": 1}), 32, 3, 0, find_duplicates(dataset),
                        source_fingerprint(registry.get("small_cnn"))["sha256"])


def _clusters(ctx: AuditContext) -> dict[str, str]:
    return ctx.duplicates.cluster_ids([c.case_id for c in ctx.dataset.cases])


def test_clean_keeps_copies_and_duplicates_of_test_images_out_of_training_and_selects_on_val(ctx):
    plan = clean_protocol(ctx)
    cluster = _clusters(ctx)
    for k, fold in enumerate(plan.split.folds):
        data = plan.build(k)
        assert data.selection == "val" and data.select.case_ids == fold.val and data.test_ids == fold.test
        training = data.train.case_ids + data.select.case_ids
        assert not any(COPY_MARK in c for c in training)
        assert not {cluster[c] for c in training} & {cluster[c] for c in data.test_ids}
        assert torch.equal(data.test_images, images_only(ctx.dataset, fold.test, ctx.size))


def test_naive_split_lets_duplicates_of_test_images_into_training(ctx):
    # the phantom set plants duplicate pairs; an image-level split must separate some of them (clean never does)
    cluster = _clusters(ctx)
    leaks = 0
    for fold in naive_split_protocol(ctx).split.folds:
        training = {cluster[c] for c in fold.train + fold.val}
        leaks += sum(cluster[c] in training and cluster[c] != c for c in fold.test)
    assert leaks > 0


def test_augment_before_split_puts_copies_of_test_images_in_training(ctx):
    plan = augment_before_split_protocol(ctx)
    check_structure(plan.split, "augment split")  # the scored originals still form proper folds
    all_ids = sorted(c.case_id for c in ctx.dataset.cases)
    assert sorted(c for f in plan.split.folds for c in f.test) == all_ids
    for k in plan.folds:
        data = plan.build(k)
        assert all(COPY_MARK not in c for c in data.test_ids)  # only originals are scored
        assert torch.equal(data.test_images, images_only(ctx.dataset, data.test_ids, ctx.size))
        copied_into_train = {original_id(c) for c in data.train.case_ids if COPY_MARK in c}
        leaked = [c for c in data.test_ids if c in copied_into_train]
        assert leaked and data.facts["test_originals_with_copy_in_train"] == len(leaked)
    # copies are augmented (not pixel copies) and made with a fixed generator (the same every time)
    again = augment_before_split_protocol(ctx).build(0)
    first = plan.build(0)
    assert torch.equal(again.train.images, first.train.images)
    row = first.train.case_ids.index(next(c for c in first.train.case_ids if COPY_MARK in c))
    original = labelled(ctx.dataset, [original_id(first.train.case_ids[row])], ctx.size, ctx.classes).images[0]
    assert not torch.equal(first.train.images[row], original)


def test_mask_overlay_changes_inputs_exactly_where_the_masks_are(ctx):
    plan = mask_overlay_protocol(ctx)
    for k in plan.folds:
        data = plan.build(k)
        truth = labelled(ctx.dataset, data.test_ids, ctx.size, ctx.classes)
        plain = truth.images.int()
        mask = truth.masks.bool()
        expected = torch.where(mask, torch.round(plain * (1 - OVERLAY_ALPHA) + OVERLAY_ALPHA * 255).int(), plain)
        assert torch.equal(data.test_images.int(), expected)
        changed = data.test_images.int() != plain
        assert not (changed & ~mask).any() and torch.equal(changed, mask & (plain != 255))
        normal = [i for i, c in enumerate(data.test_ids) if ctx.dataset.case(c).label == "normal"]
        assert normal and torch.equal(data.test_images[normal], images_only(ctx.dataset, data.test_ids,
                                                                            ctx.size)[normal])
        plain = labelled(ctx.dataset, data.train.case_ids, ctx.size, ctx.classes)
        assert not torch.equal(data.train.images, plain.images)


def test_mask_overlay_is_refused_for_segmentation():
    with pytest.raises(BusbenchError, match="classification protocol"):
        parse_protocols("clean,overlay", "segmentation")
    assert "mask-overlay" not in [p.name for p in parse_protocols(None, "segmentation")]
    assert [p.name for p in parse_protocols("lucky,naive", "classification")] == ["clean", "naive-split",
                                                                                   "lucky-split"]
    with pytest.raises(BusbenchError, match="unknown leak 'peeking'"):
        parse_protocols("clean,peeking", "classification")


def test_select_on_test_selects_on_the_test_cases_and_trains_like_clean(ctx):
    plan, clean = select_on_test_protocol(ctx), clean_protocol(ctx)
    for k, fold in enumerate(plan.split.folds):
        data = plan.build(k)
        assert data.selection == "test" and data.select.case_ids == fold.test == data.test_ids
        assert data.train.case_ids == clean.build(k).train.case_ids


def test_lucky_split_draws_are_different_single_grouped_80_20_splits(ctx):
    draws = lucky_split_draws(ctx, 3)
    tests = [p.split.folds[0].test for p in draws]
    assert all(p.folds == [0] and p.split.k == 5 for p in draws)
    assert len({tuple(t) for t in tests}) == 3
    assert all(abs(len(t) / len(ctx.dataset.cases) - 0.2) < 0.1 for t in tests)


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, list]:
    """One full audit (k=3, 3 lucky draws), recording what every fold's plugin process was given to train on."""
    out = tmp_path_factory.mktemp("protocol-audit")
    calls = []

    class Spy(PluginProcess):
        def load(self, train, select):
            self.given = (train.case_ids, select.case_ids)
            super().load(train, select)

        def train(self, hparams, settings, checkpoint, on_epoch=None):
            calls.append((Path(checkpoint).parts[-3:], *self.given))
            return super().train(hparams, settings, checkpoint, on_epoch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_fold, "PluginProcess", Spy)
        summary = audit_protocols(AuditRequest("small_cnn", TINY, task="classification", epochs=1, image_size=32,
                                               k=3, lucky_draws=3, threads=2, out=out))
    return summary, out, calls


@pytest.mark.slow
def test_every_protocol_trains_on_its_own_data_flow(audit, ctx):
    _, out, calls = audit
    by_run = {}
    for parts, train, val in calls:
        name = next(p for p in CLASSIFICATION if parts[0].startswith(f"small_cnn-{p}-")) if \
            not parts[0].startswith("draw-") else "lucky-split"
        by_run.setdefault(name, []).append((parts, train, val))
    assert {n: len(v) for n, v in by_run.items()} == {
        "clean": 3, "naive-split": 3, "augment-before-split": 3, "mask-overlay": 3, "select-on-test": 3,
        "lucky-split": 3}
    select_dir = next(out.glob("small_cnn-select-on-test-*"))
    select_split = json.loads((select_dir / "split.json").read_text())
    for parts, _, val in by_run["select-on-test"]:
        k = int(parts[1].split("-")[1])
        assert sorted(val) == select_split["folds"][k]["test"]
    clean_split = json.loads((next(out.glob("small_cnn-clean-*")) / "split.json").read_text())
    for parts, train, val in by_run["clean"]:
        k = int(parts[1].split("-")[1])
        assert sorted(val) == clean_split["folds"][k]["val"] and sorted(train) == clean_split["folds"][k]["train"]
    aug_split = json.loads((next(out.glob("small_cnn-augment-before-split-*")) / "split.json").read_text())
    for parts, train, _ in by_run["augment-before-split"]:
        k = int(parts[1].split("-")[1])
        assert set(aug_split["folds"][k]["test"]) & {original_id(c) for c in train if COPY_MARK in c}


def test_summary_reports_each_protocol_against_clean(audit):
    summary, out, _ = audit
    assert json.loads((out / "protocols.json").read_text()) == json.loads(json.dumps(summary))
    rows = {r["protocol"]: r for r in summary["rows"]}
    assert list(rows) == CLASSIFICATION and summary["metric"] == "balanced_accuracy"
    clean = rows["clean"]
    for name, r in rows.items():
        assert r["status"] == "completed"
        assert set(r) >= {"protocol", "run_dir", "metric", "value", "ci_low", "ci_high", "n_cases", "figures",
                          "inflation_pp", "paired"}
        assert set(r["figures"]) == {"balanced_accuracy", "accuracy", "macro_f1", "auc_ovr_macro"}
        assert r["inflation_pp"] == pytest.approx(100 * (r["value"] - clean["value"]))
        run = json.loads((Path(r["run_dir"]) / "run.json").read_text())
        assert run["kind"] == "protocol-audit" and run["split"]["protocol"] == name and run["status"] == "completed"
    assert clean["paired"] is None and rows["lucky-split"]["paired"]["difference"] is None
    for name in ("naive-split", "augment-before-split", "mask-overlay", "select-on-test"):
        paired = rows[name]["paired"]
        assert rows[name]["n_cases"] == clean["n_cases"] == 45
        assert paired["difference"] == pytest.approx(rows[name]["value"] - clean["value"])
        assert paired["low"] <= paired["difference"] <= paired["high"]
    with ResultsStore(default_store_url(out)) as store:
        indexed = {r["protocol"] for r in store.list_runs()}
    assert indexed == set(CLASSIFICATION)
    table = format_table(summary)
    assert all(name in table for name in CLASSIFICATION) and "best of 3 draws" in table


def test_lucky_split_reports_the_best_of_its_draws(audit):
    summary, _, _ = audit
    lucky = next(r for r in summary["rows"] if r["protocol"] == "lucky-split")
    values = [d["value"] for d in lucky["draws"]]
    assert len(values) == 3 and lucky["value"] == max(values)
    assert [d["split_seed"] for d in lucky["draws"]] == [0, 1, 2]
    best = next(d for d in lucky["draws"] if d["value"] == max(values))
    run_dir = Path(lucky["run_dir"])
    assert json.loads((run_dir / "metrics.json").read_text()) == json.loads(
        (run_dir / f"draw-{best['draw']}" / "metrics.json").read_text())
    assert lucky["n_cases"] == best["n_cases"] < 45


def test_every_protocol_run_verifies_from_its_predictions(audit, tmp_path):
    summary, _, _ = audit
    for row in summary["rows"]:
        assert verify_run(Path(row["run_dir"])).reproduced, row["protocol"]
    lucky = Path(next(r for r in summary["rows"] if r["protocol"] == "lucky-split")["run_dir"])
    tampered = Path(shutil.copytree(lucky, tmp_path / lucky.name))
    draw_metrics = tampered / "draw-1" / "metrics.json"
    doc = json.loads(draw_metrics.read_text())
    doc["n_cases"] += 1
    draw_metrics.write_text(json.dumps(doc))
    assert verify_run(tampered).differences.changed == [("draw-1/n_cases", doc["n_cases"], doc["n_cases"] - 1)]


def test_cli_reuses_finished_protocols(audit, capsys):
    summary, out, _ = audit
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    code = main(["audit", "protocols", "small_cnn", "--task", "classification", "--dataset", TINY, "--epochs", "1",
                 "--image-size", "32", "--k", "3", "--lucky-draws", "3", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("complete already, kept") == len(CLASSIFICATION)
    assert "balanced_accuracy" in captured.out and "lucky-split" in captured.out
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == stamps
    assert json.loads((out / "protocols.json").read_text())["rows"][0]["value"] == summary["rows"][0]["value"]


def test_cli_refuses_a_task_mismatch(tmp_path, capsys):
    code = main(["audit", "protocols", "small_cnn", "--task", "segmentation", "--dataset", TINY, "--out",
                 str(tmp_path)])
    assert code == 2 and "is a classification model, not segmentation" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())

