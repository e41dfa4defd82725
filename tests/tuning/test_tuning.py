"""busbench tune as a user meets it: nested (test fold sealed while a study runs), resumable, shared by workers."""

from __future__ import annotations

import csv
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from benchmark.cli import main
from benchmark.data.dataset import Dataset
from benchmark.data.open import open_dataset
from benchmark.engine.plugin_process import PluginProcess
from benchmark.plugins import registry
from benchmark.results.store import ResultsStore, default_store_url
from benchmark.splits.make import make_split
from benchmark.splits.schema import CaseRecord, read_split
from benchmark.tuning import nested, worker
from benchmark.tuning.nested import TuneRequest, tune_submission
from benchmark.tuning.space import space_to_json
from benchmark.tuning.storage import close_storage, open_storage
from tests.helpers import TINY

SMALL_CNN_SPACE = registry.get("small_cnn").spec.search_space
# 4 epochs at 32 px: about 0.3 s a trial on one core, and enough for validation scores to differ between trials.
FAST = {"image_size": 32, "epochs": 4, "precision": "fp32", "threads": 1, "device": "cpu"}


def _cli(split: Path, out: Path, *extra: str) -> list[str]:
    return ["tune", "small_cnn", "--dataset", TINY, "--splits", str(split), "--image-size", "32", "--epochs", "4",
            "--precision", "fp32", "--threads", "1", "--device", "cpu", "--out", str(out), *extra]


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _finished(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


class TestTruthRead(AssertionError):
    """A sealed test case was read."""

    __test__ = False  # not a pytest test class, despite its name


class _Sealing:
    """The dataset, with the cases in ``sealed`` unreadable: any label, pixel or mask access is logged and raises."""

    def __init__(self, base: Dataset):
        self._base = base
        self.sealed: set[str] = set()
        self.log: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self._base, name)

    def _check(self, case_id: str, how: str) -> None:
        if case_id in self.sealed:
            self.log.append(f"{case_id} ({how})")
            raise TestTruthRead(f"sealed test case {case_id} read ({how})")

    def case(self, case_id: str):
        self._check(case_id, "case")
        return self._base.case(case_id)

    def load(self, case, size=None):
        self._check(case if isinstance(case, str) else case.case_id, "load")
        return self._base.load(case, size)

    def decode(self, case):
        self._check(case.case_id, "decode")
        return self._base.decode(case)


@pytest.fixture(scope="module")
def sealed_run(tiny_split, tmp_path_factory):
    """All three outer folds tuned (3 trials each), each fold's test cases sealed until its study has ended.

    The seal on fold k's test part lifts only inside the one call that reads test pixels for the final prediction
    (``images_only``); at that moment the fold's study must hold its 3 finished trials.
    """
    out = tmp_path_factory.mktemp("sealed")
    split = read_split(tiny_split)
    data = _Sealing(open_dataset(TINY))
    data.sealed = set(split.folds[0].test)
    url = f"sqlite:///{out / 'tuning.sqlite'}"
    reads: list[tuple[int, int]] = []
    real_images_only = nested.images_only

    def images_only(dataset, ids, size):
        k = next(i for i, f in enumerate(split.folds) if set(f.test) == set(ids))
        name = next(n for n in optuna.study.get_all_study_names(url) if n.endswith(f".fold-{k}"))
        reads.append((k, len(_finished(_trials(url, name)))))
        data.sealed = set()
        images = real_images_only(dataset, ids, size)
        data.sealed = set(split.folds[k + 1].test) if k + 1 < split.k else set()
        return images

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nested, "open_dataset", lambda spec: data)
        mp.setattr(nested, "images_only", images_only)
        outcome = tune_submission(TuneRequest("small_cnn", TINY, tiny_split, trials=3, out=out, **FAST))
    return {"out": out, "url": url, "outcome": outcome, "log": data.log, "reads": reads, "split": split}


