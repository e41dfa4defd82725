"""The Streamlit leaderboard, page by page, through Streamlit's AppTest (no browser), on a small real results folder.

Numbers shown are checked against independent references where there is one: the runs' own metrics.json, the
committed split files' leakage counts printed in the README, ``benchmark.evaluation.compare.compare_runs`` for the
Compare page, and the ECE of ``benchmark.metrics.classification`` for the reliability bins.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit", reason="the leaderboard extra is not installed (pip install -e '.[leaderboard]')")
import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from benchmark.data.open import open_dataset  # noqa: E402
from benchmark.errors import BusbenchError  # noqa: E402
from benchmark.results.rundir import file_sha256  # noqa: E402
from leaderboard import charts, ledger, sources, tables, ui  # noqa: E402
from tests import fixtures_leaderboard as fx  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "leaderboard" / "app.py"
PAGES = ("boards", "published", "submission", "compare", "audit")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build(tmp_path_factory.mktemp("leaderboard"))


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test names its own store; caches are per process, so they are emptied between tests.
    for name in (sources.RESULTS_ENV, sources.DATA_ENV, "BUSBENCH_BUSI"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str, results: Path | str | None = None, monkeypatch: pytest.MonkeyPatch | None = None,
              **query: str) -> AppTest:
    if results is not None and monkeypatch is not None:
        monkeypatch.setenv(sources.RESULTS_ENV, str(results))
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if page != "boards":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tbl(at: AppTest, key: str):
    return at.get_by_key(key).dataframe[0].value


def texts(at: AppTest) -> list[str]:
    return [e.value for e in (*at.text, *at.code)]


def markdown_bodies(at: AppTest) -> list[str]:
    return [e.value for kind in ("markdown", "caption", "info", "warning", "error", "subheader", "title")
            for e in getattr(at, kind)]


def test_boards_rank_clean_runs_and_keep_leaky_and_failed_apart(runs, monkeypatch):
    at = open_page("boards", runs, monkeypatch)
    board = tbl(at, "board-classification")
    metrics = {r: json.loads((runs / r / "metrics.json").read_text()) for r in fx.RUN_IDS.values()
               if (runs / r / "metrics.json").exists()}
    clean = [fx.RUN_IDS[k] for k in ("good", "weak", "hostile")]
    assert set(board["run_id"]) == set(clean)
    expected = sorted(clean, key=lambda r: -metrics[r]["headline"]["value"])
    assert list(board["run_id"]) == expected and list(board["rank"]) == [1, 2, 3]
    for _, row in board.iterrows():
        head = metrics[row["run_id"]]["headline"]
        assert row["headline_value"] == pytest.approx(head["value"])
        assert row["ci"] == f"{head['ci_low']:.3f}–{head['ci_high']:.3f}"
        assert row["fold_values"] == pytest.approx([f["balanced_accuracy"] for f in metrics[row["run_id"]]["per_fold"]])
    assert board.loc[board["run_id"] == fx.RUN_IDS["good"], "device"].item() == "cpu (test cpu)"
    assert board.loc[board["run_id"] == fx.RUN_IDS["good"], "peak_mib"].item() == 502.0  # the largest fold's
    leaky = tbl(at, "leaky-classification")
    assert list(leaky["run_id"]) == [fx.RUN_IDS["naive"]] and "duplicate" in leaky["why"].item()
    failed = tbl(at, "failed-classification")
    assert list(failed["run_id"]) == [fx.RUN_IDS["failed"]]
    assert failed["error"].item() == f"fold 0: {fx.FAILED_ERROR}"
    prov = tbl(at, "prov-classification")
    assert set(prov["git_commit"]) == {"0123456789abcdef0123456789abcdef01234567"}
    assert prov["split_sha256"].str.len().eq(64).all() and prov["dataset_fingerprint"].str.len().eq(64).all()


def test_peak_memory_is_the_largest_folds_on_the_device_that_trained():
    def run(device: str, folds: dict) -> dict:
        return {"compute": {"device": device}, "folds": folds}

    both = {"0": {"memory": {"host_mib": 900.0, "gpu_mib": 300.0}}, "1": {"memory": {"host_mib": 800.0,
                                                                                      "gpu_mib": 400.0}}}
    assert tables.peak_memory_mib(run("cpu", both)) == 900.0
    assert tables.peak_memory_mib(run("cuda:0", both)) == 400.0
    assert tables.peak_memory_mib(run("cpu", {"0": {"seconds": 1.0}})) is None  # made before memory was recorded
    assert tables.peak_memory_mib({}) is None
    assert tables.peak_memory_mib(run("cpu", {"0": {"memory": {"host_mib": True}}})) is None


def test_board_filters_change_the_tables(runs, monkeypatch):
    at = open_page("boards", runs, monkeypatch)
    at.multiselect(key="f-protocol").set_value(["naive-split"]).run()
    assert "No completed clean-protocol run matches these filters." in [e.value for e in at.info]
    assert list(tbl(at, "leaky-classification")["run_id"]) == [fx.RUN_IDS["naive"]]
    at.multiselect(key="f-protocol").set_value(["clean"]).run()
    assert len(tbl(at, "board-classification")) == 3
    with pytest.raises(KeyError):
        at.get_by_key("leaky-classification")
    at.selectbox(key="f-pretrained").set_value("yes").run()
    assert "No completed clean-protocol run matches these filters." in [e.value for e in at.info]
    at.selectbox(key="f-pretrained").set_value("any").run()
    at.radio(key="f-task").set_value("segmentation").run()
    seg = tbl(at, "board-segmentation")
    assert list(seg["run_id"]) == [fx.RUN_IDS["seg"]] and "iou" in seg.columns


def test_empty_store_shows_onboarding_on_every_page(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    for page in ("boards", "submission", "compare"):
        at = open_page(page, tmp_path / "empty", monkeypatch)
        assert any("No runs in this results store yet" in e.value for e in at.info)
        assert any("busbench run" in c.value and "busbench leaderboard" in c.value for c in at.code)
    at = open_page("audit", tmp_path / "empty", monkeypatch)  # the committed splits need no run
    assert len(tbl(at, "a-leakage")) >= 2
    assert any("No dataset audit here yet" in e.value for e in at.info)


def test_a_malformed_run_folder_is_named_and_the_others_still_shown(runs, tmp_path, monkeypatch):
    good = fx.RUN_IDS["good"]
    shutil.copytree(runs / good, tmp_path / "mixed" / good)
    (tmp_path / "mixed" / "broken").mkdir()
    (tmp_path / "mixed" / "broken" / "run.json").write_text("{not json")
    at = open_page("boards", tmp_path / "mixed", monkeypatch)
    assert list(tbl(at, "board-classification")["run_id"]) == [good]
    assert any(t.startswith("broken: is not valid JSON") for t in texts(at))


def test_a_bad_store_url_is_one_line_not_a_traceback(monkeypatch):
    at = open_page("boards", "nosuchdriver://x", monkeypatch)
    assert [e.value for e in at.error] == ["The results store cannot be read."]
    assert "nosuchdriver" in at.code[0].value


def test_hostile_metadata_is_shown_as_text_never_as_html_or_markdown(runs, monkeypatch):
    seen_name = False
    for page, query in (("boards", {}), ("submission", {"run": fx.RUN_IDS["hostile"]}),
                        ("submission", {"run": fx.RUN_IDS["failed"]}), ("compare", {}), ("published", {})):
        at = open_page(page, runs, monkeypatch, **query)
        for body in markdown_bodies(at):  # escaped (a backslash before) renders literally; bare would be live
            assert not re.search(r"(?<!\\)(<img|<script|<b>|\]\(javascript|!\[i\])", body), (page, body)
        assert not any(getattr(e.proto, "allow_html", False) for e in at.markdown)
        if page == "boards":
            seen_name = fx.HOSTILE_NAME in set(tbl(at, "board-classification")["submission"])
        if query.get("run") == fx.RUN_IDS["hostile"]:
            assert fx.HOSTILE_TEXT in texts(at)  # shown literally, as plain text
            assert at.subheader[0].value == ui.md_escape(fx.HOSTILE_NAME)
        if query.get("run") == fx.RUN_IDS["failed"]:
            assert f"fold 0: {fx.FAILED_ERROR}" in texts(at)
    assert seen_name


def test_submission_page_classification(runs, monkeypatch):
    run_id = fx.RUN_IDS["good"]
    metrics = json.loads((runs / run_id / "metrics.json").read_text())
    at = open_page("submission", runs, monkeypatch, run=run_id)
    scores = tbl(at, "s-scores").set_index("metric")  # rows named in words, not by metrics.json's keys
    assert scores.loc["Balanced accuracy", "value"] == pytest.approx(metrics["pooled"]["balanced_accuracy"])
    assert scores.loc["Balanced accuracy", "95% CI low"] == pytest.approx(metrics["ci"]["balanced_accuracy"]["low"])
    assert len(at.get("vega_lite_chart")) == 3  # confusion matrix, ROC, reliability
    assert at.query_params["run"] == run_id
    at = open_page("submission", runs, monkeypatch, run=run_id, tab="Per fold")
    assert len(tbl(at, "s-folds")) == 3 and len(at.get("vega_lite_chart")) == 1
    at = open_page("submission", runs, monkeypatch, run=run_id, tab="Explanations")
    assert len(at.image) == 1  # the Grad-CAM map; the index entry pointing outside gradcam/ is ignored
    at = open_page("submission", runs, monkeypatch, run=run_id, tab="Provenance")
    prov = dict(tbl(at, "s-provenance").values.tolist())
    assert prov["git commit"] == "0123456789abcdef0123456789abcdef01234567" and prov["seed"] == "0"
    assert prov["split sha256"] == file_sha256(runs.parent / "split.json")


def test_a_model_that_predicts_one_class_is_flagged(runs, tmp_path, monkeypatch):
    store, run_id = tmp_path / "store", "collapsed-aaaa00000009"
    fx.extra_class_run(runs, store, run_id, "collapsed", lambda _case: np.array([0.2, 0.7, 0.1]))  # all benign
    shutil.copytree(runs / fx.RUN_IDS["good"], store / fx.RUN_IDS["good"])
    at = open_page("boards", store, monkeypatch)
    board = tbl(at, "board-classification").set_index("run_id")
    assert board.loc[run_id, "constant_prediction"] == "benign"
    assert board.loc[fx.RUN_IDS["good"], "constant_prediction"] == ""
    at = open_page("submission", store, monkeypatch, run=run_id)
    assert any("predicted benign for every case" in w.value for w in at.warning)
    at = open_page("submission", store, monkeypatch, run=fx.RUN_IDS["good"])
    assert not any("for every case" in w.value for w in at.warning)


def test_a_model_that_predicts_empty_masks_is_flagged(runs, tmp_path, monkeypatch):
    store, run_id = tmp_path / "store", "blank-aaaa00000010"
    dataset = open_dataset(fx.SPEC)
    fx.extra_seg_run(runs, store, run_id, "blank",
                     lambda case: np.zeros(dataset.decode(dataset.case(case))[0].shape[:2], bool))
    shutil.copytree(runs / fx.RUN_IDS["seg"], store / fx.RUN_IDS["seg"])
    at = open_page("boards", store, monkeypatch)
    at.radio(key="f-task").set_value("segmentation").run()
    board = tbl(at, "board-segmentation").set_index("run_id")
    assert board.loc[run_id, "constant_prediction"] == "an empty mask"
    assert board.loc[fx.RUN_IDS["seg"], "constant_prediction"] == ""
    at = open_page("submission", store, monkeypatch, run=run_id)
    assert any("empty mask for every image" in w.value for w in at.warning)
    at = open_page("submission", store, monkeypatch, run=fx.RUN_IDS["seg"])
    assert not any("empty mask" in w.value for w in at.warning)


def test_submission_page_segmentation_gallery_and_without_data(runs, monkeypatch):
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["seg"], tab="Gallery")
    assert len(at.image) == 9  # the contour legend and a page of 8 cases, contours drawn from the dataset's masks
    assert any("Dice" in t for t in texts(at))
    assert not any("scored again" in i.value for i in at.info)  # the per-case scores stored at scoring time
    monkeypatch.setattr(sources, "dataset_candidates", lambda run_json: ["/nonexistent/BUSI"])
    st.cache_resource.clear()
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["seg"], tab="Gallery")
    assert not at.image
    assert any("not available here" in e.value and "--data" in e.value for e in at.info)
    assert len(tbl(at, "s-gallery-table")) == 8  # the stored scores need no data: the page's table is shown


def _study_report(fold: int) -> dict:
    """A real study report (what ``busbench tune`` writes to fold-K/tuning.json), from a study that trains nothing.

    Six trials over two parameters, trial 2 pruned, trial 4 failed; in fold 1 every completed trial scores the same,
    so its importances are undefined.
    """
    import optuna

    from benchmark.tuning.show import study_report

    def objective(trial: optuna.Trial) -> float:
        lr, width = trial.suggest_float("lr", 1e-4, 1e-1, log=True), trial.suggest_int("width", 8, 32)
        if trial.number == 2:
            trial.report(0.1, 1)
            raise optuna.TrialPruned()
        if trial.number == 4:
            raise RuntimeError("boom")
        return 0.5 if fold == 1 else 0.9 - abs(np.log10(lr) + 2.5) / 10 + width / 1000

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name=f"tuned-study.fold-{fold}", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=fold))
    study.optimize(objective, n_trials=6, catch=(RuntimeError,))
    return study_report(study)


@pytest.fixture(scope="module")
def tuned_runs(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tuned runs (copies of ``good`` made kind "tuned"): one with each fold's tuning.json, one without."""
    folder = tmp_path_factory.mktemp("tuned")
    for run_id, with_history in (("tuned-aaaa00000007", True), ("tuned-old-aaaa00000008", False)):
        shutil.copytree(runs / fx.RUN_IDS["good"], folder / run_id)
        doc = json.loads((folder / run_id / "run.json").read_text())
        reports = {k: _study_report(k) for k in range(3)}
        doc.update(run_id=run_id, kind="tuned", tuned=True, tuning={
            "search_space": {"lr": {"kind": "float", "low": 1e-4, "high": 0.1, "log": True},
                             "width": {"kind": "int", "low": 8, "high": 32}},
            "trials": 6, "study": "tuned-study", "storage": "sqlite:///runs/tuning.sqlite", "pruner": "median",
            "folds": {str(k): {"study": f"tuned-study.fold-{k}", "trials": r["counts"], "seconds": 1.0,
                               "best_trial": r["best"][0]["number"], "best_value": r["best"][0]["value"],
                               "best_params": r["best"][0]["params"], "ended": "trials"}
                      for k, r in reports.items()}, "seconds": 3.0})
        (folder / run_id / "run.json").write_text(json.dumps(doc))
        if with_history:
            for k, report in reports.items():
                (folder / run_id / f"fold-{k}" / "tuning.json").write_text(json.dumps(report))
    return folder


