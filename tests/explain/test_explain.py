"""``busbench explain`` on a real tiny run: pictures, index, the fold whose test part holds the case, bad input."""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.data.open import open_dataset
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.errors import BusbenchError
from benchmark.explain.run import fold_of_cases
from benchmark.splits.make import make_split
from benchmark.splits.verify import load_split

TINY = "synthetic:n=45,seed=4,size=48"
SIZE = 32


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A finished 3-fold small_cnn run (1 epoch, 32 px) and its split."""
    root = tmp_path_factory.mktemp("explain")
    split_path = root / "tiny.json"
    dataset = open_dataset(TINY)
    make_split(dataset, k=3, seed=0, val_fraction=0.5).save(split_path)
    outcome = run_submission(RunRequest("small_cnn", TINY, split_path, epochs=1, image_size=SIZE, precision="fp32",
                                        threads=1, out=root / "runs"))
    assert outcome.status == "completed"
    return SimpleNamespace(dir=outcome.run_dir, split=load_split(split_path, dataset), dataset=dataset)


def oof_probabilities(run_dir: Path) -> dict[str, tuple[int, list[float]]]:
    """The run's out-of-fold predictions: case -> (fold, probabilities)."""
    out = {}
    for path in run_dir.glob("fold-*/predictions.csv"):
        with path.open() as handle:
            for row in csv.DictReader(handle):
                out[row["case_id"]] = (int(row["fold"]), [float(row[c]) for c in
                                                          ("prob_normal", "prob_benign", "prob_malignant")])
    return out


def explain(*args: str) -> int:
    return main(["explain", *args])


@pytest.mark.slow
def test_explain_two_cases_from_different_folds(run, capsys, tmp_path):
    a, b = run.split.folds[2].test[0], run.split.folds[0].test[-1]
    assert explain(str(run.dir), "--cases", f"{a}, {b}") == 0
    out = run.dir / "gradcam"
    index = json.loads((out / "index.json").read_text())
    assert set(index["cases"]) == {a, b}
    oof = oof_probabilities(run.dir)
    for cid, fold in ((a, 2), (b, 0)):
        entry = index["cases"][cid]
        assert entry["fold"] == fold and oof[cid][0] == fold
        # the probabilities are the run's own out-of-fold ones: the model of the fold that tested the case was used
        np.testing.assert_allclose(list(entry["probabilities"].values()), oof[cid][1], atol=1e-5)
        probs = entry["probabilities"]
        assert entry["class_explained"] == entry["predicted_class"] == max(probs, key=probs.get)
        assert entry["true_label"] == run.dataset.case(cid).label
        assert entry["target_layer"] == "24"  # small_cnn's last conv (block 4, 4x4 at 32 px)
        assert entry["run_id"] == run.dir.name and entry["image_size"] == SIZE and entry["class_choice"] == "predicted"
        picture = np.asarray(Image.open(out / entry["png"]))
        assert entry["png"] == f"{cid}.png" and picture.shape == (SIZE, 2 * SIZE, 3)
        # left half: the grey image exactly as the engine feeds it to the model
        grey = run.dataset.load(cid, SIZE)[0]
        assert (picture[:, :SIZE] == grey[..., None]).all()
    # a second call with another class and case accumulates in the same index; the earlier entries stay
    c = run.split.folds[1].test[0]
    assert explain(str(run.dir), "--cases", c, "--class", "malignant") == 0
    index = json.loads((out / "index.json").read_text())
    assert set(index["cases"]) == {a, b, c}
    assert index["cases"][c]["class_explained"] == "malignant" and index["cases"][c]["fold"] == 1
    assert explain(str(run.dir), "--cases", a, "--class", "true", "--out", str(tmp_path / "x")) == 0
    entry = json.loads((tmp_path / "x" / "index.json").read_text())["cases"][a]
    assert entry["class_explained"] == run.dataset.case(a).label
    assert "wrote 1 picture(s)" in capsys.readouterr().out


def _fails(capsys, *args: str, match: str) -> None:
    assert explain(*args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("busbench: error:") and match in err, err


def test_bad_input_exits_2_with_one_line_and_writes_nothing(run, capsys, tmp_path):
    out = tmp_path / "out"
    some = run.split.folds[0].test[0]
    _fails(capsys, str(run.dir), "--cases", f"{some},benign-999", "--out", str(out),
           match="unknown case id(s) in synthetic:n=45,seed=4,size=48: benign-999")
    _fails(capsys, str(tmp_path), "--cases", some, "--out", str(out), match="run.json: not found")
    _fails(capsys, str(run.dir), "--cases", some, "--dataset", "synthetic:n=30,seed=4,size=48", "--out", str(out),
           match="is not the data")
    copy = tmp_path / "copy"
    shutil.copytree(run.dir, copy, ignore=shutil.ignore_patterns("gradcam"))
    (copy / "fold-0" / "model.pt").unlink()
    _fails(capsys, str(copy), "--cases", some, "--out", str(out),
           match="the weights of fold 0 are not in this folder")
    doc = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**doc, "task": "segmentation"}))
    _fails(capsys, str(copy), "--cases", some, "--out", str(out), match="is a segmentation run")
    (copy / "run.json").write_text(json.dumps({**doc, "kind": "predictions"}))
    _fails(capsys, str(copy), "--cases", some, "--out", str(out), match="is a 'predictions' run")
    assert not out.exists()


@pytest.mark.slow
def test_the_suggested_command_regenerates_the_weights(run, capsys, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run.dir, copy, ignore=shutil.ignore_patterns("gradcam", "model.pt"))
    some = run.split.folds[1].test[0]
    assert explain(str(copy), "--cases", some) == 2
    command = capsys.readouterr().err.split("'busbench run ")[1].split("'")[0]
    args = shlex.split(command.replace("<fresh folder>", str(tmp_path / "again")))
    assert main(["run", *args, "--threads", "1"]) == 0
    again = tmp_path / "again" / run.dir.name  # the same run identity
    assert all((again / f"fold-{k}" / "model.pt").is_file() for k in range(3))
    assert explain(str(again), "--cases", some, "--out", str(tmp_path / "cams")) == 0


def test_a_case_in_no_test_fold_is_refused():
    split = SimpleNamespace(folds=[SimpleNamespace(test=("a", "b")), SimpleNamespace(test=("c",))])
    assert fold_of_cases(split, ["c", "a"], "s.json") == {"c": 1, "a": 0}
    with pytest.raises(BusbenchError, match="s.json: case\\(s\\) in no fold's test part: d"):
        fold_of_cases(split, ["a", "d"], "s.json")
