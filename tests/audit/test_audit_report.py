"""``busbench audit DATASET``: audit.json schema, a self-contained and escaped HTML page, errors, atomic output."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.audit.report import JSON_NAME, SCHEMA
from benchmark.cli import main
from benchmark.data.open import open_dataset
from benchmark.splits.make import make_split

SPEC = "synthetic:n=60,size=96"
HOSTILE = "<b onmouseover=alert(1)>"


def _procedural(seed: int, shape=(150, 180)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    for sigma, weight in ((12, 60.0), (4, 40.0), (1.5, 25.0)):
        img += weight * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma) * sigma
    return np.clip(img + np.linspace(150, 60, shape[0])[:, None], 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    split = tmp / "naive.json"
    make_split(open_dataset(SPEC), k=3, seed=0, group="none").save(split)
    out = tmp / "out"
    assert main(["audit", SPEC, "--splits", str(split), "--out", str(out)]) == 0
    return json.loads((out / JSON_NAME).read_text()), (out / "report.html").read_text(), out


def test_audit_json_schema(audited):
    doc, _, _ = audited
    assert doc["schema"] == SCHEMA
    assert set(doc) == {"schema", "dataset", "created", "versions", "seconds", "duplicates", "cross_class",
                        "mask_conflicts", "burnt_in", "splits"}
    assert set(doc["duplicates"]) == {"detector", "n_pairs", "n_clusters", "n_cases_in_clusters", "clusters"}
    cluster = doc["duplicates"]["clusters"][0]
    assert set(cluster) == {"id", "members", "labels", "cross_class", "relations", "pairs"}
    assert set(cluster["pairs"][0]) == {"a", "b", "kind", "relation", "flipped", "score", "scale", "mask_dice"}
    # the phantom set plants copies under another class: they are listed, and first
    assert doc["cross_class"] and doc["duplicates"]["clusters"][0]["cross_class"]
    assert set(doc["burnt_in"]) == {"thresholds", "n_annotated", "n_colour", "cases"}
    fold = doc["splits"][0]["folds"][0]
    assert {"fold", "n_train", "n_val", "n_test", "leaked", "duplicate_leaked", "duplicate_partners",
            "patient_leaked", "patient_partners"} <= set(fold)
    assert doc["splits"][0]["total"]["leaked"] > 0  # an image-level split of a set with planted copies leaks


def test_html_is_self_contained(audited):
    _, html, _ = audited
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert html.count('src="data:image/png;base64,') >= 10


def test_html_escapes_hostile_file_names(tmp_path):
    img = _procedural(1)
    for name in (f"{HOSTILE}.png", "copy & <i>.png"):
        Image.fromarray(img).save(tmp_path / name)
    (tmp_path / "m.csv").write_text(f"image,label\n{HOSTILE}.png,benign\ncopy & <i>.png,malignant\n")
    out = tmp_path / "out"
    assert main(["audit", str(tmp_path / "m.csv"), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    doc = json.loads((out / JSON_NAME).read_text())
    assert doc["cross_class"]  # the two files are one image filed under two classes
    assert HOSTILE not in html and "<i>" not in html
    assert "&lt;b onmouseover=alert(1)&gt;.png" in html and "copy &amp; &lt;i&gt;.png" in html


def test_unwritable_out_is_one_clear_error_and_writes_nothing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["audit", SPEC, "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"busbench: error: {blocker / 'sub'}: cannot write the audit here") and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_bad_split_csv_fails_before_writing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,split\nnothing (1).png,test\n")
    out = tmp_path / "out"
    assert main(["audit", SPEC, "--split-csv", str(bad), "--out", str(out)]) == 2
    assert f"{bad}: row 2: not a case of" in capsys.readouterr().err
    assert not (out / JSON_NAME).exists() and not (out / "report.html").exists()


def test_help_explains_every_form(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = capsys.readouterr().out
    assert "busbench audit rescore" in text and "--split-csv" in text and "--splits" in text