def _layers(chart) -> list[tuple[str, list[dict]]]:
    """Mark type and data rows of each layer of a Vega-Lite chart element (Streamlit sends the data as Arrow)."""
    import pyarrow as pa

    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    spec = json.loads(chart.proto.spec)
    out = []
    for layer in spec.get("layer", [spec]):
        frame = datasets[layer["data"]["name"]]
        out.append((layer["mark"]["type"], json.loads(frame.to_json(orient="records"))))
    return out


def test_submission_page_tuning_tab_plots_each_folds_study(tuned_runs, monkeypatch):
    run_id = "tuned-aaaa00000007"
    at = open_page("submission", tuned_runs, monkeypatch, run=run_id, tab="Tuning")
    overview = tbl(at, "s-tuning-folds")
    assert list(overview["fold"]) == [0, 1, 2] and set(overview["history"]) == {"in the run folder"}
    assert list(overview[["complete", "pruned", "failed"]].iloc[0]) == [4, 1, 1]
    for fold in (0, 2):
        at.radio(key="s-tuning-fold").set_value(fold).run()
        assert not at.exception
        report = json.loads((tuned_runs / run_id / f"fold-{fold}" / "tuning.json").read_text())
        best = tbl(at, "s-tuning-best")
        assert list(best["trial"]) == [b["number"] for b in report["best"]]
        assert list(best["value"]) == pytest.approx([b["value"] for b in report["best"]])
        assert list(best["lr"]) == pytest.approx([b["params"]["lr"] for b in report["best"]])
        history, importance = at.get("vega_lite_chart")
        spec = json.loads(history.proto.spec)
        assert spec["title"]["text"] == "Optimisation history"
        rules, line, points = _layers(history)
        # every trial is drawn with its state: scored ones as points (pruned at its last score), the failed one,
        # which has no value, as a rule; the line is the best completed value so far
        assert (rules[0], points[0], line[0]) == ("rule", "point", "line")
        assert [(r["number"], r["state"]) for r in rules[1]] == [(4, "fail")]
        assert {r["number"]: r["state"] for r in points[1]} == {0: "complete", 1: "complete", 2: "pruned",
                                                                 3: "complete", 5: "complete"}
        assert {r["number"]: r["value"] for r in points[1]} == pytest.approx(
            {h["number"]: h["value"] for h in report["history"] if h["value"] is not None})
        assert {r["number"]: r["best_so_far"] for r in line[1]} == pytest.approx(
            {h["number"]: h["best_so_far"] for h in report["history"]})
        ((_, bars),) = _layers(importance)
        assert {r["parameter"]: r["importance"] for r in bars} == pytest.approx(report["importances"])
        assert set(report["importances"]) == {"lr", "width"}
    at.radio(key="s-tuning-fold").set_value(1).run()
    assert len(at.get("vega_lite_chart")) == 1  # the history; no importance chart, but why not
    assert any("importances are undefined" in e.value and "scored the same" in e.value for e in at.info)


