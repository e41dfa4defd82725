"""The results store: indexing run folders into SQLite, upserts, filters, errors and concurrent writers."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from benchmark.errors import BusbenchError
from benchmark.results.store import SCHEMA_VERSION, ResultsStore, default_store_url, headline

REPO = Path(__file__).resolve().parents[2]


def make_run(runs: Path, run_id: str, *, status: str = "completed", task: str = "classification",
             protocol: str = "clean", dataset: str = "BUSI", folds: dict[str, float] | None = None,
             errors: dict[str, str] | None = None, metrics: dict[str, Any] | None = None,
             extra: dict[str, Any] | None = None) -> Path:
    """Write a run folder as the engine does: run.json and (optionally) metrics.json."""
    folds = {"0": 1.5, "1": 2.25, "2": 3.0} if folds is None else folds
    doc = {
        "run_id": run_id, "kind": "trained", "created": "2025-01-02T03:04:05+00:00",
        "finished": "2025-01-02T04:00:00+00:00", "task": task,
        "submission": {"name": run_id.split("-")[0], "authors": ["A. Author"], "reference": "doi:x",
                       "pretrained": None},
        "hparams": {"lr": 0.001, "epochs": 3}, "image_size": 64, "epochs": 3, "seed": 7, "tuned": False,
        "pretrained": False,
        "dataset": {"name": dataset, "fingerprint": "f" * 64, "spec": "/data/BUSI"},
        "split": {"path": "splits/busi.json", "sha256": "a" * 64, "k": 3, "group": "duplicates",
                  "protocol": protocol},
        "folds": {k: {"seconds": s, "best_epoch": 1} for k, s in folds.items()},
        "status": status, "errors": errors or {},
        "compute": {"device": "cpu", "device_name": "Test CPU", "precision": "fp32", "threads": 2,
                    "channels_last": False},
        "git_commit": "0123abc", "versions": {"python": "3.11"},
        **(extra or {}),
    }
    folder = runs / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(doc, indent=1))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def scores(value: float = 0.875, low: float = 0.81, high: float = 0.92) -> dict[str, Any]:
    return {"headline": {"metric": "auc_macro", "value": value, "ci_low": low, "ci_high": high},
            "per_fold": [{"auc_macro": 0.8}]}


@pytest.fixture
def store(tmp_path: Path):
    with ResultsStore(default_store_url(tmp_path / "runs")) as s:
        yield s


def test_default_url_points_into_the_runs_folder(tmp_path):
    url = default_store_url(tmp_path / "runs")
    assert url == f"sqlite:///{(tmp_path / 'runs').resolve()}/index.sqlite"


def test_completed_run_is_indexed_with_all_columns(tmp_path, store):
    folder = make_run(tmp_path / "runs", "cnn-abc", metrics=scores(), extra={"params": 12345})
    store.index_run(folder)
    row = store.get_run("cnn-abc")
    assert row is not None
    expected = {
        "run_id": "cnn-abc", "kind": "trained", "status": "completed", "task": "classification",
        "submission": "cnn", "dataset": "BUSI", "dataset_fingerprint": "f" * 64, "split_sha256": "a" * 64,
        "split_group": "duplicates", "protocol": "clean", "tuned": False, "pretrained": False, "image_size": 64,
        "epochs": 3, "seed": 7, "device": "cpu", "device_name": "Test CPU", "precision": "fp32",
        "headline_metric": "auc_macro", "headline_value": 0.875, "headline_ci_low": 0.81, "headline_ci_high": 0.92,
        "error": None, "created": "2025-01-02T03:04:05+00:00", "finished": "2025-01-02T04:00:00+00:00",
        "wall_seconds": 6.75, "params": 12345, "run_dir": str(folder.resolve()), "git_commit": "0123abc",
    }
    assert {k: row[k] for k in expected} == expected
    # The drill-down documents are the files' content, not a summary of them.
    assert row["run_json"] == json.loads((folder / "run.json").read_text())
    assert row["metrics_json"] == scores()


def test_failed_run_has_its_error_and_never_scores(tmp_path, store):
    # A metrics.json left by an earlier invocation must not lend the failed run a score.
    folder = make_run(tmp_path / "runs", "bad-1", status="failed", folds={"0": 4.0},
                      errors={"2": "CUDA out of memory", "1": "NaN loss at epoch 3"}, metrics=scores())
    store.index_run(folder)
    row = store.get_run("bad-1")
    assert row["status"] == "failed"
    assert row["error"] == "fold 1: NaN loss at epoch 3"  # the lowest failed fold
    assert [row[k] for k in ("headline_metric", "headline_value", "headline_ci_low", "headline_ci_high")] == [
        None, None, None, None]
    assert row["metrics_json"] is None and row["wall_seconds"] == 4.0


def test_partial_run_keeps_the_scores_of_its_finished_folds(tmp_path, store):
    folder = make_run(tmp_path / "runs", "cnn-part", status="partial", folds={"0": 2.0},
                      metrics=scores(0.7, 0.6, 0.8))
    store.index_run(folder)
    row = store.get_run("cnn-part")
    assert (row["status"], row["headline_value"], row["headline_ci_low"]) == ("partial", 0.7, 0.6)
    assert row["error"] is None and row["wall_seconds"] == 2.0 and row["params"] is None


def test_run_without_metrics_or_headline_has_null_scores(tmp_path, store):
    make_run(tmp_path / "runs", "a-run", status="running", folds={}, metrics=scores())
    make_run(tmp_path / "runs", "b-run", metrics={"per_fold": []})
    assert store.reindex(tmp_path / "runs") == 2
    running, no_headline = store.get_run("a-run"), store.get_run("b-run")
    # A running run's metrics.json may be stale from an earlier invocation; it is not shown as its score.
    assert running["headline_value"] is None and running["metrics_json"] is None
    assert running["wall_seconds"] is None
    assert no_headline["headline_metric"] is None and no_headline["headline_value"] is None
    assert no_headline["metrics_json"] == {"per_fold": []}


def test_reindexing_is_idempotent_and_upsert_updates(tmp_path, store):
    runs = tmp_path / "runs"
    folder = make_run(runs, "cnn-x", status="partial", folds={"0": 1.0}, metrics=scores(0.5))
    store.index_run(folder)
    first = store.get_run("cnn-x")
    store.index_run(folder)
    assert store.get_run("cnn-x") == first and len(store.list_runs()) == 1
    # The run resumes, finishes its folds and is indexed again: same row, new status and score.
    doc = json.loads((folder / "run.json").read_text())
    doc["status"] = "completed"
    doc["folds"].update({"1": {"seconds": 2.0, "best_epoch": 2}})
    (folder / "run.json").write_text(json.dumps(doc))
    (folder / "metrics.json").write_text(json.dumps(scores(0.9)))
    store.index_run(folder)
    rows = store.list_runs()
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["headline_value"], rows[0]["wall_seconds"]) == ("completed", 0.9, 3.0)


def test_a_different_run_with_the_same_id_never_replaces_the_indexed_one(tmp_path, store):
    first = make_run(tmp_path / "a", "cnn-x", metrics=scores(0.9))
    store.index_run(first)
    # Another folder, another creation time and other scores under the same id: refused, the first row kept.
    other = make_run(tmp_path / "b", "cnn-x", metrics=scores(0.5), extra={"created": "2025-02-01T00:00:00+00:00"})
    with pytest.raises(BusbenchError, match=r"b/cnn-x: run cnn-x is indexed .* already from .*a/cnn-x, with other "
                                            r"headline_value"):
        store.index_run(other)
    with pytest.raises(BusbenchError, match="a different run never replaces it"):
        store.reindex(tmp_path / "b")
    assert store.get_run("cnn-x")["headline_value"] == 0.9
    # Another identity under the same id (a recorded identity differs from the implied one): refused too.
    forged = make_run(tmp_path / "c", "cnn-x", metrics=scores(0.9), extra={"seed": 8})
    with pytest.raises(BusbenchError, match="with another identity"):
        store.index_run(forged)
    # A copy of the same run (published, moved) is the same run: its row follows the copy.
    copy = tmp_path / "published" / "cnn-x"
    shutil.copytree(first, copy)
    store.index_run(copy)
    assert store.get_run("cnn-x")["run_dir"] == str(copy.resolve()) and len(store.list_runs()) == 1


def test_filters_combine(tmp_path, store):
    runs = tmp_path / "runs"
    make_run(runs, "a-1", metrics=scores())
    make_run(runs, "b-2", protocol="naive-split", metrics=scores())
    make_run(runs, "c-3", task="segmentation", metrics=scores())
    make_run(runs, "d-4", status="failed", errors={"0": "boom"})
    make_run(runs, "e-5", dataset="BUS-BRA", metrics=scores())
    assert store.reindex(runs) == 5

    def ids(**filters: str) -> list[str]:
        return [r["run_id"] for r in store.list_runs(**filters)]

    assert ids() == ["a-1", "b-2", "c-3", "d-4", "e-5"]
    assert ids(task="classification") == ["a-1", "b-2", "d-4", "e-5"]
    assert ids(status="completed", protocol="clean") == ["a-1", "c-3", "e-5"]
    assert ids(task="classification", status="completed", protocol="clean", dataset="BUSI") == ["a-1"]
    assert ids(status="failed") == ["d-4"]
    assert ids(dataset="nope") == []
    assert store.get_run("nope") is None


def test_reindex_counts_runs_and_skips_other_files(tmp_path, store):
    runs = tmp_path / "runs"
    make_run(runs, "a-1", metrics=scores())
    make_run(runs, "b-2", status="failed", errors={"0": "x"})
    (runs / "notes.txt").write_text("not a run")
    (runs / "empty-folder").mkdir()
    assert store.reindex(runs) == 2  # the index file itself lies in runs/ too and is not a run
    assert {r["run_id"] for r in store.list_runs()} == {"a-1", "b-2"}
    assert store.reindex(runs) == 2 and len(store.list_runs()) == 2


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"run_id": "x", "kind": "trained", "task": "classification", "status": "done"}), "unknown status"),
    (json.dumps({"kind": "trained", "task": "classification", "status": "completed", "submission": "m"}),
     "'run_id' must be a non-empty string"),
])
def test_malformed_run_json_names_the_file_and_writes_nothing(tmp_path, store, content, problem):
    runs = tmp_path / "runs"
    make_run(runs, "a-good", metrics=scores())
    bad = runs / "b-bad"
    bad.mkdir()
    (bad / "run.json").write_text(content)
    with pytest.raises(BusbenchError) as info:
        store.reindex(runs)
    assert str(bad / "run.json") in str(info.value) and problem in str(info.value)
    assert store.list_runs() == []  # the good run before it was not half-indexed either


def test_bad_field_types_and_metrics_name_the_file(tmp_path, store):
    runs = tmp_path / "runs"
    folder = make_run(runs, "a-1", extra={"image_size": "64"})
    with pytest.raises(BusbenchError, match="'image_size' must be an integer"):
        store.index_run(folder)
    folder = make_run(runs, "b-2")
    (folder / "metrics.json").write_text('{"headline": {"metric": "auc", "value": "high"}}')
    with pytest.raises(BusbenchError) as info:
        store.index_run(folder)
    assert str(folder / "metrics.json") in str(info.value) and "must be a number" in str(info.value)
    with pytest.raises(BusbenchError, match="does not exist"):
        store.index_run(runs / "missing")
    with pytest.raises(BusbenchError, match="is not a folder"):
        store.reindex(runs / "missing")


def test_failed_write_keeps_the_previous_rows(tmp_path, store):
    runs = tmp_path / "runs"
    a = make_run(runs, "a-1", status="partial", metrics=scores(0.5))
    make_run(runs, "b-2", metrics=scores())
    assert store.reindex(runs) == 2
    doc = json.loads((a / "run.json").read_text())
    doc["status"] = "completed"
    (a / "run.json").write_text(json.dumps(doc))
    # A malformed run.json for the same run is refused before any write: the earlier row stays.
    (runs / "b-2" / "run.json").write_text("{")
    with pytest.raises(BusbenchError):
        store.index_run(runs / "b-2")
    assert store.get_run("b-2")["status"] == "completed"
    make_run(runs, "c-3", metrics=scores())
    (runs / "b-2" / "run.json").unlink()

    # The database fails part-way through a reindex (after a-1's row was updated, on c-3's insert): a-1's update
    # must be rolled back with it. A trigger makes SQLite itself refuse c-3, inside the same statement.
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as db:
        db.execute("CREATE TRIGGER refuse_c3 BEFORE INSERT ON runs WHEN NEW.run_id = 'c-3' "
                   "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END")
    with pytest.raises(BusbenchError, match="simulated"):
        store.reindex(runs)
    assert store.get_run("a-1")["status"] == "partial" and store.get_run("c-3") is None


def test_headline_reader():
    assert headline(scores(), "classification") == ("auc_macro", 0.875, 0.81, 0.92)
    assert headline({}, "segmentation") == ("", None, None, None)
    assert headline({"headline": {"metric": "dice", "value": 0.8}}, "segmentation") == ("dice", 0.8, None, None)
    assert headline({"headline": {"metric": "dice", "value": float("nan")}}, "segmentation")[1] is None
    with pytest.raises(BusbenchError, match="segmentation metrics"):
        headline({"headline": 0.8}, "segmentation")


def test_schema_version_is_recorded_and_checked(tmp_path):
    url = default_store_url(tmp_path)
    with ResultsStore(url) as store:
        assert store.list_runs() == []
    db = tmp_path / "index.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("select version from schema_version").fetchall() == [(SCHEMA_VERSION,)]
        conn.execute("update schema_version set version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(BusbenchError, match=f"schema version {SCHEMA_VERSION + 1}"):
        ResultsStore(url).list_runs()


_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from benchmark.results.store import ResultsStore
    url, folder, ready, other = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    store = ResultsStore(url)
    ready.touch()
    deadline = time.monotonic() + 30
    while not other.exists() and time.monotonic() < deadline:  # start together: the first use creates the schema
        time.sleep(0.005)
    for _ in range(25):
        store.index_run(folder)
""")


