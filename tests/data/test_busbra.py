"""BUS-BRA importer: loading, fold parsing and every reported problem, on a fixture in the published layout."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.busbra import is_busbra, load_busbra, read_busbra_folds
from benchmark.data.case import case_id_from_name
from benchmark.errors import BusbenchError
from tests.fixtures_busbra import write_busbra


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _raises(pattern: str):
    return pytest.raises(BusbenchError, match=pattern)


# --- loading -------------------------------------------------------------------------------------------------------
def test_load_recovers_ids_labels_groups_and_masks(tmp_path):
    fx = write_busbra(tmp_path / "BUSBRA", n_patients=6, images_per_patient=2)
    ds = load_busbra(fx.root)
    assert (ds.name, ds.kind, ds.has_masks) == ("BUS-BRA", "busbra", True)
    assert ds.classes == ("normal", "benign", "malignant")
    assert [c.case_id for c in ds.cases] == [case_id_from_name(i) for i in fx.ids]
    assert ds.cases[0].case_id == "bus-0001-l"
    for case, image_id in zip(ds.cases, fx.ids, strict=True):
        assert case.label == fx.pathology[image_id]
        assert case.group == fx.patient[image_id]
        assert case.image == f"Images/{image_id}.png"
        assert case.masks == (f"Masks/mask_{image_id[4:]}.png",)
        assert case.fold is None
    assert ds.class_counts() == {"normal": 0, "benign": 6, "malignant": 6}
    # Pixels come from the right files: compare one decoded case with what PIL reads directly.
    rgb, mask = ds.decode(ds.cases[3])
    expected = np.asarray(Image.open(fx.root / "Images" / f"{fx.ids[3]}.png"))
    assert np.array_equal(rgb[..., 0], expected)
    assert mask.sum() == 16  # the 4x4 lesion square


def test_patient_group_is_recorded_for_every_image_of_a_patient(tmp_path):
    fx = write_busbra(tmp_path, n_patients=3, images_per_patient=3)
    ds = load_busbra(fx.root)
    groups: dict[str, set[str]] = {}
    for c in ds.cases:
        groups.setdefault(c.group, set()).add(c.case_id)
    assert groups == {"1": {"bus-0001-l", "bus-0001-r", "bus-0001-s1"},
                      "2": {"bus-0002-l", "bus-0002-r", "bus-0002-s1"},
                      "3": {"bus-0003-l", "bus-0003-r", "bus-0003-s1"}}


def test_liberal_reading_bom_case_and_spaces(tmp_path):
    fx = write_busbra(tmp_path, bom=True, upper_pathology=True)
    _edit(fx.root / "bus_data.csv", "bus_0002-l,", "  bus_0002-l  ,")
    ds = load_busbra(fx.root)
    assert ds.case("bus-0002-l").label == "malignant"
    assert [c.case_id for c in ds.cases] == [case_id_from_name(i) for i in fx.ids]


def test_parent_folder_and_zip_load_the_same(tmp_path):
    fx = write_busbra(tmp_path / "unpacked" / "BUSBRA")
    direct = load_busbra(fx.root)
    via_parent = load_busbra(tmp_path / "unpacked")
    archive = tmp_path / "BUSBRA.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(fx.root.rglob("*")):
            z.write(f, Path("BUSBRA") / f.relative_to(fx.root))
    zipped = load_busbra(archive)
    assert direct.fingerprint() == via_parent.fingerprint() == zipped.fingerprint()


def test_without_masks_folder_the_dataset_has_no_masks(tmp_path):
    fx = write_busbra(tmp_path)
    shutil.rmtree(fx.root / "Masks")
    ds = load_busbra(fx.root)
    assert not ds.has_masks and all(c.masks == () for c in ds.cases)
    assert ds.decode(ds.cases[0])[1] is None


def test_is_busbra(tmp_path):
    fx = write_busbra(tmp_path / "data" / "BUSBRA")
    assert is_busbra(fx.root) and is_busbra(tmp_path / "data")
    assert not is_busbra(tmp_path / "nowhere")
    assert not is_busbra(fx.root / "bus_data.csv")
    assert not is_busbra(fx.root / "Images")
    (fx.root / "bus_data.csv").unlink()
    assert not is_busbra(fx.root)


# --- folds ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [{}, {"nan_text": "NaN"}, {"float_flags": True}, {"pad_ids": True, "bom": True},
     {"nan_text": "nan", "float_flags": True}],
)
def test_folds_match_the_written_partition(tmp_path, options):
    fx = write_busbra(tmp_path, n_patients=10, images_per_patient=2, ks=(5, 10), **options)
    for k in fx.test_fold:
        folds = read_busbra_folds(fx.root, k)
        assert len(folds) == k
        for j, (train, val, test) in enumerate(folds, start=1):
            cid = {case_id_from_name(i): i for i in fx.ids}
            assert sorted(test) == sorted(case_id_from_name(i) for i in fx.ids if fx.test_fold[k][i] == j)
            assert all(fx.valid[k][cid[c]][j] == 1 for c in train)
            assert all(fx.valid[k][cid[c]][j] == 0 for c in val)
            assert sorted(train + val + test) == sorted(cid)  # a partition of all images
        # Each image is a test image in exactly one fold.
        tests = [c for _, _, test in folds for c in test]
        assert sorted(tests) == sorted(case_id_from_name(i) for i in fx.ids)


def test_fold_ids_match_dataset_case_ids(tmp_path):
    fx = write_busbra(tmp_path)
    ds = load_busbra(fx.root)
    for train, val, test in read_busbra_folds(fx.root, 5):
        assert {*train, *val, *test} == {c.case_id for c in ds.cases}
        # Folds are patient-level in the fixture, so no patient is both test and train/val.
        test_groups = {ds.case(c).group for c in test}
        assert not test_groups & {ds.case(c).group for c in train + val}


# --- problems in bus_data.csv and the folders ----------------------------------------------------------------------
def test_missing_column(tmp_path):
    fx = write_busbra(tmp_path)
    _edit(fx.root / "bus_data.csv", "ID,Case,", "Name,Case,")
    with _raises(r"bus_data\.csv: missing column id \(found: name, case"):
        load_busbra(fx.root)


def test_unknown_pathology_names_row(tmp_path):
    fx = write_busbra(tmp_path)
    _edit(fx.root / "bus_data.csv", ",malignant,", ",suspicious,")
    with _raises(r"bus_data\.csv: row 4: unknown Pathology 'suspicious' \(expected benign or malignant\)"):
        load_busbra(fx.root)


def test_duplicate_id(tmp_path):
    fx = write_busbra(tmp_path)
    _edit(fx.root / "bus_data.csv", "bus_0001-r,", "bus_0001-l,")
    with _raises(r"bus_data\.csv: row 3: ID 'bus_0001-l' repeats row 2"):
        load_busbra(fx.root)


def test_empty_case_and_bad_id(tmp_path):
    fx = write_busbra(tmp_path)
    _edit(fx.root / "bus_data.csv", "bus_0001-r,1,", "bus_0001-r,,")
    with _raises(r"row 3: the Case \(patient\) cell is empty"):
        load_busbra(fx.root)
    fx = write_busbra(tmp_path / "b")
    _edit(fx.root / "bus_data.csv", "bus_0001-r,", "img_0001-r,")
    with _raises(r"row 3: ID 'img_0001-r' does not have the form bus_<number>-<side>"):
        load_busbra(fx.root)


def test_missing_image_and_mask(tmp_path):
    fx = write_busbra(tmp_path)
    (fx.root / "Images" / "bus_0003-l.png").unlink()
    with _raises(r"bus_data\.csv: row 6: image not found: .*Images/bus_0003-l\.png"):
        load_busbra(fx.root)
    fx = write_busbra(tmp_path / "b")
    (fx.root / "Masks" / "mask_0002-r.png").unlink()
    with _raises(r"bus_data\.csv: row 5: mask not found: .*Masks/mask_0002-r\.png"):
        load_busbra(fx.root)


def test_unlisted_image(tmp_path):
    fx = write_busbra(tmp_path)
    shutil.copy(fx.root / "Images" / "bus_0001-l.png", fx.root / "Images" / "bus_0099-l.png")
    with _raises(r"Images: 1 file\(s\) not listed in bus_data\.csv: bus_0099-l\.png"):
        load_busbra(fx.root)


def test_header_only_and_not_busbra(tmp_path):
    fx = write_busbra(tmp_path)
    (fx.root / "bus_data.csv").write_text(",".join(["ID", "Case", "Pathology"]) + "\n")
    with _raises(r"bus_data\.csv: has a header but no rows"):
        load_busbra(fx.root)
    (tmp_path / "other").mkdir()
    with _raises(r"other: is not a BUS-BRA folder"):
        load_busbra(tmp_path / "other")


def test_corrupt_image_is_reported_on_decode_not_load(tmp_path):
    fx = write_busbra(tmp_path)
    (fx.root / "Images" / "bus_0002-l.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = load_busbra(fx.root)  # cheap checks only
    with _raises(r"bus_0002-l\.png: cannot decode image"):
        ds.decode(ds.case("bus-0002-l"))


# --- problems in the fold files ------------------------------------------------------------------------------------
def _fold_file(fx) -> Path:
    return fx.root / "5-fold-cv.csv"


def _replace_row(path: Path, image_id: str, new_cells: list[str] | None) -> None:
    """Replace (or with None, delete) the row of ``image_id`` in a fold file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.split(",")[0].strip() == image_id:
            if new_cells is not None:
                out.append(",".join(new_cells))
        else:
            out.append(line)
    path.write_text("\r\n".join(out) + "\r\n", encoding="utf-8")