def test_submission_page_tuned_run_without_history_says_where_it_is(tuned_runs, runs, monkeypatch):
    at = open_page("submission", tuned_runs, monkeypatch, run="tuned-old-aaaa00000008", tab="Tuning")
    assert any("no tuning history" in e.value for e in at.info)
    assert "busbench tune --show tuned-study --storage sqlite:///runs/tuning.sqlite" in [c.value for c in at.code]
    assert not at.get("vega_lite_chart")
    assert set(tbl(at, "s-tuning-folds")["history"]) == {"storage only"}
    # a run that was not tuned has no Tuning tab
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["good"])
    assert "Tuning" not in [t.label for t in at.tabs]


def test_compare_page_matches_busbench_compare(runs, monkeypatch):
    from benchmark.evaluation.compare import compare_runs

    a, b = fx.RUN_IDS["good"], fx.RUN_IDS["weak"]
    at = open_page("compare", runs, monkeypatch, a=a, b=b)
    tests = tbl(at, "c-tests")
    reference = compare_runs(runs / a, runs / b, fx.SPEC)
    boot, ttest = tests.iloc[0], tests.iloc[1]  # shown as text, three decimals
    assert boot["test"].startswith("paired bootstrap") and ttest["test"].startswith("corrected t-test over 3 folds")
    assert boot["B − A"] == f"{reference['bootstrap']['difference']:+.3f}"
    assert boot["p value"] == ui.fmt_p(reference["bootstrap"]["p_value"])
    assert ttest["t"] == f"{reference['ttest']['t']:.3f}"
    assert ttest["p value"] == ui.fmt_p(reference["ttest"]["p_value"])
    folds = tbl(at, "c-folds")
    assert list(folds["A"]) == pytest.approx(reference["a"]["per_fold"])
    # Run B only offers runs on the same split: the segmentation run is not among them.
    assert fx.RUN_IDS["seg"] not in at.selectbox(key="c-b").options


def test_published_page_puts_our_number_beside_the_paper(runs, monkeypatch):
    at = open_page("published", runs, monkeypatch)
    table = tbl(at, "published-table")
    ours = json.loads((runs / fx.RUN_IDS["good"] / "metrics.json").read_text())["pooled"]["accuracy"]
    rows = table[(table["busbench_submission"] == "cheyi2024_cnn") & (table["metric"] == "accuracy")]
    assert not rows.empty and rows["ours"].tolist() == pytest.approx([ours] * len(rows))
    good = json.loads((runs / fx.RUN_IDS["good"] / "run.json").read_text())
    for _, row in rows.iterrows():
        assert row["difference_pp"] == pytest.approx((float(row["published_text"]) - ours) * 100)
        assert row["our_split"] == good["split"]["path"]  # the split our figure stands on
        assert row["our_budget"].startswith(f"{good['image_size']} px")
    assert len(at.get("vega_lite_chart")) == 1
    headline_rows = len(table)
    at.toggle(key="p-headline").set_value(False).run()
    assert len(tbl(at, "published-table")) > headline_rows
    at.multiselect(key="p-paper").set_value(["Li 2025"]).run()
    assert set(tbl(at, "published-table")["paper"]) == {"Li 2025"}


def test_audit_page_leakage_clusters_and_inflation(runs, monkeypatch):
    (runs / "protocols-x.json").write_text((sources.COMMITTED_RESULTS / "protocols-small_cnn-BUSI.json").read_text())
    try:
        at = open_page("audit", runs, monkeypatch)
    finally:
        (runs / "protocols-x.json").unlink()
    leakage = tbl(at, "a-leakage").set_index("split")
    # The README's table of committed splits: grouped 0 of 780 leaked, image-level 275 of 780.
    assert leakage.loc["splits/busi/5fold_grouped.json", "leaked"] == 0
    assert leakage.loc["splits/busi/5fold_naive.json", "leaked"] == 275
    assert leakage.loc["splits/busi/5fold_examination.json", "leaked"] == 0
    assert leakage.loc["splits/busi/5fold_examination_without_normals.json", "leaked"] == 0
    assert len(leakage) == 5  # and the split file beside the segmentation run
    inflation = tbl(at, "a-inflation-protocols-x.json").set_index("protocol")
    assert inflation.loc["mask-overlay", "inflation_pp"] == pytest.approx(9.01783444117541)
    assert len(at.get("vega_lite_chart")) == 2  # leakage and inflation
    synthetic = [i for i, name in enumerate(leakage.index) if not name.startswith("splits/busi/")]
    at.selectbox(key="a-split").set_value(synthetic[0]).run()  # its data is here, so thumbnails show
    assert len(at.image) > 0


def test_audit_page_shows_a_dataset_audits_mask_conflicts_and_burnt_in_marks(runs, monkeypatch):
    from benchmark.audit.report import audit_dataset
    from benchmark.data.open import open_dataset

    dataset = open_dataset(fx.SPEC)
    doc = audit_dataset(dataset)  # a real audit of the fixture's data, given findings the tiny set lacks
    a, b = sorted(c.case_id for c in dataset.cases)[:2]
    doc["mask_conflicts"]["pairs"] = [{"a": a, "b": b, "kind": "near", "relation": fx.HOSTILE_TEXT, "flipped": False,
                                       "score": 0.9, "scale": 1.0, "mask_dice": 0.25}]
    doc["burnt_in"]["cases"] = {
        b: {"annotated": True, "colour": False, "kinds": ["text"]},
        a: {"annotated": False, "colour": True, "kinds": ["colour"]},
    }
    (runs / "audit-synthetic.json").write_text(json.dumps(doc))
    (runs / "audit-broken.json").write_text("{}")
    try:
        at = open_page("audit", runs, monkeypatch)
    finally:
        (runs / "audit-synthetic.json").unlink()
        (runs / "audit-broken.json").unlink()
    assert any("audit-broken.json: not a busbench-audit/1 document" in w.value for w in at.warning)
    conflicts = tbl(at, "a-conflicts-audit-synthetic.json")
    assert list(conflicts["case a"]) == [a] and list(conflicts["case b"]) == [b]
    assert conflicts["mask Dice"].item() == 0.25 and conflicts["relation"].item() == fx.HOSTILE_TEXT
    burnt = tbl(at, "a-burnt-audit-synthetic.json")
    assert list(burnt["case"]) == [a, b] and list(burnt["colour overlay"]) == [True, False]  # colour first
    shown = texts(at)
    summary = f"audit-synthetic.json: {dataset.name}: 30 cases"
    assert any(t.startswith(summary) and "1 mask conflicts" in t for t in shown), shown
    # The data is here: the conflicting pair and the annotated images are shown, named, hostile text as text.
    assert f"{a} and {b}: {fx.HOSTILE_TEXT}, mask Dice 0.250" in shown
    assert f"{b} text" in shown and f"{a} colour" in shown


def test_committed_results_are_indexed_in_the_cache_never_in_the_folder():
    before = sorted(p.name for p in sources.COMMITTED_RESULTS.rglob("*"))
    at = open_page("boards")
    assert len(tbl(at, "board-classification")) >= 1
    assert sources.committed_index_path().is_file()
    after = sorted(p.name for p in sources.COMMITTED_RESULTS.rglob("*"))
    assert not [p for p in set(after) - set(before) if p.endswith(".sqlite")]


def test_cli_serves_on_localhost_only_and_checks_its_store(tmp_path):
    from benchmark.cli import main
    from benchmark.cli.leaderboard_cmds import leaderboard_env, streamlit_command

    cmd = streamlit_command(8600)
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=False))
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP)
    assert flags == {"--server.headless": "true", "--server.address": "localhost",
                     "--browser.gatherUsageStats": "false", "--client.toolbarMode": "viewer",
                     "--server.port": "8600"}
    assert leaderboard_env(str(tmp_path), None)[sources.RESULTS_ENV] == str(tmp_path.resolve())
    with pytest.raises(BusbenchError, match="nosuchdriver"):
        leaderboard_env("nosuchdriver://x", None)
    assert main(["leaderboard", "--results", str(tmp_path / "missing")]) == 2


def test_tables_and_charts_units():
    assert ui.md_escape("<b>[x](javascript:y)</b>") == r"\<b\>\[x\]\(javascript\:y\)\</b\>"
    assert ledger.our_metric("f1", "macro") == ("macro_f1", None)
    assert ledger.our_metric("recall", "per-class: benign") == ("recall", "benign")
    assert ledger.our_metric("f1", "not stated") is None and ledger.fraction("98.1") is None
    assert tables.protocol_label(None) == "no split protocol recorded"
    assert tables.protocol_label("manual") == "its split was edited by hand (busbench splits mark-edited)"
    # Reliability bins reproduce the ECE that metrics.json reports (an independent implementation).
    from benchmark.metrics.classification import expected_calibration_error

    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 3, 200), rng.dirichlet([1, 1, 1], 200)
    bins = charts.reliability_bins(y, p)
    ece = float((bins["cases"] / 200 * (bins["accuracy"] - bins["confidence"]).abs()).sum())
    assert ece == pytest.approx(expected_calibration_error(y, p))


