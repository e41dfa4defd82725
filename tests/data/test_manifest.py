"""CSV manifests: loading by hand-written files, exporting any dataset, round trips, and every reported problem."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.busi import load_busi
from benchmark.data.manifest import EXPORT_COLUMNS, load_manifest, manifest_rows, write_manifest
from benchmark.errors import BusbenchError
from tests.helpers import tiny_busi, write_png

HEADER = "image,label,mask,group,fold,case_id\n"


def _images(folder: Path, n: int, seed: int = 0, size: tuple[int, int] = (10, 14)) -> list[Path]:
    """Write ``n`` random grey images img<i>.png and square masks m<i>.png; return the image paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        write_png(folder / f"img{i}.png", rng.integers(0, 256, size=size, dtype=np.uint8))
        mask = np.zeros(size, dtype=np.uint8)
        mask[i % 5: i % 5 + 3, 2:6] = 255
        write_png(folder / f"m{i}.png", mask)
        paths.append(folder / f"img{i}.png")
    return paths


def _manifest(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _raises(pattern: str):
    return pytest.raises(BusbenchError, match=pattern)


# --- round trips ---------------------------------------------------------------------------------------------------
def test_busi_round_trip_same_fingerprint(tmp_path):
    root = tiny_busi(tmp_path / "busi", per_class=3)
    busi = load_busi(root)
    out = root / "busi-manifest.csv"
    text = write_manifest(busi, out)
    assert out.read_text(encoding="utf-8") == text
    back = load_manifest(out)
    assert (back.name, back.kind, back.has_masks) == ("busi-manifest", "manifest", True)
    assert back.classes == ("normal", "benign", "malignant")
    assert [(c.case_id, c.label, c.masks) for c in back.cases] == [(c.case_id, c.label, c.masks) for c in busi.cases]
    assert back.fingerprint() == busi.fingerprint()
    # Exporting the reloaded dataset from the same place gives the same manifest.
    assert write_manifest(back) == text


def test_manifest_written_in_another_folder_still_loads(tmp_path):
    root = tiny_busi(tmp_path / "data" / "busi", per_class=2)
    busi = load_busi(root)
    out = tmp_path / "manifests" / "elsewhere.csv"
    write_manifest(busi, out)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0]["image"].startswith("../data/busi/Dataset_BUSI_with_GT/")
    assert load_manifest(out).fingerprint() == busi.fingerprint()


@pytest.mark.slow
def test_real_busi_round_trip(busi, tmp_path):
    # The data folder is read-only, so the manifest goes to tmp and its paths are rewritten relative to it; the
    # at-the-root case (paths relative to the source root, unchanged) is covered on the tiny BUSI set above.
    t0 = time.perf_counter()
    out = tmp_path / "busi.csv"
    write_manifest(busi, out)
    back = load_manifest(out)
    assert len(back) == 780 and back.class_counts() == busi.class_counts()
    assert back.fingerprint() == busi.fingerprint()
    assert sum(len(c.masks) > 1 for c in back.cases) == sum(len(c.masks) > 1 for c in busi.cases) > 0
    print(f"real BUSI manifest round trip: {time.perf_counter() - t0:.1f} s")


def test_rows_and_json(tmp_path):
    root = tiny_busi(tmp_path / "busi", per_class=2)
    busi = load_busi(root)
    rows = manifest_rows(busi)
    facts = busi.facts()
    assert [tuple(r) for r in rows] == [EXPORT_COLUMNS] * len(rows)
    first = rows[0]
    assert first == {
        "case_id": "normal-1",
        "image": "Dataset_BUSI_with_GT/normal/normal (1).png",
        "label": "normal",
        "mask": "Dataset_BUSI_with_GT/normal/normal (1)_mask.png",
        "group": "",
        "fold": "",
        "fingerprint": facts["normal-1"].fingerprint,
    }
    out = tmp_path / "m.json"
    text = write_manifest(busi, out, fmt="json")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert json.loads(text) == doc
    assert (doc["dataset"], doc["kind"], doc["fingerprint"]) == ("BUSI", "busi", busi.fingerprint())
    # Written outside the source root, so the paths are relative to the JSON file's folder.
    assert doc["cases"][0]["image"] == "busi/Dataset_BUSI_with_GT/normal/normal (1).png"
    assert write_manifest(busi, fmt="json") != text  # without `out`, paths stay relative to the source root
    with _raises(r"unknown manifest format"):
        write_manifest(busi, fmt="xml")


