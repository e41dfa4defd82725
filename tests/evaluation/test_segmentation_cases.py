"""Per-case segmentation scores kept at scoring time: the table in metrics.json, its verification, and its readers
(paired comparison and the leaderboard gallery), each checked against the masks scored again independently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from benchmark.cli import main
from benchmark.errors import BusbenchError
from benchmark.evaluation import compare as compare_module
from benchmark.evaluation.compare import compare_runs
from benchmark.evaluation.evaluate import EvaluateRequest, evaluate_predictions
from benchmark.evaluation.predictions import read_run_predictions
from benchmark.evaluation.score import CASE_COLUMNS, inputs_from_cases, score_predictions, stored_cases
from benchmark.metrics.boundary import (
    NSD_TOLERANCE_PX,
    boundary_scores,
    hausdorff_percentile,
    normalised_surface_distance,
)
from benchmark.metrics.segmentation import mask_counts, per_image_dice_iou
from benchmark.results.rundir import RunDir
from benchmark.splits.verify import load_split
from tests.helpers import saved_synthetic_split

SPEC = "synthetic:n=60,size=64"
REPO = Path(__file__).resolve().parents[2]
PUBLISHED_SEGMENTATION = sorted(p.parent for p in (REPO / "leaderboard" / "results").glob("*/run.json")
                                if json.loads(p.read_text())["task"] == "segmentation")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The synthetic data, a 3-fold split saved to a file, and that split as loaded."""
    return saved_synthetic_split(tmp_path_factory.mktemp("split"), SPEC)


def predicted(dataset, case_id: str, how: int) -> np.ndarray:
    """A varied prediction: the reference shifted and grown, missed on some lesions, a false lesion on some normals."""
    ref = dataset.decode(dataset.case(case_id))[1]
    n = sum(map(ord, case_id)) + how
    if n % 7 == 0:
        return np.zeros_like(ref)  # nothing predicted
    if not ref.any():
        out = np.zeros_like(ref)
        if n % 2:
            out[2:6, 3:9] = True  # a false lesion on a normal image
        return out
    return np.roll(ndimage.binary_dilation(ref, iterations=n % 3), (n % 5) - 2, axis=1)


def masks_of(setup, how: int) -> dict[str, tuple[int, np.ndarray]]:
    dataset, _, split = setup
    return {c: (k, predicted(dataset, c, how)) for k, fold in enumerate(split.folds) for c in fold.test}