def test_newest_run_per_configuration():
    base = {"run_id": "a", "kind": "trained", "status": "completed", "task": "classification", "submission": "m",
            "protocol": "clean", "headline_metric": "balanced_accuracy", "created": "2026-01-01"}
    rows = [dict(base, headline_value=0.5), dict(base, run_id="b", headline_value=0.7, created="2026-01-03"),
            dict(base, run_id="c", headline_value=0.9, created="2026-01-02", image_size=64)]
    frame = tables.board_frame(rows)
    board = tables.ranking(frame, "classification")
    assert list(board["run_id"]) == ["c", "b"] and list(board["runs"]) == [1, 2]
    assert len(tables.ranking(frame, "classification", per_config=False)) == 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_boards_and_submission_show_budget_and_convergence(runs, tmp_path, monkeypatch):
    store = tmp_path / "store"
    good, weak = fx.RUN_IDS["good"], fx.RUN_IDS["weak"]
    for run_id in (good, weak):
        shutil.copytree(runs / run_id, store / run_id)
    for k in range(3):  # one epoch at a loss far above any chance level: still improving, and did not learn
        (store / good / f"fold-{k}" / "result.json").write_text(json.dumps(
            {"fold": k, "status": "completed", "best_epoch": 1,
             "history": [{"epoch": 1, "train_loss": 5.0, "val_score": 0.4, "seconds": 1.0}]}))
    at = open_page("boards", store, monkeypatch)
    board = tbl(at, "board-classification").set_index("run_id")
    assert board.loc[good, "budget"] == board.loc[weak, "budget"] == "32 px, 1 ep, scratch"
    assert board.loc[good, "convergence"] == "still improving (budget-limited); did not learn"
    assert board.loc[weak, "convergence"] == ""  # no fold history: nothing to judge
    at = open_page("submission", store, monkeypatch, run=good)
    assert any("did not learn" in w.value for w in at.warning)
    assert any("Still improving" in w.value for w in at.warning)
    at = open_page("submission", store, monkeypatch, run=weak)
    assert not any("did not learn" in w.value or "Still improving" in w.value for w in at.warning)


def test_runs_on_two_split_files_are_ranked_apart():
    import pandas as pd

    def row(run_id: str, value: float, sha: str, path: str, created: str, kind: str = "trained") -> dict:
        return {"run_id": run_id, "task": "classification", "status": "completed", "protocol": "clean",
                "headline_value": value, "split_sha256": sha, "split_path": path, "split_group": "examination"
                if "exam" in path else "duplicates", "created": created, "kind": kind}

    frame = pd.DataFrame([row("old-a", 0.71, "a" * 64, "splits/busi/5fold_grouped.json", "2026-01-01"),
                          row("new-a", 0.80, "b" * 64, "splits/busi/5fold_examination.json", "2026-12-01"),
                          row("old-b", 0.65, "a" * 64, "splits/busi/5fold_grouped.json", "2026-01-02"),
                          row("new-b", 0.60, "b" * 64, "splits/busi/5fold_examination.json", "2026-12-02"),
                          # an audit's clean baseline belongs to its audit: never ranked
                          row("audit-clean", 0.90, "b" * 64, "split.json", "2026-12-03", "protocol-audit")])
    board = tables.ranking(frame, "classification", per_config=False)
    assert dict(zip(board["run_id"], board["rank"], strict=True)) == {"new-a": 1, "old-a": 1, "old-b": 2,
                                                                      "new-b": 2}
    parts = tables.by_split(board)
    assert [title for title, _ in parts] == ["splits/busi/5fold_examination.json (examination, bbbbbbbb)",
                                              "splits/busi/5fold_grouped.json (duplicates, aaaaaaaa)"]
    assert [list(rows["run_id"]) for _, rows in parts] == [["new-a", "new-b"], ["old-a", "old-b"]]


def _published_with_reference_audit(runs: Path, monkeypatch) -> tuple[AppTest, dict[str, float]]:
    """The Published page with a reference audit beside the runs: each protocol of the papers, and clean."""
    from benchmark.audit.paper_protocols import paper_protocols, read_published

    protocols = ["clean", *(p.name for p in paper_protocols(read_published(sources.PUBLISHED_CSV), "classification"))]
    values = {name: 0.70 + 0.03 * i for i, name in enumerate(protocols)}
    summary = {"task": "classification", "submission": "efficientnet_lite0", "pretrained": True, "image_size": 160,
               "epochs": 10, "clean_split": "splits/busi/5fold_examination.json",
               "rows": [{"protocol": name, "status": "completed",
                         "figures": {"accuracy": {"value": v, "ci_low": v - 0.03, "ci_high": v + 0.03}}}
                        for name, v in values.items()]}
    (runs / "protocols-reference.json").write_text(json.dumps(summary))
    try:
        at = open_page("published", runs, monkeypatch)
    finally:
        (runs / "protocols-reference.json").unlink()
    return at, values


def test_published_page_decomposes_each_gap_with_the_reference_audit(runs, monkeypatch):
    from benchmark.audit.paper_protocols import read_published

    at, values = _published_with_reference_audit(runs, monkeypatch)
    table = tbl(at, "published-decomposition")
    headline = [r for r in read_published(sources.PUBLISHED_CSV)
                if r["headline"] == "1" and r["task"] == "classification"]
    assert len(table) == 2 * len(headline)  # every classification paper is read two ways
    assert table["clean"].tolist() == pytest.approx([values["clean"]] * len(table))
    assert (table["explained_pp"] - 100 * (table["reproduced"] - table["clean"])).abs().max() < 1e-9
    assert (table["unexplained_pp"] - 100 * (table["published"] - table["reproduced"])).abs().max() < 1e-9
    assert len(at.get("vega_lite_chart")) == 2


def test_a_run_id_made_of_markdown_is_shown_as_text_on_the_compare_page(runs, tmp_path, monkeypatch):
    store, run_id = tmp_path / "store", "x-**bold**-[l](javascript:a)-<b>"
    fx.extra_class_run(runs, store, run_id, "markdown_id", lambda _case: np.array([0.2, 0.5, 0.3]))
    shutil.copytree(runs / fx.RUN_IDS["good"], store / fx.RUN_IDS["good"])
    at = open_page("compare", store, monkeypatch, a=run_id, b=fx.RUN_IDS["good"])
    assert tbl(at, "c-tests") is not None
    bodies = markdown_bodies(at)
    assert any(ui.md_escape(run_id) in body for body in bodies), bodies
    for body in bodies:
        assert not re.search(r"(?<!\\)(<b>|\]\(javascript|\*\*bold)", body), body