# --- hand-written manifests ----------------------------------------------------------------------------------------
def test_hand_written_manifest_all_columns(tmp_path):
    paths = _images(tmp_path / "imgs", 4)
    outside = _images(tmp_path / "far" / "away", 1, seed=5)[0]
    text = (
        "\ufeffImage , LABEL,Mask,Group,Fold,Case_ID,BIRADS\n"
        "imgs/img0.png,Benign,imgs/m0.png;imgs/m1.png,p1,0,,4\n"
        "imgs/img1.png,MALIGNANT,imgs/m1.png,p1,0,lesion-b,5\n"
        "\n"
        f"{outside},normal,{outside.parent / 'm0.png'},p2,1,far-0,2\n"
        "imgs/img2.png,normal,imgs/m2.png,,1,,\n"
    )
    ds = load_manifest(_manifest(tmp_path / "sets" / "mixed.csv", text.replace("imgs/", "../imgs/")))
    assert ds.name == "mixed"
    # Rooted at the deepest folder holding the manifest and every file.
    assert ds.source.location == tmp_path.resolve()
    assert [c.case_id for c in ds.cases] == ["img0", "lesion-b", "far-0", "img2"]
    assert [c.label for c in ds.cases] == ["benign", "malignant", "normal", "normal"]
    assert [c.group for c in ds.cases] == ["p1", "p1", "p2", None]
    assert [c.fold for c in ds.cases] == [0, 0, 1, 1]
    assert ds.cases[0].masks == ("imgs/m0.png", "imgs/m1.png")
    assert ds.cases[2].image == "far/away/img0.png"
    # The two masks of the first row are united: compare with a union computed from the files directly.
    union = (np.asarray(Image.open(tmp_path / "imgs" / "m0.png")) > 127) | (
        np.asarray(Image.open(tmp_path / "imgs" / "m1.png")) > 127
    )
    rgb, mask = ds.decode(ds.cases[0])
    assert np.array_equal(mask, union)
    assert np.array_equal(rgb[..., 0], np.asarray(Image.open(paths[0])))
    # Only the listed files belong to the source, never a walk of its (possibly huge) root.
    assert "imgs/img3.png" not in ds.source.files()


def test_duplicate_derived_case_id_from_same_stem(tmp_path):
    _images(tmp_path / "a", 1)
    _images(tmp_path / "b", 1)
    m = _manifest(tmp_path / "m.csv", "image,label\na/img0.png,benign\nb/img0.png,malignant\n")
    with _raises(r"m\.csv: row 3: duplicate case id 'img0', also row 2 \(derived from the file name; add a case_id"):
        load_manifest(m)
    m = _manifest(tmp_path / "m.csv", "image,label,case_id\na/img0.png,benign,a0\nb/img0.png,malignant,b0\n")
    assert [c.case_id for c in load_manifest(m).cases] == ["a0", "b0"]


def test_no_masks_means_classification_only(tmp_path):
    _images(tmp_path, 3)
    m = _manifest(tmp_path / "cls.csv", "image,label\nimg0.png,normal\nimg1.png,benign\nimg2.png,malignant\n")
    ds = load_manifest(m)
    assert not ds.has_masks
    assert ds.decode(ds.cases[1])[1] is None
    assert ds.class_counts() == {"normal": 1, "benign": 1, "malignant": 1}


def test_normal_row_without_mask_gets_an_empty_mask(tmp_path):
    _images(tmp_path, 2)
    write_png(tmp_path / "empty.png", np.zeros((10, 14), dtype=np.uint8))
    implicit = load_manifest(_manifest(tmp_path / "a.csv", HEADER + "img0.png,normal,,,,\nimg1.png,benign,m1.png,,,\n"))
    explicit = load_manifest(
        _manifest(tmp_path / "b.csv", HEADER + "img0.png,normal,empty.png,,,\nimg1.png,benign,m1.png,,,\n")
    )
    assert implicit.has_masks
    _, mask = implicit.decode(implicit.cases[0])
    assert mask is not None and mask.shape == (10, 14) and not mask.any()
    assert implicit.fingerprint() == explicit.fingerprint()
    image, small_mask = implicit.load("img0", 8)
    assert image.shape == (8, 8) and small_mask is not None and not small_mask.any()


def test_trailing_separators_and_short_rows(tmp_path):
    _images(tmp_path, 2)
    # A trailing comma in the header, one more in a row (empty, so harmless), and a short row.
    text = "image,label,group,\nimg0.png,benign,,,\nimg1.png,malignant\n"
    ds = load_manifest(_manifest(tmp_path / "t.csv", text))
    assert [(c.label, c.group) for c in ds.cases] == [("benign", None), ("malignant", None)]


def test_integral_float_fold_is_accepted(tmp_path):
    _images(tmp_path, 2)
    ds = load_manifest(_manifest(tmp_path / "f.csv", "image,label,fold\nimg0.png,benign,2.0\nimg1.png,benign, 3 \n"))
    assert [c.fold for c in ds.cases] == [2, 3]


# --- problems ------------------------------------------------------------------------------------------------------
def test_unknown_label_names_row(tmp_path):
    _images(tmp_path, 6)
    rows = "".join(f"img{i}.png,benign\n" for i in range(5)) + "img5.png,cyst\n"
    m = _manifest(tmp_path / "manifest.csv", "image,label\n" + rows)
    with pytest.raises(BusbenchError) as info:
        load_manifest(m)
    assert str(info.value) == f"{m}: row 7: unknown label 'cyst' (expected normal, benign, malignant)"