def evaluated(setup, root: Path, how: int) -> Path:
    """A predictions-only run folder (``busbench evaluate``) of the masks ``predicted(..., how)``."""
    _, split_path, _ = setup
    folder = root / f"masks-{how}"
    folder.mkdir(parents=True)
    rows = ["case_id,fold"]
    for case_id, (k, mask) in masks_of(setup, how).items():
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{case_id}.png")
        rows.append(f"{case_id},{k}")
    (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
    outcome = evaluate_predictions(EvaluateRequest(predictions=folder, dataset=SPEC, splits=split_path,
                                                   out=root / "runs", name=f"seg{how}"))
    assert outcome.status == "completed"
    return outcome.run_dir


@pytest.fixture(scope="module")
def two_runs(setup, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cases")
    return evaluated(setup, root, 0), evaluated(setup, root, 1)


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def without_cases(run_dir: Path, into: Path) -> Path:
    """A copy of a run whose metrics.json lacks the case table, as one scored by an older busbench."""
    copy = Path(shutil.copytree(run_dir, into / run_dir.name))
    metrics = metrics_of(copy)
    del metrics["cases"]
    (copy / "metrics.json").write_text(json.dumps(metrics))
    return copy


def test_case_table_matches_the_masks_scored_independently(setup):
    dataset, _, split = setup
    preds = masks_of(setup, 0)
    metrics = score_predictions("segmentation", split, dataset, preds, folds=[0, 1, 2])
    json.dumps(metrics, allow_nan=False)  # undefined figures are null, never NaN
    table = metrics["cases"]
    assert tuple(table) == CASE_COLUMNS and stored_cases(metrics) is table
    ids = [c for fold in split.folds for c in fold.test]
    assert table["case_id"] == ids and table["fold"] == [preds[c][0] for c in ids]
    assert table["label"] == [dataset.case(c).label for c in ids]
    refs = [dataset.decode(dataset.case(c))[1] for c in ids]
    masks = [preds[c][1] for c in ids]
    dice, iou = per_image_dice_iou(refs, masks)
    for i, (ref, mask) in enumerate(zip(refs, masks, strict=True)):
        assert table["pixels"][i] == ref.size and table["reference_pixels"][i] == ref.sum()
        assert table["predicted_pixels"][i] == mask.sum() and table["intersection_pixels"][i] == (ref & mask).sum()
        for name, value in (("dice", dice[i]), ("iou", iou[i]), ("hd95", hausdorff_percentile(ref, mask))):
            assert (table[name][i] is None) if np.isnan(value) else table[name][i] == pytest.approx(value), (name, i)
        assert table["nsd"][i] == pytest.approx(normalised_surface_distance(ref, mask, NSD_TOLERANCE_PX))
    lesion = [i for i, r in enumerate(refs) if r.any()]
    hits = [i for i in lesion if masks[i].any()]
    assert 0 < len(hits) < len(lesion)  # the predictions miss some lesions: the HD95 convention is exercised
    pooled = metrics["pooled"]
    assert pooled["hd95"] == pytest.approx(np.mean([table["hd95"][i] for i in hits]))
    assert pooled["n_hd95_undefined"] == len(lesion) - len(hits)
    assert pooled["nsd"] == pytest.approx(np.mean([table["nsd"][i] for i in lesion]))
    assert pooled["dice"] == pytest.approx(np.mean([table["dice"][i] for i in lesion]))  # headline unchanged
    assert metrics["headline"]["metric"] == "dice" and pooled["nsd_tolerance_px"] == NSD_TOLERANCE_PX
    assert metrics["ci"]["hd95"]["low"] <= pooled["hd95"] <= metrics["ci"]["hd95"]["high"]
    assert metrics["ci"]["nsd"]["low"] <= pooled["nsd"] <= metrics["ci"]["nsd"]["high"]
    assert all("hd95" in f and "nsd" in f for f in metrics["per_fold"])


def test_inputs_rebuilt_from_the_table_give_the_same_report(setup):
    dataset, _, split = setup
    metrics = score_predictions("segmentation", split, dataset, masks_of(setup, 1), folds=[0, 1, 2])
    inputs = inputs_from_cases(split, stored_cases(metrics), folds=[0, 1, 2])
    assert inputs.report() == {k: v for k, v in metrics["pooled"].items()}
    table = stored_cases(metrics)
    shuffled = {c: list(reversed(v)) for c, v in table.items()}  # row order does not matter, split order is used
    assert inputs_from_cases(split, shuffled, folds=[0, 1, 2]).report() == metrics["pooled"]
    short = {c: v[1:] for c, v in table.items()}
    with pytest.raises(BusbenchError, match="no prediction"):
        inputs_from_cases(split, short, folds=[0, 1, 2])
    assert stored_cases({"cases": {**table, "nsd": table["nsd"][1:]}}) is None
    assert stored_cases({"pooled": {}}) is None


def test_verify_recomputes_the_case_table_and_update_writes_it(two_runs, tmp_path, capsys):
    run = Path(shutil.copytree(two_runs[0], tmp_path / "run"))
    fresh = metrics_of(run)
    assert main(["results", "verify", str(run)]) == 0
    capsys.readouterr()
    tampered = json.loads(json.dumps(fresh))
    i = next(j for j, d in enumerate(tampered["cases"]["dice"]) if d is not None)
    tampered["cases"]["dice"][i] = tampered["cases"]["dice"][i] / 2 + 0.01
    (run / "metrics.json").write_text(json.dumps(tampered))
    assert main(["results", "verify", str(run), "--update"]) == 1
    assert f"cases.dice[{i}]" in capsys.readouterr().out
    assert metrics_of(run) == tampered  # a changed figure is never overwritten
    older = {k: v for k, v in fresh.items() if k != "cases"}
    (run / "metrics.json").write_text(json.dumps(older))
    assert main(["results", "verify", str(run)]) == 1
    assert "cases" in capsys.readouterr().out
    assert main(["results", "verify", str(run), "--update"]) == 0
    assert metrics_of(run) == fresh


def test_verify_matches_the_case_tables_rows_by_case_id(two_runs, tmp_path, capsys):
    # A protocol audit scores a split made in memory (cases in the dataset's order) and saves it sorted by case id,
    # so its verification reads the same rows in another order: each row is compared with its own case's.
    run = Path(shutil.copytree(two_runs[0], tmp_path / "run"))
    fresh = metrics_of(run)
    n = len(fresh["cases"]["case_id"])
    order = list(range(n))[::-1]
    shuffled = json.loads(json.dumps(fresh))
    shuffled["cases"] = {col: [values[i] for i in order] for col, values in fresh["cases"].items()}
    (run / "metrics.json").write_text(json.dumps(shuffled))
    assert main(["results", "verify", str(run)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    i = next(j for j, d in enumerate(shuffled["cases"]["dice"]) if d is not None and j != n - 1 - j)
    shuffled["cases"]["dice"][i] = shuffled["cases"]["dice"][i] / 2 + 0.01
    (run / "metrics.json").write_text(json.dumps(shuffled))
    assert main(["results", "verify", str(run)]) == 1
    assert f"cases.dice[{i}]" in capsys.readouterr().out  # reported at the row the file holds it in
    dropped = json.loads(json.dumps(fresh))
    dropped["cases"] = {col: values[1:][::-1] for col, values in fresh["cases"].items()}  # a case missing
    (run / "metrics.json").write_text(json.dumps(dropped))
    assert main(["results", "verify", str(run)]) == 1
    assert "cases.case_id" in capsys.readouterr().out


@pytest.mark.parametrize("metric", ["dice", "empty_reference_false_positive_rate", "hd95", "nsd"])
def test_paired_comparison_from_stored_cases_equals_the_masks(two_runs, tmp_path, monkeypatch, metric):
    a, b = two_runs
    old_a, old_b = without_cases(a, tmp_path), without_cases(b, tmp_path)
    from_masks = compare_runs(old_a, old_b, SPEC, metric)

    def refuse(*args, **kwargs):
        raise AssertionError("a run with a case table must not be read from its masks")

    monkeypatch.setattr(compare_module, "read_run_predictions", refuse)
    from_tables = compare_runs(a, b, SPEC, metric)
    for side in ("a", "b"):
        from_masks[side].pop("run"), from_tables[side].pop("run")
    assert from_tables == from_masks  # identical numbers, not merely close
    assert from_tables["a"]["value"] == metrics_of(a)["pooled"][metric]


def test_a_table_that_does_not_cover_the_split_is_refused(two_runs, tmp_path):
    run = Path(shutil.copytree(two_runs[0], tmp_path / "run"))
    metrics = metrics_of(run)
    metrics["cases"] = {c: v[:-1] for c, v in metrics["cases"].items()}
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(BusbenchError, match="metrics.json.*no prediction"):
        compare_runs(run, two_runs[1], SPEC)


def test_gallery_reads_the_stored_scores_as_rescoring_would(setup, two_runs):
    pytest.importorskip("streamlit", reason="the leaderboard extra is not installed")
    import pandas as pd

    from leaderboard import gallery, sources

    dataset, _, split = setup
    run = two_runs[0]
    stored = gallery.stored_case_scores(metrics_of(run))
    # Each predicted mask scored here from the metric functions, apart from the evaluator's scoring path.
    ids, folds, refs, preds = [], [], [], []
    for k in range(split.k):
        for case_id, pred in sources.fold_masks(run, k).items():
            ids.append(case_id)
            folds.append(k)
            refs.append(dataset.decode(dataset.case(case_id))[1])
            preds.append(pred)
    counts = mask_counts(refs, preds)
    dice, iou = counts.per_image_dice_iou()
    boundary = boundary_scores(refs, preds)
    again = pd.DataFrame({"case_id": ids, "fold": folds, "label": [dataset.case(c).label for c in ids],
                          "dice": dice, "iou": iou, "hd95": boundary.hd95, "nsd": boundary.nsd,
                          "predicted_pixels": counts.predicted})
    assert list(stored.columns) == gallery.COLUMNS
    order = ["case_id"]
    np.testing.assert_equal(stored.sort_values(order).reset_index(drop=True).to_dict("list"),
                            again.sort_values(order).reset_index(drop=True)[gallery.COLUMNS].to_dict("list"))
    assert gallery.stored_case_scores({"task": "segmentation"}) is None


def test_gallery_sorts_and_pages(setup, two_runs):
    pytest.importorskip("streamlit", reason="the leaderboard extra is not installed")
    from leaderboard import gallery

    scores = gallery.stored_case_scores(metrics_of(two_runs[0]))
    lesion = gallery.subset(scores, "images with a lesion")
    assert lesion["dice"].notna().all() and len(gallery.subset(scores, "all images")) == len(scores)
    worst = gallery.sort_cases(lesion, "HD95")
    missed = int(lesion["hd95"].isna().sum())
    assert missed and worst["hd95"].iloc[:missed].isna().all()  # a missed lesion is the worst boundary
    assert worst["hd95"].iloc[missed:].is_monotonic_decreasing
    best = gallery.sort_cases(lesion, "Dice", best_first=True)
    assert best["dice"].is_monotonic_decreasing and best["dice"].iloc[0] == lesion["dice"].max()
    assert gallery.sort_cases(lesion, "NSD")["nsd"].is_monotonic_increasing
    normals = gallery.sort_cases(gallery.subset(scores, "all images"), "Dice")
    assert normals["dice"].iloc[-1:].isna().all() and normals["dice"].iloc[0] == lesion["dice"].min()
    assert gallery.n_pages(0, 8) == 1 and gallery.n_pages(17, 8) == 3
    pages = [gallery.page(best, k, 8) for k in range(1, gallery.n_pages(len(best), 8) + 1)]
    assert [c for p in pages for c in p["case_id"]] == list(best["case_id"])  # every case on exactly one page
    assert gallery.page(best, 99, 8).equals(pages[-1])


def test_gallery_page_pages_sorts_and_sends_an_old_run_to_verify_update(monkeypatch, tmp_path):
    pytest.importorskip("streamlit", reason="the leaderboard extra is not installed")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from leaderboard import gallery, sources
    from tests import fixtures_leaderboard as fx

    runs = fx.build(tmp_path / "lb")
    monkeypatch.setenv(sources.RESULTS_ENV, str(runs))
    st.cache_data.clear()
    st.cache_resource.clear()

    def open_gallery() -> AppTest:
        at = AppTest.from_file(str(REPO / "leaderboard" / "app.py"), default_timeout=60)
        at.query_params["run"] = fx.RUN_IDS["seg"]
        at.query_params["tab"] = "Gallery"
        at.switch_page("views/submission.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    at = open_gallery()
    assert not any("verify --update" in i.value for i in at.info)
    at.selectbox(key="s-gallery-sort").set_value("HD95")
    at.selectbox(key="s-gallery-size").set_value(16).run()
    at.selectbox(key="s-gallery-page").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    scores = gallery.stored_case_scores(metrics_of(runs / fx.RUN_IDS["seg"]))
    expected = gallery.page(gallery.sort_cases(gallery.subset(scores, "images with a lesion"), "HD95"), 2, 16)
    shown = at.get_by_key("s-gallery-table").dataframe[0].value
    assert list(shown["case_id"]) == list(expected["case_id"]) and len(at.image) == 1 + len(expected)
    without_cases(runs / fx.RUN_IDS["seg"], tmp_path / "old")
    shutil.rmtree(runs / fx.RUN_IDS["seg"])
    shutil.copytree(tmp_path / "old" / fx.RUN_IDS["seg"], runs / fx.RUN_IDS["seg"])
    (runs / "results.sqlite").unlink(missing_ok=True)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = open_gallery()  # a run scored before the case table: the page names the command, and scores nothing
    assert any("busbench results verify --update" in i.value for i in at.info)
    assert len(at.image) == 0  # (test_verify_recomputes_the_case_table_and_update_writes_it runs that command)


def test_a_case_table_needs_the_boundary_scores(setup):
    dataset, _, split = setup
    from benchmark.evaluation.score import case_table, prepare

    inputs = prepare("segmentation", split, dataset, masks_of(setup, 0), folds=[0, 1, 2])
    with pytest.raises(ValueError, match="boundary"):
        case_table(inputs, [])
    with pytest.raises(ValueError, match="boundary"):
        inputs.statistic("hd95")


@pytest.mark.parametrize("run_dir", PUBLISHED_SEGMENTATION, ids=[p.name for p in PUBLISHED_SEGMENTATION])
def test_published_segmentation_runs_keep_their_case_table(run_dir):
    # The committed table's counts give the committed figures exactly (the masks are re-scored by `results verify`
    # and test_published_results; here the table is checked against the numbers it must explain).
    metrics = metrics_of(run_dir)
    table = stored_cases(metrics)
    assert table is not None, f"{run_dir.name}: run 'busbench results verify --update {run_dir}'"
    doc = json.loads((run_dir / "run.json").read_text())
    if doc["split"]["protocol"] == "lucky-split":  # scored on the luckiest draw's test fold alone
        protocol = doc["protocol"]
        n_cases = protocol["draws"][protocol["reported_draw"]]["n_cases"]
        assert 140 <= n_cases <= 170 and doc["split"]["sha256"] is None
    else:
        n_cases = 780
        assert doc["split"]["sha256"]
    assert len(table["case_id"]) == metrics["n_cases"] == n_cases
    lesion = [d for d in table["dice"] if d is not None]
    assert np.mean(lesion) == pytest.approx(metrics["pooled"]["dice"], rel=1e-12)
    assert np.mean([n for n, d in zip(table["nsd"], table["dice"], strict=True) if d is not None]) == pytest.approx(
        metrics["pooled"]["nsd"], rel=1e-12)


@pytest.mark.slow
def test_a_published_case_table_recomputes_from_the_masks(busi):
    # One published run (the slowest part of `results verify`, here on its own): the table comes out again.
    run_dir = PUBLISHED_SEGMENTATION[0]
    doc = json.loads((run_dir / "run.json").read_text())
    split_file = run_dir / "split.json" if (run_dir / "split.json").exists() else REPO / doc["split"]["path"]
    split = load_split(split_file, busi)
    folds = list(range(split.k))
    rescored = score_predictions("segmentation", split, busi, read_run_predictions(RunDir(run_dir), "segmentation",
                                                                                    split, folds), folds=folds)
    committed = stored_cases(metrics_of(run_dir))
    assert committed is not None
    for column in CASE_COLUMNS:
        if column in ("dice", "iou", "hd95", "nsd"):  # undefined (None) exactly where it was
            def floats(values: list) -> np.ndarray:
                return np.array([np.nan if v is None else v for v in values], dtype=float)

            np.testing.assert_allclose(floats(rescored["cases"][column]), floats(committed[column]), rtol=1e-9,
                                       err_msg=column)
        else:
            assert rescored["cases"][column] == committed[column], column