@pytest.mark.slow
def test_no_outer_test_case_is_read_while_its_study_runs(sealed_run):
    assert sealed_run["log"] == []
    assert sealed_run["outcome"].status == "completed"
    # each fold's test pixels are read exactly once, in fold order, after its study held every requested trial
    assert sealed_run["reads"] == [(0, 3), (1, 3), (2, 3)]


def test_tuned_run_lands_in_the_store_with_space_trials_best_params_and_cost(sealed_run):
    out, url = sealed_run["out"], sealed_run["url"]
    run_dir = sealed_run["outcome"].run_dir
    run = json.loads((run_dir / "run.json").read_text())
    tuning = run["tuning"]
    assert run["kind"] == "tuned" and run["tuned"] is True and run["status"] == "completed"
    assert tuning["trials"] == 3 and tuning["search_space"] == space_to_json(SMALL_CNN_SPACE)
    cost = 0.0
    for k in range(3):
        trials = _trials(url, f"{tuning['study']}.fold-{k}")
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
        assert all(len(t.intermediate_values) == 4 for t in trials)  # every epoch's val score reported
        best = max(trials, key=lambda t: (t.value, -t.number))
        assert tuning["folds"][str(k)]["best_params"] == best.params
        fold = json.loads((run_dir / f"fold-{k}" / "result.json").read_text())
        assert fold["best_params"] == best.params and fold["hparams"]["lr"] == best.params["lr"]
        # the final training repeats the best trial exactly (same seeds, CPU): same inner-validation curve
        assert [h["val_score"] for h in fold["history"]] == [best.intermediate_values[e] for e in (1, 2, 3, 4)]
        # the cost is the time trials trained (recorded after each epoch), within their wall-clock span
        trained = sum(t.user_attrs["seconds"] for t in trials)
        assert 0 < trained <= sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
        cost += trained
    assert tuning["seconds"] == pytest.approx(cost, abs=0.05) and cost > 0
    row = ResultsStore(default_store_url(out)).get_run(run_dir.name)
    assert row["tuned"] is True and row["kind"] == "tuned" and row["status"] == "completed"
    assert row["headline_metric"] == "balanced_accuracy" and row["headline_value"] is not None
    assert row["wall_seconds"] > cost  # the store's cost counts every trial plus the final trainings
    assert row["run_json"]["tuning"]["folds"]["2"]["best_params"] == tuning["folds"]["2"]["best_params"]


def test_explain_draws_each_case_with_its_folds_own_tuned_model(sealed_run, tmp_path):
    run_dir, split = sealed_run["outcome"].run_dir, sealed_run["split"]
    widths = {k: json.loads((run_dir / f"fold-{k}" / "result.json").read_text())["hparams"]["width"]
              for k in range(split.k)}
    # two folds whose tuned models have different architectures where the tuning gave any (another fold's parameters
    # would not even load); the probabilities below tell the folds' models apart either way
    first, second = next(((i, j) for i in range(split.k) for j in range(i + 1, split.k) if widths[i] != widths[j]),
                         (0, split.k - 1))
    a, b = split.folds[first].test[0], split.folds[second].test[-1]
    assert main(["explain", str(run_dir), "--cases", f"{a},{b}", "--out", str(tmp_path / "cam")]) == 0
    index = json.loads((tmp_path / "cam" / "index.json").read_text())["cases"]
    oof = {}
    for k in range(split.k):
        with (run_dir / f"fold-{k}" / "predictions.csv").open() as handle:
            oof.update({row["case_id"]: [float(row[f"prob_{c}"]) for c in ("normal", "benign", "malignant")]
                        for row in csv.DictReader(handle)})
    for case_id, k in ((a, first), (b, second)):
        # the same probabilities as the tuned run's out-of-fold prediction: fold k's model, built with fold k's
        # best parameters (the small CNN's width is tuned, so another fold's parameters would not even load)
        assert index[case_id]["fold"] == k
        np.testing.assert_allclose(list(index[case_id]["probabilities"].values()), oof[case_id], atol=1e-5)