def test_stopping_busbench_leaderboard_stops_its_server(tmp_path):
    """SIGTERM to ``busbench leaderboard`` reaches the Streamlit child: nothing keeps serving the port."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "leaderboard", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def serving() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("localhost", port)) == 0

    try:
        deadline = time.time() + 90
        while not serving() and time.time() < deadline:
            time.sleep(0.5)
        assert serving(), "the leaderboard never started"
        def parent_of(stat: Path) -> int:
            try:
                return int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                return -1

        child_pids = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat") if parent_of(p) == proc.pid]
        assert child_pids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
        deadline = time.time() + 30
        while serving() and time.time() < deadline:
            time.sleep(0.5)
        assert not serving()
        assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
                   for pid in child_pids)
    finally:
        import os

        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_external_runs_have_their_own_board_and_page(tmp_path, monkeypatch):
    # A real external run (busbench external: small CNN, one epoch) trained on one synthetic site, tested on the other.
    from benchmark.cli import main

    site_a, site_b = "synthetic:n=30,seed=4,size=32", "synthetic:n=20,seed=5,size=32,site=b"
    train, ext, runs = tmp_path / "a.json", tmp_path / "ab.json", tmp_path / "runs"
    assert main(["splits", "make", site_a, "--k", "3", "--val-fraction", "0.4", "--out", str(train)]) == 0
    assert main(["splits", "external", str(train), site_a, site_b, "--out", str(ext)]) == 0
    assert main(["external", "small_cnn", "--dataset", site_a, "--test-dataset", site_b, "--splits", str(ext),
                 "--epochs", "1", "--image-size", "32", "--threads", "1", "--out", str(runs)]) == 0
    (run_json,) = runs.glob("*/run.json")
    run_id, metrics = run_json.parent.name, json.loads((run_json.parent / "metrics.json").read_text())
    at = open_page("boards", runs, monkeypatch)
    title = ui.md_escape(f"trained on {site_a}, tested on {site_b}, {ext} ({file_sha256(ext)[:8]})")
    assert f"**{title}**: 1 ranked" in markdown_bodies(at)
    board = tbl(at, "external-classification-0")
    assert list(board["run_id"]) == [run_id]
    assert board["headline_value"].iloc[0] == pytest.approx(metrics["headline"]["value"])
    assert board["gap"].iloc[0].startswith(ui.fmt(metrics["gap"]["value"]))
    assert "Leaky protocols" not in " ".join(markdown_bodies(at))  # an external run is not a leaky one
    at = open_page("submission", runs, monkeypatch, run=run_id)
    opening = f"External validation: trained on {ui.md_escape(site_a)}, tested on every case of {ui.md_escape(site_b)}"
    assert any(body.startswith(opening) for body in markdown_bodies(at))
    assert not any("Not the clean protocol" in body for body in markdown_bodies(at))


def test_an_unknown_run_in_the_link_is_a_visible_warning(runs, monkeypatch):
    at = open_page("submission", runs, monkeypatch, run="does-not-exist")
    warnings = [w.value for w in at.warning]
    expected = f"There is no run {ui.md_escape('does-not-exist')} among these;"
    assert any(w.startswith(expected) for w in warnings), warnings
    assert at.metric[0].label == "Balanced accuracy"  # the headline names its metric


# --- Issue 18, items 3, 4 and 6: Submission, Compare and Audit pages read as a user reads them ---------------------


def column_labels(at: AppTest, key: str) -> dict[str, dict]:
    """The column configuration a table is shown with (header label and number format), by frame column."""
    element = at.get_by_key(key)
    frames = element.dataframe if hasattr(element, "dataframe") else [element]
    return json.loads(frames[0].proto.columns or "{}")


def _case_rng(case_id: str) -> np.random.Generator:
    import zlib

    return np.random.default_rng(zlib.crc32(case_id.encode()))


def test_submission_tables_use_metric_names_and_three_decimals_and_square_curves(runs, monkeypatch):
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["good"])
    assert at.metric[0].label == "Balanced accuracy" and at.metric[1].label == "95% CI of balanced accuracy"
    scores = tbl(at, "s-scores")
    assert "balanced_accuracy" not in set(scores["metric"]) and "Macro F1" in set(scores["metric"])
    labels = column_labels(at, "s-scores")
    assert {labels[c]["type_config"]["format"] for c in ("value", "95% CI low", "95% CI high")} == {"%.3f"}
    (per_class,) = [json.loads(d.proto.columns) for d in at.dataframe if '"precision"' in d.proto.columns]
    assert per_class["f1"]["label"] == "F1" and per_class["precision"]["type_config"]["format"] == "%.3f"
    _, roc, reliability = at.get("vega_lite_chart")
    for chart in (roc, reliability):
        spec = json.loads(chart.proto.spec)
        assert spec["width"] == spec["height"] and 360 <= spec["height"] <= 420, spec.get("title")
        assert spec["autosize"]["type"] == "pad"  # the size is the plot's, the legend is added below it
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["good"], tab="Per fold")
    folds = column_labels(at, "s-folds")
    assert folds["balanced_accuracy"] == {"label": "Balanced accuracy", "type_config": {"type": "number",
                                                                                       "format": "%.3f"}}
    assert json.loads(at.get("vega_lite_chart")[0].proto.spec)["title"] == "Balanced accuracy per fold"


def _lucky_store(runs: Path, store: Path) -> tuple[str, list[dict]]:
    """A lucky-split run (a copy of ``good`` relabelled, its three draws recorded as the protocol audit records them)
    beside the fixture's clean runs."""
    run_id = "small_cnn-lucky-split-aaaa0000000c"
    shutil.copytree(runs / fx.RUN_IDS["good"], store / run_id)
    for key in ("good", "weak", "naive"):
        shutil.copytree(runs / fx.RUN_IDS[key], store / fx.RUN_IDS[key])
    doc = json.loads((store / run_id / "run.json").read_text())
    draws = [{"draw": d, "split_seed": d, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.08, "n_cases": 6,
              "seconds": 1.0, "best_epoch": 1} for d, v in enumerate((0.61, 0.83, 0.52))]
    doc.update(run_id=run_id, kind="protocol-audit", protocol={
        "name": "lucky-split", "draws_requested": 3, "draws": draws, "reported_draw": 1,
        "metric": "balanced_accuracy", "reported": "the best draw's test score, as if it were the only split"})
    doc["split"].update(path=None, sha256=None, protocol="lucky-split")
    (store / run_id / "run.json").write_text(json.dumps(doc))
    return run_id, draws


def test_a_leaky_run_says_which_leak_and_a_lucky_split_shows_its_draws(runs, tmp_path, monkeypatch):
    from benchmark.audit.leaks import LEAKS

    store = tmp_path / "store"
    run_id, draws = _lucky_store(runs, store)
    at = open_page("submission", store, monkeypatch, run=run_id)
    warning = " ".join(w.value for w in at.warning)
    assert "Leaky protocol" in warning and ui.md_escape(LEAKS["lucky-split"]) in warning
    assert f"**{ui.md_escape('lucky-split')}**" in warning and "Not the clean protocol" not in warning
    assert at.metric[2].label == "Protocol" and at.metric[2].value == "leaky"  # named in full in the warning
    shown = tbl(at, "s-draws")
    assert list(shown["value"]) == pytest.approx([d["value"] for d in draws])
    assert list(shown["reported"]) == [False, True, False]
    assert list(shown["draw"]) == [f"draw {d} (split seed {d})" for d in range(3)]
    settings = dict(tbl(at, "s-leak-settings").values.tolist())
    assert settings["draw reported"] == "1" and settings["figure compared"] == "Balanced accuracy"
    mean = np.mean([d["value"] for d in draws])
    assert any(f"adds {100 * (0.83 - mean):+.1f} points" in body for body in markdown_bodies(at))
    draw_chart = [c for c in at.get("vega_lite_chart") if "Every draw" in c.proto.spec]
    assert len(draw_chart) == 1
    points = dict(_layers(draw_chart[0]))["point"]
    assert sorted(p["value"] for p in points) == pytest.approx(sorted(d["value"] for d in draws))
    # Another leak is named in words too; a clean run has no leak section at all.
    at = open_page("submission", store, monkeypatch, run=fx.RUN_IDS["naive"])
    assert any(ui.md_escape(LEAKS["naive-split"]) in w.value for w in at.warning)
    with pytest.raises(KeyError):
        at.get_by_key("s-draws")
    at = open_page("submission", store, monkeypatch, run=fx.RUN_IDS["good"])
    assert not any("Leaky protocol" in w.value for w in at.warning)
    with pytest.raises(KeyError):
        at.get_by_key("s-leak")


def test_compare_opens_on_the_two_best_distinct_submissions(runs, tmp_path, monkeypatch):
    from leaderboard import paired

    store = tmp_path / "store"
    for key in ("good", "weak", "hostile", "naive", "seg"):
        shutil.copytree(runs / fx.RUN_IDS[key], store / fx.RUN_IDS[key])
    twin = "cheyi2024_cnn-aaaa0000000d"  # a second run of the best submission, scoring the same: not a pair
    shutil.copytree(runs / fx.RUN_IDS["good"], store / twin)
    doc = json.loads((store / twin / "run.json").read_text())
    (store / twin / "run.json").write_text(json.dumps(dict(doc, run_id=twin, created="2026-02-01T00:00:00+00:00")))
    at = open_page("compare", store, monkeypatch)
    a, b = at.selectbox(key="c-a").value, at.selectbox(key="c-b").value
    frame = tables.board_frame(sources.load_runs(f"sqlite:///{sources.committed_index_path(store)}"))
    by_id = frame.set_index("run_id")
    assert by_id.loc[a, "submission"] != by_id.loc[b, "submission"]
    assert by_id.loc[a, "submission"] == "cheyi2024_cnn"  # the best headline
    clean = frame[(frame["protocol"] == "clean") & (frame["task"] == "classification")]
    runner_up = clean[clean["submission"] != "cheyi2024_cnn"].sort_values("headline_value").iloc[-1]["run_id"]
    assert b == runner_up
    assert by_id.loc[b, "split_sha256"] == by_id.loc[a, "split_sha256"] and by_id.loc[b, "status"] == "completed"
    assert at.query_params["a"] == a and at.query_params["b"] == b
    # The rule itself: audit runs and leaky runs are never preferred, runs on another split never paired.
    rows = [{"run_id": r, "submission": s, "task": "classification", "status": "completed", "protocol": p,
             "kind": k, "headline_value": v, "split_sha256": sha, "dataset_fingerprint": "f", "created": "2026"}
            for r, s, p, k, v, sha in (("x1", "x", "clean", "trained", 0.9, "s1"), ("x2", "x", "clean", "trained", 0.85,
                                       "s1"), ("leak", "y", "naive-split", "protocol-audit", 0.95, "s1"),
                                       ("audit", "z", "clean", "protocol-audit", 0.99, "s1"),
                                       ("other", "w", "clean", "trained", 0.97, "s2"),
                                       ("v1", "v", "clean", "trained", 0.6, "s1"))]
    assert paired.default_pair(pd_frame(rows)) == ("x1", "v1")
    assert paired.default_pair(pd_frame(rows[:2])) is None  # one submission only: nothing to compare