def test_two_processes_index_into_one_sqlite_file(tmp_path):
    runs = tmp_path / "runs"
    folders = [make_run(runs, "a-1", metrics=scores()), make_run(runs, "b-2", status="failed", errors={"0": "x"})]
    url = default_store_url(runs)  # no index file yet: both processes race to create the schema as well
    flags = [tmp_path / "ready-0", tmp_path / "ready-1"]
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, url, str(folders[i]), str(flags[i]),
                               str(flags[1 - i])], cwd=REPO, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with ResultsStore(url) as store:
        rows = store.list_runs()
    assert [(r["run_id"], r["status"]) for r in rows] == [("a-1", "completed"), ("b-2", "failed")]


def test_url_errors_name_the_url_and_hide_the_password(tmp_path):
    secret = "s3cret-Pw"
    cases = [
        f"postgresql://alice:{secret}@127.0.0.1:1/busbench",  # no driver installed, or nothing listening
        f"postgresql://alice:{secret}@127.0.0.1:notaport/busbench",  # not parseable
        f"nosuchdb://alice:{secret}@host/db",  # unknown dialect
    ]
    for url in cases:
        with pytest.raises(BusbenchError) as info:
            ResultsStore(url).list_runs()
        message = str(info.value)
        assert secret not in message and "alice" in message and "***" in message, message
        assert message.startswith("results store "), message
    with pytest.raises(BusbenchError, match="is not a valid database URL"):
        ResultsStore("not a url")