@pytest.mark.slow
def test_outer_test_labels_do_not_influence_any_trial(sealed_run, tiny_split, tmp_path):
    # The same fold-0 study with every fold-0 test case relabelled (a consistent split and dataset): the trials and
    # best parameters must not change; only the outer score, which is computed from those labels, may.
    base, split = open_dataset(TINY), read_split(tiny_split)
    test0 = set(split.folds[0].test)
    relabel = {c.case_id: "malignant" if c.label != "malignant" else "normal" for c in base.cases if c.case_id in test0}
    changed = Dataset(base.name, base.source, [replace(c, label=relabel.get(c.case_id, c.label)) for c in base.cases],
                      base.classes, has_masks=base.has_masks, kind=base.kind)
    split.cases = {cid: CaseRecord(r.fingerprint, relabel.get(cid, r.label), r.group, r.cluster)
                   for cid, r in split.cases.items()}
    split.dataset_fingerprint = changed.fingerprint()
    other_split = tmp_path / "relabelled.json"
    split.save(other_split)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nested, "open_dataset", lambda spec: changed)
        outcome = tune_submission(TuneRequest("small_cnn", TINY, other_split, trials=3, folds=(0,), out=tmp_path,
                                              **FAST))
    first = json.loads((sealed_run["outcome"].run_dir / "run.json").read_text())["tuning"]
    second = json.loads((outcome.run_dir / "run.json").read_text())["tuning"]
    a = _trials(sealed_run["url"], f"{first['study']}.fold-0")
    b = _trials(f"sqlite:///{tmp_path / 'tuning.sqlite'}", f"{second['study']}.fold-0")
    assert [(t.params, t.value, t.intermediate_values, t.state) for t in a] == [
        (t.params, t.value, t.intermediate_values, t.state) for t in b]
    assert len({t.value for t in a}) > 1  # the trials really differ, so equality above is not vacuous
    assert second["folds"]["0"]["best_params"] == first["folds"]["0"]["best_params"]
    # same fold-0 model, same predictions; the score moved with the changed labels
    assert (outcome.run_dir / "fold-0" / "predictions.csv").read_text() == (
        sealed_run["outcome"].run_dir / "fold-0" / "predictions.csv").read_text()
    old_score = json.loads((sealed_run["outcome"].run_dir / "metrics.json").read_text())["per_fold"][0]
    new_score = json.loads((outcome.run_dir / "metrics.json").read_text())["per_fold"][0]
    assert old_score != new_score