def pd_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def _result(diff: float, low: float, high: float, p_boot: float, t: float | None, p_t: float | None,
            k: int = 5) -> dict:
    ttest = {"mean_diff": diff, "t": t, "p_value": p_t, "df": k - 1, "k": k} if p_t is not None else \
        {"undefined": "the difference is the same in every fold (zero variance): t is infinite"}
    return {"metric": "dice", "a": {"value": 0.6, "per_fold": [0.6] * k}, "b": {"value": 0.6 + diff,
                                                                                "per_fold": [0.6 + diff] * k},
            "bootstrap": {"difference": diff, "low": low, "high": high, "p_value": p_boot, "method": "m",
                          "reason": None}, "ttest": ttest, "unit": "duplicate cluster", "n_cases": 780}


def test_compare_verdict_says_which_is_better_or_that_it_is_not_established():
    from leaderboard import paired

    kind, text = paired.verdict(_result(0.05, 0.02, 0.08, 0.001, 4.0, 0.01), metric_label="Dice")
    assert kind == "agree" and text.startswith("B is better than A on Dice") and "Both tests agree" in text
    kind, text = paired.verdict(_result(-0.05, -0.08, -0.02, 0.001, -4.0, 0.01), metric_label="Dice")
    assert kind == "agree" and text.startswith("A is better than B")
    kind, text = paired.verdict(_result(0.05, 0.02, 0.08, 0.001, 4.0, 0.01), lower_is_better=True)
    assert text.startswith("A is better than B")  # B - A > 0 is worse when lower is better
    kind, text = paired.verdict(_result(0.01, -0.02, 0.04, 0.4, 0.5, 0.6), metric_label="Dice")
    assert kind == "none" and "not established" in text and "Neither test" in text
    # The case: the bootstrap over cases finds a difference, the t-test over 5 folds does not.
    kind, text = paired.verdict(_result(0.03, 0.012, 0.05, 0.001, 0.9, 0.41), metric_label="Dice")
    assert kind == "disagree" and text.startswith("The tests disagree: the paired bootstrap finds B better")
    for needed in ("p = 0.410", "780 test cases", "only the 5 fold scores", "Nadeau & Bengio", "overlap",
                   "little power"):
        assert needed in text, needed
    kind, text = paired.verdict(_result(0.03, -0.01, 0.05, 0.2, 3.5, 0.03), metric_label="Dice")
    assert kind == "disagree" and "the corrected t-test finds B better" in text and "not established" in text
    kind, text = paired.verdict(_result(0.03, 0.01, 0.05, 0.004, None, None), metric_label="Dice")
    assert kind == "one" and "n/a (the difference is the same in every fold" in text


def test_compare_shows_n_a_with_its_reason_never_none():
    from leaderboard.views import compare

    table, chart = compare._test_rows(_result(0.03, 0.01, 0.05, 0.004, None, None))
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert not any("None" in c or c in ("nan", "") for c in cells), cells
    assert table.loc[0, "t"] == "n/a (a bootstrap has no t statistic)"
    assert table.loc[1, "p value"].startswith("n/a (the difference is the same in every fold")
    assert len(chart) == 1  # an undefined test has no interval to plot


def test_compare_page_states_a_verdict_and_plots_the_difference(runs, tmp_path, monkeypatch):
    """Two real runs that differ in one fold only: the bootstrap over cases sees the difference, the corrected
    t-test over three folds does not; the page says so and why."""
    from benchmark.evaluation.compare import compare_runs
    from benchmark.splits.verify import load_split

    dataset = open_dataset(fx.SPEC)
    split = load_split(runs.parent / "split.json", dataset)
    classes, first = list(dataset.classes), set(split.folds[0].test)

    def noise(case: str) -> np.ndarray:
        return _case_rng(case).dirichlet([1.0, 1.0, 1.0])

    def better(case: str) -> np.ndarray:  # right on every case of fold 0, the same as ``noise`` elsewhere
        if case not in first:
            return noise(case)
        p = np.full(3, 0.05)
        p[classes.index(dataset.case(case).label)] = 0.9
        return p

    store = tmp_path / "store"
    fx.extra_class_run(runs, store, "noise-aaaa0000000e", "noise", noise)
    fx.extra_class_run(runs, store, "better-aaaa0000000f", "better", better)
    reference = compare_runs(store / "noise-aaaa0000000e", store / "better-aaaa0000000f", fx.SPEC)
    assert reference["bootstrap"]["low"] > 0 and reference["ttest"]["p_value"] > 0.05  # the premise
    at = open_page("compare", store, monkeypatch)
    assert at.selectbox(key="c-a").value == "better-aaaa0000000f"  # the better one opens as A
    assert at.selectbox(key="c-b").value == "noise-aaaa0000000e"
    verdict = at.get_by_key("c-verdict").warning[0].value
    assert verdict.startswith(ui.md_escape("A is better, B is noise. The tests disagree: the paired bootstrap "
                                           "finds A better"))
    assert ui.md_escape("only the 3 fold scores") in verdict and "Nadeau" in verdict
    chart = [c for c in at.get("vega_lite_chart")
             if json.loads(c.proto.spec)["title"]["text"] == "B − A with its 95% CI"]
    assert len(chart) == 1
    layers = _layers(chart[0])
    assert [mark for mark, _ in layers] == ["rule", "rule", "point", "point"]
    assert layers[0][1] == [{"zero": 0.0}]  # the line of no difference
    intervals = layers[1][1]
    assert intervals[0]["low"] == pytest.approx(-reference["bootstrap"]["high"])  # B - A here is noise - better
    assert len(layers[2][1]) == 3  # one dot per fold
    shown = [str(v) for key in ("c-tests", "c-folds") for v in tbl(at, key).to_numpy().ravel()]
    shown += markdown_bodies(at) + [m.value for m in at.metric] + [m.label for m in at.metric]
    assert not any("None" in s for s in shown), shown
    assert not any("/" in m.value for m in at.caption if "ground truth" in m.value)  # the data named, not a path


def test_audit_page_opens_on_the_inflation_chart_near_the_data(runs, monkeypatch):
    (runs / "protocols-x.json").write_text((sources.COMMITTED_RESULTS / "protocols-small_cnn-BUSI.json").read_text())
    try:
        at = open_page("audit", runs, monkeypatch)
    finally:
        (runs / "protocols-x.json").unlink()
    headings = [s.value for s in at.subheader]
    assert headings.index("Protocol inflation") < headings.index("Leakage per split")
    first = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert first["title"]["text"].startswith("Protocol inflation")
    x = first["layer"][1]["encoding"]["x"]
    low, high = x["scale"]["domain"]
    doc = json.loads((sources.COMMITTED_RESULTS / "protocols-small_cnn-BUSI.json").read_text())
    lows = [r["ci_low"] for r in doc["rows"]]
    assert 0.5 < low < min(lows) and max(r["ci_high"] for r in doc["rows"]) < high < 1  # not from 0
    assert first["layer"][1]["encoding"]["y"]["axis"]["labelLimit"] == 0  # protocol names never cut
    assert first["autosize"]["type"] == "fit-x"
    summary = [b for b in markdown_bodies(at) if "small\\_cnn on" in b]
    assert summary and "BUSI" in summary[0] and "shared" not in summary[0] and "\\.\\./" not in summary[0]
    table = tbl(at, "a-inflation-protocols-x.json").set_index("protocol")
    assert table.loc["clean", "paired difference against clean (95% CI)"] == "n/a: the clean run is the baseline"
    assert table.loc["lucky-split", "paired difference against clean (95% CI)"] == "n/a (why: below the table)"
    notes = [b for b in markdown_bodies(at) if b.startswith("What each leak does")]
    assert notes and ui.md_escape("the reported draw's test part is a different (20%) case set") in notes[0]
    assert not table.astype(str).isin(["None", "nan"]).any(axis=None)


# ---- Issue 18 (Boards and Published pages): summary line, one row per submission, inflation, per-family charts ----


def _clean_copy(runs: Path, store: Path, source: str, run_id: str, **changes) -> None:
    """Copy a fixture run folder under a new id, changing fields of its run.json (a new configuration)."""
    shutil.copytree(runs / source, store / run_id)
    doc = json.loads((store / run_id / "run.json").read_text())
    doc.update(run_id=run_id, **changes)
    (store / run_id / "run.json").write_text(json.dumps(doc))


def _shown(at: AppTest, key: str):
    """The cells a board's reader sees: only the columns in its ``column_order``."""
    element = at.get_by_key(key).dataframe[0]
    order = list(element.proto.column_order)
    assert order, key
    return element.value[order]