def test_row_numbers_count_blank_lines_like_a_spreadsheet(tmp_path):
    _images(tmp_path, 2)
    m = _manifest(tmp_path / "m.csv", "image,label\nimg0.png,benign\n\n\nimg1.png,tumour\n")
    with _raises(r"m\.csv: row 5: unknown label 'tumour'"):
        load_manifest(m)


def test_missing_required_columns(tmp_path):
    _images(tmp_path, 1)
    with _raises(r"m\.csv: missing required column label \(found: image, class\)"):
        load_manifest(_manifest(tmp_path / "m.csv", "image,class\nimg0.png,benign\n"))
    with _raises(r"m\.csv: missing required columns image, label \(found: file\)"):
        load_manifest(_manifest(tmp_path / "m.csv", "file\nimg0.png\n"))


def test_missing_image_and_mask_files(tmp_path):
    _images(tmp_path, 1)
    with _raises(r"m\.csv: row 3: image file not found: .*nope\.png"):
        load_manifest(_manifest(tmp_path / "m.csv", "image,label\nimg0.png,benign\nnope.png,benign\n"))
    with _raises(r"m\.csv: row 2: mask file not found: .*gone\.png"):
        load_manifest(_manifest(tmp_path / "m.csv", "image,label,mask\nimg0.png,benign,m0.png;gone.png\n"))


def test_duplicate_explicit_case_id_and_repeated_image(tmp_path):
    _images(tmp_path, 2)
    with _raises(r"m\.csv: row 3: duplicate case id 'x', also row 2$"):
        load_manifest(_manifest(tmp_path / "m.csv", "image,label,case_id\nimg0.png,benign,x\nimg1.png,benign,x\n"))
    with _raises(r"m\.csv: row 3: image 'img0\.png' is already listed in row 2"):
        load_manifest(_manifest(tmp_path / "m.csv", "image,label,case_id\nimg0.png,benign,a\nimg0.png,benign,b\n"))


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "nan", "inf"])
def test_bad_fold_value(tmp_path, value):
    _images(tmp_path, 1)
    with _raises(rf"m\.csv: row 2: bad fold value '{value}' \(expected a non-negative integer\)"):
        load_manifest(_manifest(tmp_path / "m.csv", f"image,label,fold\nimg0.png,benign,{value}\n"))


def test_fold_for_some_rows_only(tmp_path):
    _images(tmp_path, 3)
    m = _manifest(tmp_path / "m.csv", "image,label,fold\nimg0.png,benign,1\nimg1.png,benign,\nimg2.png,benign,\n")
    with _raises(r"m\.csv: rows 3, 4: fold is empty while other rows give one"):
        load_manifest(m)


def test_lesion_row_without_mask_when_others_have_masks(tmp_path):
    _images(tmp_path, 3)
    rows = "img0.png,benign,m0.png,,,\nimg1.png,malignant,,,,\nimg2.png,normal,,,,\n"
    m = _manifest(tmp_path / "m.csv", HEADER + rows)
    with _raises(r"m\.csv: row 3: benign/malignant image without a mask while other rows have masks"):
        load_manifest(m)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", r"is empty \(no header row\)"),
        (b"\n\n  \n", r"is empty \(no header row\)"),
        (b"image,label\n", r"is an empty manifest \(a header but no rows\)"),
        (b"image,label\n,,\n\n", r"is an empty manifest"),
        (b"image,label\nimg\xe9.png,benign\n", r"cannot be decoded as UTF-8 text \(invalid byte at offset 15\)"),
        ("image,label\n".encode("utf-16"), r"cannot be decoded as UTF-8|contains NUL bytes"),
        (b'image,label\n"img0.png,benign\n', r"is not valid CSV"),
        (b"image,label,Image\nimg0.png,benign,x\n", r"column 'image' appears more than once"),
        (b"image,label\nimg0.png,benign,extra\n", r"row 2: has more cells than the header names \('extra'"),
        (b"image,label\n,benign\n", r"row 2: the image cell is empty"),
    ],
)
def test_unreadable_or_empty_manifests(tmp_path, content, problem):
    _images(tmp_path, 1)
    m = tmp_path / "bad.csv"
    m.write_bytes(content)
    with _raises(rf"bad\.csv: {problem}"):
        load_manifest(m)


def test_missing_manifest_file(tmp_path):
    with _raises(r"nothing\.csv: does not exist"):
        load_manifest(tmp_path / "nothing.csv")
    with _raises(r"is not a file"):
        load_manifest(tmp_path)


def test_corrupt_image_surfaces_on_decode(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    ds = load_manifest(_manifest(tmp_path / "m.csv", "image,label\nbroken.png,benign\n"))
    with _raises(r"broken\.png: cannot decode image"):
        ds.fingerprint()