def _row_of(path: Path, image_id: str) -> list[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.split(",")[0].strip() == image_id:
            return line.split(",")
    raise AssertionError(image_id)


def test_missing_fold_file(tmp_path):
    fx = write_busbra(tmp_path, ks=(5,))
    with _raises(r"10-fold-cv\.csv: does not exist \(fold files found: 5-fold-cv\.csv\)"):
        read_busbra_folds(fx.root, 10)
    with _raises(r"at least 2"):
        read_busbra_folds(fx.root, 1)


def test_missing_valid_column(tmp_path):
    fx = write_busbra(tmp_path)
    _edit(_fold_file(fx), ",valid_5", ",valid_x")
    with _raises(r"5-fold-cv\.csv: missing column valid_5"):
        read_busbra_folds(fx.root, 5)


def test_fold_file_for_other_k(tmp_path):
    fx = write_busbra(tmp_path, ks=(10,))
    shutil.copy(fx.root / "10-fold-cv.csv", fx.root / "5-fold-cv.csv")
    with _raises(r"5-fold-cv\.csv: has column valid_10 but the file is named for 5 folds"):
        read_busbra_folds(fx.root, 5)


def test_unknown_id_in_fold_file(tmp_path):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0002-r")
    _replace_row(_fold_file(fx), "bus_0002-r", ["bus_0777-r", *row[1:]])
    with _raises(r"5-fold-cv\.csv: row 5: ID 'bus_0777-r' is not in bus_data\.csv"):
        read_busbra_folds(fx.root, 5)


def test_image_absent_from_fold_file(tmp_path):
    fx = write_busbra(tmp_path)
    _replace_row(_fold_file(fx), "bus_0004-l", None)
    with _raises(r"5-fold-cv\.csv: lacks 1 image\(s\) of bus_data\.csv \(row 8 there: bus_0004-l\)"):
        read_busbra_folds(fx.root, 5)


def test_duplicate_id_in_fold_file(tmp_path):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")
    _replace_row(_fold_file(fx), "bus_0001-r", row)
    with _raises(r"5-fold-cv\.csv: row 3: ID 'bus_0001-l' repeats row 2"):
        read_busbra_folds(fx.root, 5)


@pytest.mark.parametrize("value", ["0", "6", "x", "2.5", "", "inf", "nan"])
def test_bad_kfold(tmp_path, value):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")
    _replace_row(_fold_file(fx), "bus_0001-l", [row[0], row[1], value, *row[3:]])
    with _raises(rf"5-fold-cv\.csv: row 2: kFold is '{re.escape(value)}' \(expected an integer 1\.\.5\)"):
        read_busbra_folds(fx.root, 5)


@pytest.mark.parametrize("value", ["2", "yes", "-1", "0.5", "inf"])
def test_bad_valid_value(tmp_path, value):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")  # patient 1: test fold 1, so valid_2 is a 0/1 cell
    _replace_row(_fold_file(fx), "bus_0001-l", [*row[:4], value, *row[5:]])
    with _raises(rf"5-fold-cv\.csv: row 2: valid_2 is '{re.escape(value)}' \(expected 1, 0 or NaN\)"):
        read_busbra_folds(fx.root, 5)


def test_nan_outside_the_test_fold(tmp_path):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")
    _replace_row(_fold_file(fx), "bus_0001-l", [*row[:4], "NaN", *row[5:]])
    with _raises(r"row 2: valid_2 is NaN but kFold is 1 \(NaN marks exactly the test fold\)"):
        read_busbra_folds(fx.root, 5)


def test_flag_in_the_test_fold(tmp_path):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")
    _replace_row(_fold_file(fx), "bus_0001-l", [*row[:3], "1", *row[4:]])
    with _raises(r"row 2: valid_1 is 1 but kFold is 1"):
        read_busbra_folds(fx.root, 5)


def test_pathology_disagreement(tmp_path):
    fx = write_busbra(tmp_path)
    row = _row_of(_fold_file(fx), "bus_0001-l")
    _replace_row(_fold_file(fx), "bus_0001-l", [row[0], "malignant", *row[2:]])
    with _raises(r"row 2: Pathology 'malignant' disagrees with bus_data\.csv row 2 \(benign\)"):
        read_busbra_folds(fx.root, 5)


def test_fold_without_test_images(tmp_path):
    # 4 patients over 5 folds: fold 5 gets no patient, which the reader must refuse.
    fx = write_busbra(tmp_path, n_patients=4)
    with _raises(r"5-fold-cv\.csv: fold 5 has no test images"):
        read_busbra_folds(fx.root, 5)


def test_undecodable_bytes_are_read_leniently(tmp_path):
    # bus_data.csv from another tool may be Latin-1; the columns busbench reads are ASCII, so it must still load.
    fx = write_busbra(tmp_path)
    data = (fx.root / "bus_data.csv").read_bytes().replace(b"Fibroadenoma", "Fibroadenôma".encode("latin-1"))
    (fx.root / "bus_data.csv").write_bytes(data)
    assert len(load_busbra(fx.root)) == 12


def test_malformed_csv(tmp_path):
    fx = write_busbra(tmp_path)
    text = (fx.root / "5-fold-cv.csv").read_text(encoding="utf-8") + '"bus_0001-l,unterminated\r\n'
    (fx.root / "5-fold-cv.csv").write_text(text, encoding="utf-8")
    with _raises(r"5-fold-cv\.csv: is not valid CSV"):
        read_busbra_folds(fx.root, 5)