def test_boards_summary_line_names_the_best_clean_model_the_median_gap_and_the_largest_inflation(runs, monkeypatch):
    at = open_page("boards", runs, monkeypatch)
    line = at.get_by_key("summary-classification").markdown[0].value
    plain = line.replace("\\", "")  # every name and number is escaped for Markdown
    metrics = {k: json.loads((runs / fx.RUN_IDS[k] / "metrics.json").read_text())["headline"]
               for k in ("good", "weak", "hostile", "naive")}
    best = max(("good", "weak", "hostile"), key=lambda k: metrics[k]["value"])
    head = metrics[best]
    assert f"{head['value']:.3f} [{head['ci_low']:.2f}, {head['ci_high']:.2f}]" in plain
    assert ui.md_escape("cheyi2024_cnn" if best == "good" else fx.HOSTILE_NAME if best == "hostile"
                        else "small_cnn") in line
    # The naive-split run's clean twin is the small_cnn clean run at the same budget.
    inflation = 100 * (metrics["naive"]["value"] - metrics["weak"]["value"])
    assert f"Largest protocol inflation:** {inflation:+.1f} pp, small_cnn under naive-split" in plain
    # The gap: published minus ours over the classification headline numbers, as the Published page lists them.
    published = open_page("published", runs, monkeypatch)
    table = tbl(published, "published-table")
    gaps = table[(table["task"] == "classification") & table["difference_pp"].notna()]["difference_pp"]
    assert len(gaps) > 0
    assert f"Published − clean:** median {gaps.median():+.1f} pp over {len(gaps)} published" in plain


def test_boards_show_one_row_per_submission_and_the_other_configurations_on_demand(runs, tmp_path, monkeypatch):
    store = tmp_path / "store"
    for key in ("good", "weak"):
        shutil.copytree(runs / fx.RUN_IDS[key], store / fx.RUN_IDS[key])
    # A second configuration of small_cnn (64 px, pretrained) scoring above its 32 px one.
    dataset = open_dataset(fx.SPEC)
    fx.extra_class_run(runs, store, "small_cnn-bbbb00000064", "small_cnn", lambda c: np.eye(3)[
        list(dataset.classes).index(dataset.case(c).label)] * 0.9 + 0.1 / 3)
    doc = json.loads((store / "small_cnn-bbbb00000064" / "run.json").read_text())
    doc.update(image_size=64, pretrained=True, created="2026-02-01T00:00:00+00:00")
    (store / "small_cnn-bbbb00000064" / "run.json").write_text(json.dumps(doc))
    at = open_page("boards", store, monkeypatch)
    board = tbl(at, "board-classification")
    assert sorted(board["submission"]) == ["cheyi2024_cnn", "small_cnn"]  # one row per submission
    row = board.set_index("submission").loc["small_cnn"]
    assert row["run_id"] == "small_cnn-bbbb00000064"  # its best configuration
    assert row["configurations"] == "2: px 64/32; pretrained yes/no"
    assert list(board["rank"]) == [1, 2]
    others = tbl(at, "others-classification")
    assert list(others["run_id"]) == [fx.RUN_IDS["weak"]] and others["differs"].item() == "px 64/32; pretrained yes/no"
    assert others["rank"].item() == int(row["rank"])  # listed under its submission's rank
    at.toggle(key="f-every").set_value(True).run()
    every = tbl(at, "board-classification")
    assert len(every) == 3 and list(every["rank"]) == [1, 2, 3]
    with pytest.raises(KeyError):
        at.get_by_key("others-classification")


def test_leaky_rows_show_their_inflation_over_the_clean_run_at_the_same_budget(runs, tmp_path, monkeypatch):
    store = tmp_path / "store"
    for key in ("weak", "naive", "good"):
        shutil.copytree(runs / fx.RUN_IDS[key], store / fx.RUN_IDS[key])
    # Decoys: small_cnn on the clean protocol at another budget (newer), and a leaky run with no clean twin.
    _clean_copy(runs, store, fx.RUN_IDS["good"], "small_cnn-decoy-128px", image_size=128,
                submission={"name": "small_cnn", "task": "classification"}, created="2026-03-01T00:00:00+00:00")
    _clean_copy(runs, store, fx.RUN_IDS["naive"], "small_cnn-naive-96px", image_size=96)
    at = open_page("boards", store, monkeypatch)
    leaky = tbl(at, "leaky-classification").set_index("run_id")
    value = {r: json.loads((store / r / "metrics.json").read_text())["headline"]["value"]
             for r in (fx.RUN_IDS["weak"], fx.RUN_IDS["naive"], "small_cnn-decoy-128px")}
    twin = leaky.loc[fx.RUN_IDS["naive"]]
    assert twin["clean_run"] == fx.RUN_IDS["weak"]
    assert twin["inflation_pp"] == pytest.approx(100 * (value[fx.RUN_IDS["naive"]] - value[fx.RUN_IDS["weak"]]))
    assert twin["inflation"] == f"{twin['inflation_pp']:+.1f} pp"
    assert twin["clean"] == f"{value[fx.RUN_IDS['weak']]:.3f}"
    alone = leaky.loc["small_cnn-naive-96px"]
    assert alone["clean_run"] == "" and np.isnan(alone["inflation_pp"]) and alone["inflation"] == "-"
    assert "inflation" in list(at.get_by_key("leaky-classification").dataframe[0].proto.column_order)


def test_board_default_columns_are_narrow_text_and_never_none(runs, tmp_path, monkeypatch):
    store = tmp_path / "store"
    for key in ("good", "weak", "naive"):
        shutil.copytree(runs / fx.RUN_IDS[key], store / fx.RUN_IDS[key])
    doc = json.loads((store / fx.RUN_IDS["weak"] / "run.json").read_text())
    doc.pop("epochs")  # a field a run does not record: "-", never "None"
    (store / fx.RUN_IDS["weak"] / "run.json").write_text(json.dumps(doc))
    at = open_page("boards", store, monkeypatch)
    shown = _shown(at, "board-classification")
    assert list(shown.columns) == ["rank", "model", "headline", "px", "ep", "weights", "flags", "configurations"]
    assert not shown.isna().any(axis=None) and not shown.astype(str).isin(["None", "nan", "NaN"]).any(axis=None)
    row = shown.set_index(tbl(at, "board-classification")["run_id"]).loc[fx.RUN_IDS["weak"]]
    head = json.loads((store / fx.RUN_IDS["weak"] / "metrics.json").read_text())["headline"]
    assert row["headline"] == f"{head['value']:.3f} [{head['ci_low']:.2f}, {head['ci_high']:.2f}]"
    assert row["ep"] == "-" and row["px"] == "32" and row["weights"] == "scratch"
    assert row["model"] == f"submission?run={fx.RUN_IDS['weak']}#small_cnn"  # shown as the name, a link to the run
    assert not _shown(at, "leaky-classification").astype(str).isin(["None", "nan"]).any(axis=None)
    at.multiselect(key="f-columns").set_value(["budget", "t_peak_mib"]).run()
    assert list(_shown(at, "board-classification").columns)[-2:] == ["budget", "t_peak_mib"]