def test_show_prints_best_trials_importances_and_history(sealed_run, capsys):
    study = json.loads((sealed_run["outcome"].run_dir / "run.json").read_text())["tuning"]["study"]
    assert main(["tune", "--show", study, "--out", str(sealed_run["out"])]) == 0
    text = capsys.readouterr().out
    for k in range(3):
        assert f"study {study}.fold-{k}: 3 complete" in text
    assert text.count("best trials") == 3 and text.count("optimisation history") == 3
    values = {k: {t.value for t in _trials(sealed_run["url"], f"{study}.fold-{k}")} for k in range(3)}
    # importances where trial scores differ; where every trial scored the same, the report says why there are none
    assert text.count("parameter importances: fANOVA") == sum(len(v) > 1 for v in values.values()) >= 1
    assert text.count("every completed trial scored the same") == sum(len(v) == 1 for v in values.values())
    k = next(k for k in range(3) if len(values[k]) > 1)
    assert main(["tune", "--show", f"{study}.fold-{k}", "--out", str(sealed_run["out"]), "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["studies"]
    trials = _trials(sealed_run["url"], f"{study}.fold-{k}")
    assert [h["number"] for h in report["history"]] == [0, 1, 2]
    assert [h["value"] for h in report["history"]] == [t.value for t in trials]
    best_so_far = [max(t.value for t in trials[: i + 1]) for i in range(3)]
    assert [h["best_so_far"] for h in report["history"]] == best_so_far
    assert report["best"][0]["value"] == max(t.value for t in trials)
    assert set(report["importances"]) == set(SMALL_CNN_SPACE)
    assert sum(report["importances"].values()) == pytest.approx(1.0)


def test_each_fold_carries_its_study_report_and_publish_keeps_it(sealed_run, capsys, tmp_path):
    # A run folder holds its tuning history: the report --show prints from the storage, fold by fold.
    run_dir = sealed_run["outcome"].run_dir
    study = json.loads((run_dir / "run.json").read_text())["tuning"]["study"]
    for k in range(3):
        saved = json.loads((run_dir / f"fold-{k}" / "tuning.json").read_text())
        assert main(["tune", "--show", f"{study}.fold-{k}", "--out", str(sealed_run["out"]), "--json"]) == 0
        (shown,) = json.loads(capsys.readouterr().out)["studies"]
        assert saved == shown
        assert saved["study"] == f"{study}.fold-{k}" and [h["state"] for h in saved["history"]] == ["complete"] * 3
    assert main(["results", "publish", str(run_dir), "--to", str(tmp_path / "pub")]) == 0
    published = tmp_path / "pub" / run_dir.name
    for k in range(3):
        assert (published / f"fold-{k}" / "tuning.json").read_bytes() == (
            run_dir / f"fold-{k}" / "tuning.json").read_bytes()


def _space(tmp_path: Path, doc: object, name: str = "space.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


LR = {"kind": "float", "low": 1e-3, "high": 1e-1, "log": True}


@pytest.mark.parametrize(("extra", "message"), [
    (lambda t: ["--trials", "0"], "--trials: must be at least 1"),
    (lambda t: ["--trials", "2", "--space", _space(t, {})], "the search space is empty"),
    (lambda t: ["--trials", "2", "--space", _space(t, "{lr: 1")], "cannot read the search space as JSON"),
    (lambda t: ["--trials", "2", "--space", _space(t, {"lr": {**LR, "low": 1.0}})], "needs low < high"),
    (lambda t: ["--trials", "2", "--space", _space(t, {"lr": {"kind": "normal"}})], "unknown parameter kind"),
    (lambda t: ["--trials", "2", "--space", _space(t, {"depth": LR})], "unknown hyper-parameter(s) depth"),
    (lambda t: ["--trials", "2", "--storage", "postgresql://u:s3cret@127.0.0.1:1/db"], "cannot be reached"),
    (lambda t: ["--trials", "2", "--storage", str(t / "journal.log")], "is not a database URL"),
])
def test_bad_input_is_one_line_exit_2_before_training(tiny_split, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(PluginProcess, "start", lambda *a, **k: pytest.fail("a plugin process started"))
    assert main(_cli(tiny_split, tmp_path / "runs", *extra(tmp_path))) == 2
    err = capsys.readouterr().err
    assert err.startswith("busbench: error: ") and err.count("\n") == 1 and message in err, err
    assert "s3cret" not in err
    assert not list((tmp_path / "runs").glob("*/run.json"))


def test_a_study_is_never_continued_with_another_space_or_split(sealed_run, tiny_split, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.setattr(PluginProcess, "start", lambda *a, **k: pytest.fail("a plugin process started"))
    study = json.loads((sealed_run["outcome"].run_dir / "run.json").read_text())["tuning"]["study"]
    before = [len(_trials(sealed_run["url"], f"{study}.fold-{k}")) for k in range(3)]
    other_split = tmp_path / "other.json"
    make_split(open_dataset(TINY), k=3, seed=1, val_fraction=0.5).save(other_split)
    shared = ["--trials", "3", "--study", study, "--storage", sealed_run["url"]]
    assert main(_cli(tiny_split, tmp_path, *shared, "--space", _space(tmp_path, {"lr": LR}))) == 2
    assert f"study '{study}.fold-0': exists with another search space" in capsys.readouterr().err
    assert main(_cli(other_split, tmp_path, *shared)) == 2
    assert "exists with another split file" in capsys.readouterr().err
    assert [len(_trials(sealed_run["url"], f"{study}.fold-{k}")) for k in range(3)] == before


@pytest.mark.slow
def test_pruned_trials_stop_early_and_count(tiny_split, tmp_path, monkeypatch):
    # a pruner that stops every trial after its first epoch: each trial trains one epoch and counts as finished
    monkeypatch.setattr(nested, "make_pruner", lambda name, epochs: optuna.pruners.ThresholdPruner(lower=2.0))
    outcome = tune_submission(TuneRequest("small_cnn", TINY, tiny_split, trials=2, folds=(1,), out=tmp_path, **FAST))
    study = json.loads((outcome.run_dir / "run.json").read_text())["tuning"]["study"]
    trials = _trials(f"sqlite:///{tmp_path / 'tuning.sqlite'}", f"{study}.fold-1")
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert [list(t.intermediate_values) for t in trials] == [[1], [1]]
    assert outcome.status == "failed" and "no trial of study" in outcome.failed[1]  # nothing completed to pick
    report = json.loads((outcome.run_dir / "fold-1" / "tuning.json").read_text())  # written even so
    # Optuna keeps a pruned trial's last reported score as its value; only completed trials make the best so far
    assert [(h["state"], h["value"], h["epochs"], h["best_so_far"]) for h in report["history"]] == [
        ("pruned", t.intermediate_values[1], 1, None) for t in trials]
    assert report["best"] == [] and report["importances"] is None


@pytest.mark.slow
def test_timeout_stops_starting_trials_and_scores_the_best_so_far(tiny_split, tmp_path):
    outcome = tune_submission(TuneRequest("small_cnn", TINY, tiny_split, trials=50, timeout=1.0, folds=(2,),
                                          out=tmp_path, **FAST))
    summary = json.loads((outcome.run_dir / "run.json").read_text())["tuning"]["folds"]["2"]
    assert summary["ended"] == "timeout" and 1 <= summary["finished"] < 50
    assert json.loads((outcome.run_dir / "fold-2" / "result.json").read_text())["status"] == "completed"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_retried(tmp_path, monkeypatch):
    storage = open_storage(f"sqlite:///{tmp_path / 'dead.sqlite'}", heartbeat=1)
    study = optuna.create_study(storage=storage, direction="maximize")
    study.ask().suggest_float("x", 0.0, 1.0)  # running, and nothing ever beats for it
    worker.fail_stale(study, storage)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]  # younger than the grace period: kept
    real = worker.datetime

    class _FiveMinutesLater:
        @staticmethod
        def now():
            return real.now() + timedelta(minutes=5)

    monkeypatch.setattr(worker, "datetime", _FiveMinutesLater)
    worker.fail_stale(study, storage)
    first, retry = study.get_trials()
    assert (first.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == first.params and retry.system_attrs["failed_trial"] == first.number
    close_storage(storage)


def _worker_args(split: Path, out: Path, *extra: str) -> list[str]:
    return _cli(split, out, "--folds", "0", "--pruner", "none", *extra)


def _worker(split: Path, out: Path, *extra: str) -> list[str]:
    """A tuning worker as a shell starts it: an interpreter of its own."""
    return [sys.executable, "-m", "benchmark", *_worker_args(split, out, *extra)]


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_trials_and_retries_the_killed_one(tiny_split, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    args = _worker_args(tiny_split, tmp_path / "runs", "--trials", "4", "--storage", url, "--study", "k",
                        "--heartbeat", "1", "--epochs", "8")
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline, trials = time.time() + 120, []
    while time.time() < deadline and proc.poll() is None:
        try:
            trials = _trials(url, "k.fold-0")
        except (KeyError, Exception):  # the study does not exist yet
            trials = []
        # kill it mid-training: a trial finished, the next one has trained and reported at least one epoch
        if len(_finished(trials)) >= 1 and any(t.state == TrialState.RUNNING and t.intermediate_values
                                                for t in trials):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _trials(url, "k.fold-0")
    done_before = _finished(before)
    killed = [t for t in before if t.state == TrialState.RUNNING]
    assert 1 <= len(done_before) < 4 and len(killed) == 1, proc.stderr.read()
    # resumed and run straight in this process, through the command's own entry point (only the killed worker
    # needs an interpreter of its own)
    assert main(args) == 0
    after = _trials(url, "k.fold-0")
    done = _finished(after)
    assert len(done) == 4  # exactly the requested number, nothing lost or repeated
    kept = {t.number for t in done_before}
    assert [(t.number, t.params, t.value, t.datetime_complete) for t in done_before] == [
        (t.number, t.params, t.value, t.datetime_complete) for t in after if t.number in kept]
    (dead,) = [t for t in after if t.number == killed[0].number]
    assert dead.state == TrialState.FAIL  # marked failed once its heartbeat went stale...
    (retry,) = [t for t in after if t.system_attrs.get("failed_trial") == dead.number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params  # ...and retried with its parameters
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == 4
    # the resumed study proposed the same parameters, in the same order, as an uninterrupted one
    straight_url = f"sqlite:///{tmp_path / 'straight.sqlite'}"
    assert main(_worker_args(tiny_split, tmp_path / "straight", "--trials", "4", "--storage", straight_url, "--study",
                             "k", "--heartbeat", "1", "--epochs", "8")) == 0
    uninterrupted = [t.params for t in _finished(_trials(straight_url, "k.fold-0"))]
    # (by place: the resumed worker may start the next trial before the dead one's heartbeat goes stale, so the
    # retry can get a higher trial number than the trial after it)
    assert [t.params for t in worker.place_order(done)] == uninterrupted
    # the tuning cost counts what the killed trial trained, not the time until it was found dead
    from benchmark.tuning.nested import study_summary

    study = optuna.load_study(study_name="k.fold-0", storage=url)
    # (the kill may land just after a trial ended and the next one started: then the dead trial trained nothing)
    assert dead.user_attrs.get("seconds", 0.0) < (dead.datetime_complete - dead.datetime_start).total_seconds()
    assert study_summary(study)["seconds"] == pytest.approx(sum(t.user_attrs.get("seconds", 0.0) for t in after),
                                                           abs=0.01)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server on 127.0.0.1 (run as user 'postgres' when the tests run as root)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's 'postgresql' package")
    root = Path(tempfile.mkdtemp(prefix="busbench-pg-"))
    user = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = "postgres"
    data, port = root / "data", _free_port()
    subprocess.run([bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "busbench", "--no-sync"], user=user,
                   check=True, capture_output=True)
    subprocess.run([bin_dir / "pg_ctl", "-D", data, "-o", f"-h 127.0.0.1 -p {port} -k {root}", "-l", root / "log",
                    "-w", "start"], user=user, check=True, capture_output=True)
    try:
        yield f"postgresql://busbench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], user=user,
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_on_one_storage_finish_exactly_n_trials_together(backend, tiny_split, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}" if backend == "sqlite" else request.getfixturevalue(
        "postgres_url")
    # 20 epochs make a trial last ~0.5-1 s, so the second worker is up (~5 s of imports) before the first is done
    cmd = ["--trials", "6", "--epochs", "20", "--storage", url, "--study", f"two-{backend}"]
    procs = [subprocess.Popen(_worker(tiny_split, tmp_path / f"runs-{i}", *cmd), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    trials = _trials(url, f"two-{backend}.fold-0")
    done = _finished(trials)
    assert len(done) == 6  # exactly the requested number between them
    assert all(t.user_attrs.get("surplus") for t in trials if t not in done)  # any extra is a recorded surplus
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == 6  # no trial repeated
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both workers ran trials
    runs = [json.loads(next((tmp_path / f"runs-{i}").glob("*/run.json")).read_text()) for i in range(2)]
    assert runs[0]["tuning"]["folds"]["0"]["best_params"] == runs[1]["tuning"]["folds"]["0"]["best_params"]


def test_show_without_a_storage_and_tune_without_its_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["tune", "--show", "nope", "--out", str(tmp_path)]) == 2
    assert "does not exist (no study has been run with it" in capsys.readouterr().err
    assert main(["tune", "small_cnn", "--dataset", TINY]) == 2
    assert "needs --splits, --trials (or --show STUDY)" in capsys.readouterr().err