def test_unusable_sqlite_file_is_a_busbench_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BusbenchError, match="cannot create the folder"):
        ResultsStore(f"sqlite:///{blocker}/sub/index.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(BusbenchError) as info:
        ResultsStore(f"sqlite:///{garbage}").list_runs()
    assert str(garbage) in str(info.value) and "database error" in str(info.value)


def test_first_readers_of_a_fresh_index_wait_for_each_other(tmp_path):
    """Eight processes open one fresh SQLite index at the same moment and read it: none fails "database is locked"."""
    url = f"sqlite:///{tmp_path / 'fresh' / 'index.sqlite'}"
    start = __import__("time").time() + 3
    script = textwrap.dedent(f"""
        import time
        from benchmark.results.store import ResultsStore
        time.sleep(max(0.0, {start} - time.time()))
        with ResultsStore({url!r}) as store:
            print(len(store.list_runs()))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(8)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outcomes]
    assert [out.strip() for out, _ in outcomes] == ["0"] * 8


@pytest.mark.parametrize("command", ["run", "audit"])
def test_an_unusable_results_store_is_refused_before_anything_trains(tmp_path, capsys, monkeypatch, command):
    from benchmark.cli import main
    from tests.helpers import TINY, write_tiny_split

    monkeypatch.setattr("benchmark.engine.plugin_process.PluginProcess.start", lambda *a, **k: pytest.fail("trained"))
    store = "postgresql://u:s3cret@127.0.0.1:1/db"
    if command == "run":
        argv = ["run", "small_cnn", "--dataset", TINY, "--splits", str(write_tiny_split(tmp_path / "s.json")),
                "--results", store, "--out", str(tmp_path / "runs")]
    else:
        argv = ["audit", "protocols", "small_cnn", "--dataset", TINY, "--results", store, "--out",
                str(tmp_path / "runs")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("busbench: error: results store postgresql://u:***@127.0.0.1:1/db") and "s3cret" not in err
    assert err.count("\n") == 1 and not list((tmp_path / "runs").rglob("run.json"))