def test_published_table_puts_ours_its_budget_and_the_gap_after_the_number_and_one_chart_per_family(
        runs, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(runs / fx.RUN_IDS["good"], store / fx.RUN_IDS["good"])
    rng = np.random.default_rng(3)
    dataset = open_dataset(fx.SPEC)

    def shifted(case_id: str) -> np.ndarray:
        rgb, ref = dataset.decode(dataset.case(case_id))
        ref = np.zeros(rgb.shape[:2], bool) if ref is None else ref
        return np.roll(ref, int(rng.integers(0, 3)), axis=0)

    fx.extra_seg_run(runs, store, "baniadam2021_unet-cccc0001", "baniadam2021_unet", shifted)
    at = open_page("published", store, monkeypatch)
    element = at.get_by_key("published-table").dataframe[0]
    order = list(element.proto.column_order)
    assert order[:6] == ["system", "published_text", "ours_text", "gap", "metric", "our_budget_short"]
    assert not set(order) & set(ledger.FLAG_COLUMNS) and order.count("flags") == 1  # flags once
    table = element.value
    ours = table[table["ours"].notna()]
    assert set(ours["busbench_submission"]) == {"cheyi2024_cnn", "baniadam2021_unet"}
    for _, row in ours.iterrows():
        assert row["system"] == f"{row['paper']} · {row['model']}"
        assert row["ours_text"] == tables.headline_text(row["ours"], row["ours_low"], row["ours_high"])
        assert row["gap"] == f"{row['difference_pp']:+.1f} pp"
        assert re.fullmatch(r"32 px, 1 ep, scratch · CPU, \d+ min", row["our_budget_short"]), row["our_budget_short"]
    assert (table.loc[table["ours"].isna(), "ours_text"] == "-").all()
    dois = dict(zip(table["paper"], table["doi"], strict=False))
    assert dois["Cheyi 2024"] == "https://doi.org/10.54287/guj.1529857"
    assert all(d == "" or d.startswith("https://doi.org/10.") for d in table["doi"])
    # One chart per metric family, never accuracy and Dice on one pair of axes.
    charts_drawn = at.get("vega_lite_chart")
    assert len(charts_drawn) == 2
    families = []
    for chart in charts_drawn:
        metrics = {r["metric"] for _, rows in _layers(chart) for r in rows if "metric" in r}
        assert metrics and len({charts.metric_family(m) for m in metrics}) == 1, metrics
        families.append(charts.metric_family(next(iter(metrics))))
    assert families == ["accuracy-like", "Dice / IoU"]
    assert any("No chart for AUC" in c.value for c in at.caption)


def test_metric_families_and_doi_links():
    from leaderboard.views import published

    assert [charts.metric_family(m) for m in ("accuracy", "f1", "pixel_accuracy", "auc", "dice", "iou", "loss")] \
        == ["accuracy-like", "accuracy-like", "accuracy-like", "AUC", "Dice / IoU", "Dice / IoU", None]
    assert published.doi_link("X (2024). Front. Oncol. 14:1461542. doi:10.3389/fonc.2024.1461542") \
        == "https://doi.org/10.3389/fonc.2024.1461542"
    assert published.doi_link("Research Square (preprint). doi:10.21203/rs.3.rs-952669/v1") \
        == "https://doi.org/10.21203/rs.3.rs-952669/v1"
    assert published.doi_link("Venue not named in the text.") == ""
    assert tables.headline_text(0.8123, 0.7811, 0.8449) == "0.812 [0.78, 0.84]"
    assert tables.headline_text(None, None, None) == "-" and tables.headline_text(0.5, float("nan"), 0.6) == "0.500"


def test_published_rows_carry_their_as_published_reproduction_and_its_split(runs, monkeypatch):
    at, values = _published_with_reference_audit(runs, monkeypatch)
    table = tbl(at, "published-table")
    decomposition = tbl(at, "published-decomposition")
    for _, row in table.iterrows():
        parts = decomposition[(decomposition["paper"] == row["paper"]) & (decomposition["system"] == row["model"])
                              & (decomposition["published"] == row["published"])]
        if row["task"] != "classification" or parts.empty:
            assert row["reproduced"] == "-"
            continue
        for _, part in parts.iterrows():  # every reading of the paper, with its explained and unexplained parts
            assert f"{part['reproduced']:.3f} ({part['explained_pp']:+.1f} pp explained, " \
                   f"{part['unexplained_pp']:+.1f} pp unexplained)" in row["reproduced"]


# --- Issue 18, item 7: a download button per board, and permalinks ------------------------------------------------


def _page_frame(runs: Path, monkeypatch):
    """The board frame the Boards page reads for the store ``runs`` (as :func:`ui.store_or_stop` reads it)."""
    from leaderboard import data

    monkeypatch.setenv(sources.RESULTS_ENV, str(runs))
    store = data.current_store()
    return store.url, data.board(store.url, store.stamp)


def test_board_downloads_hand_over_what_busbench_results_export_writes(runs, monkeypatch, capsys):
    from benchmark.cli import main
    from leaderboard import export
    from leaderboard.views import boards

    at = open_page("boards", runs, monkeypatch)
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert list(buttons) == ["CSV", "LaTeX", "BibTeX"]
    assert all("busbench results export --task classification" in b.help for b in buttons.values())
    url, frame = _page_frame(runs, monkeypatch)
    for fmt in export.FORMATS:  # what each button's callable returns on the page's frame == the command's output
        capsys.readouterr()
        assert main(["results", "export", "--results", str(runs), "--format", fmt]) == 0
        assert boards.export_text(frame, "classification", fmt, url=url) == capsys.readouterr().out, fmt
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(boards.export_text(frame, "classification", "csv", url=url))))
    assert [r["run_id"] for r in rows] == list(tbl(at, "board-classification")["run_id"])  # the board's order
    # Filtered: the buttons say so and hand over the filtered frame's boards.
    at.multiselect(key="f-protocol").set_value(["naive-split"]).run()
    assert all("only the runs the filters above keep" in b.proto.help for b in at.get("download_button"))
    narrowed = tables.apply_filters(frame, protocols=["naive-split"])
    assert boards.export_text(narrowed, "classification", "csv") == export.export(narrowed, "classification", "csv")
    assert len(boards.export_text(narrowed, "classification", "csv").splitlines()) == 1  # the header only
    at.radio(key="f-task").set_value("segmentation").run()
    assert [b.proto.label for b in at.get("download_button")] == ["CSV", "LaTeX", "BibTeX"]
    assert all("--task segmentation" in b.proto.help or "filters" in b.proto.help for b in at.get("download_button"))


def test_board_filters_come_from_the_link_and_go_back_into_it(runs, monkeypatch):
    at = open_page("boards", runs, monkeypatch, task="segmentation", protocol="clean", every="yes", columns="ci")
    assert not at.warning or not any("link's parameter" in w.value for w in at.warning)
    assert at.radio(key="f-task").value == "segmentation"
    assert at.multiselect(key="f-protocol").value == ["clean"]
    assert at.toggle(key="f-every").value is True and at.toggle(key="f-per-config").value is True
    assert at.multiselect(key="f-columns").value == ["ci"]
    assert list(tbl(at, "board-segmentation")["run_id"]) == [fx.RUN_IDS["seg"]]
    link = at.sidebar.code[-1].value
    assert link.startswith("?") and "task=segmentation" in link and "protocol=clean" in link
    # A filter the link leaves out is at its default; changing it writes it into the link.
    assert at.selectbox(key="f-pretrained").value == "any" and "pretrained" not in at.query_params
    at.selectbox(key="f-pretrained").set_value("yes").run()
    assert at.query_params["pretrained"] in ("yes", ["yes"])
    at.radio(key="f-task").set_value("classification").run()
    assert "task" not in at.query_params  # the default is left out of the link
    at = open_page("boards", runs, monkeypatch, protocol="naive-split", newest="no")
    assert "No completed clean-protocol run matches these filters." in [e.value for e in at.info]
    assert at.toggle(key="f-per-config").value is False
    assert list(tbl(at, "leaky-classification")["run_id"]) == [fx.RUN_IDS["naive"]]


def test_an_invalid_link_parameter_is_a_visible_warning_and_the_default(runs, monkeypatch):
    at = open_page("boards", runs, monkeypatch, tuned="maybe", protocol="clean,nope", newest="perhaps")
    warnings = " ".join(w.value for w in at.warning)
    for bad in ("tuned=maybe", "protocol=nope", "newest=perhaps"):
        assert ui.md_escape(bad) in warnings, (bad, warnings)
    assert at.selectbox(key="f-tuned").value == "any" and at.toggle(key="f-per-config").value is True
    assert at.multiselect(key="f-protocol").value == ["clean"]  # the valid part is kept
    assert "tuned" not in at.query_params and "newest" not in at.query_params
    at = open_page("compare", runs, monkeypatch, metric="nonsense")
    assert any(ui.md_escape("metric=nonsense") in w.value for w in at.warning)
    assert at.selectbox(key="c-metric").value == "balanced_accuracy"
    at = open_page("audit", runs, monkeypatch, split="nope.json")
    assert any(ui.md_escape("split=nope.json") in w.value for w in at.warning)
    at = open_page("published", runs, monkeypatch, task="cooking")
    assert any(ui.md_escape("task=cooking") in w.value for w in at.warning)
    assert at.selectbox(key="p-task").value == "any"
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["good"], tab="Gallery")  # a segmentation tab
    assert any(f"tab={ui.md_escape('Gallery')} is not a tab of this run" in w.value for w in at.warning)
    assert "tab" not in at.query_params and at.sidebar.code[-1].value == f"submission?run={fx.RUN_IDS['good']}"


def test_compare_opens_the_linked_pair_and_figure(runs, monkeypatch):
    a, b = fx.RUN_IDS["weak"], fx.RUN_IDS["hostile"]
    at = open_page("compare", runs, monkeypatch, a=a, b=b, metric="accuracy")
    assert not any("link's parameter" in w.value for w in at.warning)
    assert at.selectbox(key="c-a").value == a and at.selectbox(key="c-b").value == b
    assert at.selectbox(key="c-metric").value == "accuracy"
    assert any("A: Accuracy" == m.label for m in at.metric)
    link = at.sidebar.code[-1].value
    assert link.startswith("compare?") and f"a={a}" in link and f"b={b}" in link and "metric=accuracy" in link
    at.selectbox(key="c-metric").set_value("balanced_accuracy").run()
    assert "metric" not in at.query_params  # the headline figure is the default


def test_submission_and_published_links_open_the_tab_and_filters(runs, monkeypatch):
    at = open_page("submission", runs, monkeypatch, run=fx.RUN_IDS["seg"], tab="Gallery", sort="HD95",
                   order="best first", size="16")
    assert not any("link's parameter" in w.value for w in at.warning)
    assert at.selectbox(key="s-gallery-sort").value == "HD95"
    assert at.selectbox(key="s-gallery-order").value == "best first"
    assert at.selectbox(key="s-gallery-size").value == 16
    link = at.sidebar.code[-1].value
    assert link.startswith("submission?") and "tab=Gallery" in link and "sort=HD95" in link
    at = open_page("published", runs, monkeypatch, task="segmentation", headline="no")
    assert at.selectbox(key="p-task").value == "segmentation" and at.toggle(key="p-headline").value is False
    assert set(tbl(at, "published-table")["task"]) <= {"segmentation"}
