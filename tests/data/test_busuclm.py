"""BUS-UCLM importer: loading, colour masks and every reported problem, on a fixture in the published layout."""

from __future__ import annotations

import inspect
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.busuclm import BUSUCLM_CLASSES, is_busuclm, load_busuclm, read_colour_mask
from benchmark.data.case import case_id_from_name
from benchmark.errors import BusbenchError
from benchmark.fileio import cache_root
from tests.fixtures_busuclm import GREEN, RED, write_busuclm, write_mask


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _raises(pattern: str):
    return pytest.raises(BusbenchError, match=pattern)


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time (to prove nothing was written)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        if root.exists():
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    st = p.stat()
                    out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def _case_id(name: str) -> str:
    return case_id_from_name(Path(name).stem)


# --- loading -------------------------------------------------------------------------------------------------------
def test_load_recovers_ids_labels_groups_and_masks(tmp_path):
    fx = write_busuclm(tmp_path / "BUS-UCLM", n_patients=3, images_per_patient=3)
    ds = load_busuclm(fx.root)
    assert (ds.name, ds.kind, ds.has_masks, ds.classes) == ("BUS-UCLM", "busuclm", True, BUSUCLM_CLASSES)
    assert len(ds) == 9
    assert [c.case_id for c in ds.cases] == [_case_id(n) for n in fx.images]
    assert ds.cases[0].case_id == "alwi-000"
    for case, name in zip(ds.cases, fx.images, strict=True):
        assert case.label == fx.label[name]
        assert case.group == fx.patient[name]
        assert case.image == f"images/{name}"
        assert case.masks == (f"masks/{name}",)
        assert case.fold is None
    assert ds.class_counts() == {"normal": 3, "benign": 4, "malignant": 2}
    # Pixels come from the right files, and the binary mask is exactly the coloured square (none for normal).
    for case, name in zip(ds.cases, fx.images, strict=True):
        rgb, mask = ds.decode(case)
        expected = np.asarray(Image.open(fx.root / "images" / name))
        assert np.array_equal(rgb[..., 0], expected)
        assert mask is not None and mask.dtype == bool and mask.shape == fx.shape[name]
        assert int(mask.sum()) == fx.lesion_pixels[name] == (0 if fx.label[name] == "normal" else 16)


def test_patient_groups(tmp_path):
    fx = write_busuclm(tmp_path, n_patients=3, images_per_patient=2)
    ds = load_busuclm(fx.root)
    groups: dict[str, set[str]] = {}
    for c in ds.cases:
        groups.setdefault(c.group, set()).add(c.case_id)
    assert groups == {"ALWI": {"alwi-000", "alwi-001"}, "ANFO": {"anfo-000", "anfo-001"},
                      "COPE": {"cope-000", "cope-001"}}


def test_whole_dataset_decodes_through_the_cache(tmp_path):
    fx = write_busuclm(tmp_path)
    ds = load_busuclm(fx.root)
    facts = ds.facts()
    assert {cid: f.lesion_pixels for cid, f in facts.items()} == {_case_id(n): fx.lesion_pixels[n] for n in fx.images}
    image, mask = ds.load(ds.cases[1], 8)
    assert image.shape == (8, 8) and mask is not None and mask.shape == (8, 8)
    assert len(ds.fingerprint()) == 64


@pytest.mark.parametrize("options", [{"sep": ","}, {"bom": True}, {"lower_labels": True},
                                     {"sep": ",", "bom": True, "lower_labels": True}])
def test_liberal_reading(tmp_path, options):
    fx = write_busuclm(tmp_path, **options)
    ds = load_busuclm(fx.root)
    assert [c.label for c in ds.cases] == [fx.label[n] for n in fx.images]


def test_spaces_and_header_case(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", "Image;Resolution;Label", " IMAGE ; Resolution ; label ")
    _edit(fx.root / "INFO.csv", "ANFO_001.png;", "  ANFO_001.png  ;")
    ds = load_busuclm(fx.root)
    assert ds.case("anfo-001").label == "malignant"


def test_parent_grandparent_and_zip_load_the_same(tmp_path):
    # The Mendeley Data download unpacks to "<title>/BUS-UCLM/...": the grandparent must load too.
    fx = write_busuclm(tmp_path / "download" / "BUS-UCLM lesion segmentation dataset" / "BUS-UCLM")
    direct = load_busuclm(fx.root)
    via_parent = load_busuclm(fx.root.parent)
    via_grandparent = load_busuclm(tmp_path / "download")
    archive = tmp_path / "BUS-UCLM.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(fx.root.rglob("*")):
            z.write(f, Path("BUS-UCLM") / f.relative_to(fx.root))
    zipped = load_busuclm(archive)
    assert direct.fingerprint() == via_parent.fingerprint() == via_grandparent.fingerprint() == zipped.fingerprint()


def test_exported_manifest_loads_back_the_same(tmp_path):
    # The manifest route keeps ids, labels, patient groups and binary masks (pure green/red binarise the same way).
    from benchmark.data.manifest import load_manifest, write_manifest

    fx = write_busuclm(tmp_path / "BUS-UCLM")
    ds = load_busuclm(fx.root)
    write_manifest(ds, tmp_path / "bus-uclm.csv")
    again = load_manifest(tmp_path / "bus-uclm.csv")
    assert [(c.case_id, c.label, c.group) for c in again.cases] == [(c.case_id, c.label, c.group) for c in ds.cases]
    assert again.fingerprint() == ds.fingerprint()


def test_without_masks_folder_the_dataset_has_no_masks(tmp_path):
    fx = write_busuclm(tmp_path)
    shutil.rmtree(fx.root / "masks")
    ds = load_busuclm(fx.root)
    assert not ds.has_masks and all(c.masks == () for c in ds.cases)
    assert ds.decode(ds.cases[0])[1] is None


def test_other_folders_are_ignored(tmp_path):
    fx = write_busuclm(tmp_path)
    (fx.root / "Masks_white").mkdir()
    shutil.copy(fx.root / "masks" / "ALWI_001.png", fx.root / "Masks_white" / "ALWI_001.png")
    assert len(load_busuclm(fx.root)) == 9


def test_is_busuclm(tmp_path):
    fx = write_busuclm(tmp_path / "data" / "title" / "BUS-UCLM")
    assert is_busuclm(fx.root) and is_busuclm(tmp_path / "data" / "title") and is_busuclm(tmp_path / "data")
    assert not is_busuclm(tmp_path / "nowhere")
    assert not is_busuclm(fx.root / "INFO.csv")
    assert not is_busuclm(fx.root / "images")
    (fx.root / "INFO.csv").unlink()
    assert not is_busuclm(fx.root) and not is_busuclm(tmp_path / "data")


def test_open_dataset_dispatches_here(tmp_path):
    import benchmark.data.open as opener

    if "busuclm" not in inspect.getsource(opener):
        pytest.skip("benchmark/data/open.py does not dispatch to BUS-UCLM yet (one-line change pending)")
    fx = write_busuclm(tmp_path / "BUS-UCLM")
    assert opener.open_dataset(fx.root).kind == "busuclm"
    assert opener.open_dataset(tmp_path).kind == "busuclm"


# --- colour masks --------------------------------------------------------------------------------------------------
def test_read_colour_mask():
    rgb = np.zeros((5, 6, 3), dtype=np.uint8)
    lesion, label, n = read_colour_mask(rgb, "m.png")
    assert label == "normal" and n == 0 and not lesion.any()
    rgb[1:3, 2:5] = GREEN
    rgb[0, 0] = (0, 40, 0)  # a dark green edge pixel is still lesion (any non-black pixel)
    lesion, label, n = read_colour_mask(rgb, "m.png")
    assert label == "benign" and n == 7 and lesion.sum() == 7 and lesion[0, 0]
    rgb[rgb.max(axis=2) > 0] = RED
    assert read_colour_mask(rgb, "m.png")[1:] == ("malignant", 7)


@pytest.mark.parametrize("colour", [(255, 255, 255), (255, 255, 0), (0, 0, 255), (30, 30, 30)])
def test_mask_pixel_neither_green_nor_red(tmp_path, colour):
    fx = write_busuclm(tmp_path)
    name = "ALWI_001.png"  # benign
    mask = np.asarray(Image.open(fx.root / "masks" / name)).copy()
    mask[0, 1] = colour
    Image.fromarray(mask).save(fx.root / "masks" / name)
    ds = load_busuclm(fx.root)  # pixels are not read at load
    with _raises(rf"masks/ALWI_001\.png: 1 mask pixel\(s\) are neither black, green nor red "
                 rf"\(first at x=1, y=0: RGB \({colour[0]}, {colour[1]}, {colour[2]}\)\)"):
        ds.decode(ds.case("alwi-001"))


def test_grey_mask_is_refused(tmp_path):
    # A binary white-on-black mask (another dataset's convention) carries no class colour.
    fx = write_busuclm(tmp_path)
    grey = np.zeros(fx.shape["ANFO_001.png"], dtype=np.uint8)
    grey[:3, :3] = 255
    Image.fromarray(grey).save(fx.root / "masks" / "ANFO_001.png")
    ds = load_busuclm(fx.root)
    with _raises(r"masks/ANFO_001\.png: 9 mask pixel\(s\) are neither black, green nor red"):
        ds.decode(ds.case("anfo-001"))


@pytest.mark.parametrize(
    ("name", "colour", "message"),
    [
        ("ALWI_001.png", RED, r"mask colour is red \(malignant, 16 px\) but INFO\.csv row 3 labels ALWI_001\.png "
                              r"'Benign' \(its mask should be green\)"),
        ("ANFO_002.png", GREEN, r"mask colour is green \(benign, 16 px\) but INFO\.csv row 7 labels ANFO_002\.png "
                                r"'Malignant' \(its mask should be red\)"),
        ("COPE_000.png", GREEN, r"mask colour is green \(benign, 16 px\) but INFO\.csv row 8 labels COPE_000\.png "
                                r"'Normal' \(its mask should be all black\)"),
        ("COPE_001.png", None, r"mask is all black \(normal\) but INFO\.csv row 9 labels COPE_001\.png 'Benign' "
                               r"\(its mask should be green\)"),
    ],
)
def test_mask_colour_disagreeing_with_label(tmp_path, name, colour, message):
    fx = write_busuclm(tmp_path)
    write_mask(fx.root / "masks" / name, fx.shape[name], colour)
    ds = load_busuclm(fx.root)
    with _raises(rf"masks/{name.replace('.', chr(92) + '.')}: {message}$"):
        ds.decode(ds.case(_case_id(name)))


def test_mask_with_both_colours(tmp_path):
    fx = write_busuclm(tmp_path)
    name = "ALWI_002.png"
    mask = np.zeros((*fx.shape[name], 3), dtype=np.uint8)
    mask[0:2, 0:2] = GREEN
    mask[5:6, 5:8] = RED
    Image.fromarray(mask).save(fx.root / "masks" / name)
    ds = load_busuclm(fx.root)
    with _raises(r"masks/ALWI_002\.png: mask holds both green \(benign, 4 px\) and red \(malignant, 3 px\) pixels"):
        ds.decode(ds.case("alwi-002"))


def test_mask_of_another_size(tmp_path):
    fx = write_busuclm(tmp_path)
    name = "ANFO_001.png"
    h, w = fx.shape[name]
    write_mask(fx.root / "masks" / name, (h + 2, w + 3), RED)
    ds = load_busuclm(fx.root)
    with _raises(rf"masks/ANFO_001\.png: mask is {w + 3}x{h + 2} px but its image images/ANFO_001\.png is "
                 rf"{w}x{h} px$"):
        ds.decode(ds.case("anfo-001"))
    with _raises(r"masks/ANFO_001\.png: mask is"):
        ds.facts()


def test_corrupt_mask_and_image_are_reported_on_decode(tmp_path):
    fx = write_busuclm(tmp_path)
    (fx.root / "masks" / "ALWI_001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (fx.root / "images" / "ALWI_002.png").write_bytes(b"not a png")
    ds = load_busuclm(fx.root)  # cheap checks only
    with _raises(r"masks/ALWI_001\.png: cannot decode image"):
        ds.decode(ds.case("alwi-001"))
    with _raises(r"images/ALWI_002\.png: cannot decode image"):
        ds.decode(ds.case("alwi-002"))


def test_mask_in_rgba_or_palette_mode_reads_the_same(tmp_path):
    fx = write_busuclm(tmp_path)
    name = "ANFO_001.png"  # malignant
    rgb = np.asarray(Image.open(fx.root / "masks" / name).convert("RGB"))
    ds = load_busuclm(fx.root)
    expected = ds.decode(ds.case("anfo-001"))[1]
    for mode in ("RGBA", "P"):
        Image.fromarray(rgb).convert(mode).save(fx.root / "masks" / name)
        got = load_busuclm(fx.root).decode(ds.case("anfo-001"))[1]
        assert np.array_equal(got, expected)


# --- problems in INFO.csv and the folders --------------------------------------------------------------------------
def test_missing_info_csv(tmp_path):
    fx = write_busuclm(tmp_path / "BUS-UCLM")
    (fx.root / "INFO.csv").unlink()
    with _raises(r"BUS-UCLM: is not a BUS-UCLM folder \(no INFO\.csv next to an images/ folder"):
        load_busuclm(fx.root)


def test_missing_images_folder(tmp_path):
    fx = write_busuclm(tmp_path / "BUS-UCLM")
    shutil.rmtree(fx.root / "images")
    with _raises(r"is not a BUS-UCLM folder"):
        load_busuclm(fx.root)


@pytest.mark.parametrize(("old", "column"), [("Image;", "Name;"), (";Label;", ";Class;")])
def test_missing_column(tmp_path, old, column):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", old, column)
    missing = "image" if old == "Image;" else "label"
    with _raises(rf"INFO\.csv: missing column {missing} \(found: .*; BUS-UCLM's header is "
                 r"Image;Resolution;Label;Doppler;Marks;Combined\)$"):
        load_busuclm(fx.root)


def test_header_only_and_empty_file(tmp_path):
    fx = write_busuclm(tmp_path)
    (fx.root / "INFO.csv").write_text("Image;Resolution;Label;Doppler;Marks;Combined\r\n", encoding="utf-8")
    with _raises(r"INFO\.csv: has a header but no rows"):
        load_busuclm(fx.root)
    (fx.root / "INFO.csv").write_text("\r\n", encoding="utf-8")
    with _raises(r"INFO\.csv: is empty \(no header row\)"):
        load_busuclm(fx.root)


def test_unknown_label_names_row(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", ";Malignant;", ";Suspicious;")
    with _raises(r"INFO\.csv: row 6: unknown Label 'Suspicious' \(expected Normal, Benign or Malignant\)$"):
        load_busuclm(fx.root)


def test_duplicate_row(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", "ALWI_001.png;", "ALWI_000.png;")
    with _raises(r"INFO\.csv: row 3: Image 'ALWI_000\.png' repeats row 2$"):
        load_busuclm(fx.root)


def test_names_differing_only_in_case_clash(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", "ALWI_001.png;", "alwi_000.png;")
    with _raises(r"INFO\.csv: row 3: Image 'alwi_000\.png' gives case id 'alwi-000', already that of row 2$"):
        load_busuclm(fx.root)


@pytest.mark.parametrize("bad", ["ALWI-001.png", "ALWI_001.jpg", "images/ALWI_001.png", "ALWI_x01.png", "_001.png"])
def test_malformed_image_name(tmp_path, bad):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", "ALWI_001.png;", f"{bad};")
    with _raises(rf"INFO\.csv: row 3: Image '{bad.replace('.', chr(92) + '.')}' does not have the form "
                 r"<patient>_<number>\.png"):
        load_busuclm(fx.root)


def test_empty_image_cell(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", "ALWI_001.png;", ";")
    with _raises(r"INFO\.csv: row 3: the Image cell is empty$"):
        load_busuclm(fx.root)


def test_image_listed_but_missing(tmp_path):
    fx = write_busuclm(tmp_path)
    (fx.root / "images" / "ANFO_000.png").unlink()
    with _raises(r"INFO\.csv: row 5: image not found: .*images/ANFO_000\.png$"):
        load_busuclm(fx.root)


def test_mask_listed_but_missing(tmp_path):
    fx = write_busuclm(tmp_path)
    (fx.root / "masks" / "COPE_002.png").unlink()
    with _raises(r"INFO\.csv: row 10: mask not found: .*masks/COPE_002\.png$"):
        load_busuclm(fx.root)


def test_unlisted_image_and_mask(tmp_path):
    fx = write_busuclm(tmp_path)
    shutil.copy(fx.root / "images" / "ALWI_000.png", fx.root / "images" / "ALWI_099.png")
    with _raises(r"images: 1 file\(s\) not listed in INFO\.csv: ALWI_099\.png$"):
        load_busuclm(fx.root)
    (fx.root / "images" / "ALWI_099.png").unlink()
    shutil.copy(fx.root / "masks" / "ALWI_000.png", fx.root / "masks" / "ZZZZ_000.png")
    with _raises(r"masks: 1 file\(s\) not listed in INFO\.csv: ZZZZ_000\.png$"):
        load_busuclm(fx.root)


def test_row_with_more_cells_than_header(tmp_path):
    fx = write_busuclm(tmp_path)
    _edit(fx.root / "INFO.csv", ";No\nALWI_001.png", ";No;extra\nALWI_001.png")
    with _raises(r"INFO\.csv: row 2: has more cells than the header names \('extra' is unnamed\)$"):
        load_busuclm(fx.root)


def test_malformed_csv_and_binary_file(tmp_path):
    fx = write_busuclm(tmp_path)
    text = (fx.root / "INFO.csv").read_text(encoding="utf-8") + '"ALWI_009.png;unterminated\r\n'
    (fx.root / "INFO.csv").write_text(text, encoding="utf-8")
    with _raises(r"INFO\.csv: is not valid CSV"):
        load_busuclm(fx.root)
    (fx.root / "INFO.csv").write_bytes("Image;Label\r\n".encode("utf-16"))
    with _raises(r"INFO\.csv: is not a text CSV file"):
        load_busuclm(fx.root)


def test_undecodable_bytes_are_read_leniently(tmp_path):
    fx = write_busuclm(tmp_path)
    data = (fx.root / "INFO.csv").read_bytes().replace(b"Resolution", "Resolución".encode("latin-1"))
    (fx.root / "INFO.csv").write_bytes(data)
    assert len(load_busuclm(fx.root)) == 9


def test_not_a_folder_or_zip(tmp_path):
    with _raises(r"nowhere: does not exist$"):
        load_busuclm(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with _raises(r"file\.txt: is neither a folder nor a zip archive$"):
        load_busuclm(tmp_path / "file.txt")


# --- errors are one line and write nothing -------------------------------------------------------------------------
_BREAKERS = {
    "no INFO.csv": lambda root: (root / "INFO.csv").unlink(),
    "no Label column": lambda root: _edit(root / "INFO.csv", ";Label;", ";Class;"),
    "unknown label": lambda root: _edit(root / "INFO.csv", ";Benign;", ";Cyst;"),
    "duplicate row": lambda root: _edit(root / "INFO.csv", "ALWI_001.png;", "ALWI_000.png;"),
    "image missing": lambda root: (root / "images" / "ALWI_002.png").unlink(),
    "mask missing": lambda root: (root / "masks" / "ALWI_002.png").unlink(),
    "stray image": lambda root: shutil.copy(root / "images" / "ALWI_000.png", root / "images" / "X_1.png"),
}


@pytest.mark.parametrize("breaker", sorted(_BREAKERS))
def test_load_errors_are_one_line_and_write_nothing(tmp_path, monkeypatch, breaker):
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))  # a cache no other test writes to meanwhile
    fx = write_busuclm(tmp_path / "BUS-UCLM")
    _BREAKERS[breaker](fx.root)
    before = _snapshot(tmp_path, cache_root())
    with pytest.raises(BusbenchError) as info:
        load_busuclm(fx.root)
    message = str(info.value)
    assert "\n" not in message and (message.startswith(str(fx.root)) or message.startswith(str(fx.root.resolve())))
    assert _snapshot(tmp_path, cache_root()) == before


def test_decode_errors_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))  # a cache no other test writes to meanwhile
    fx = write_busuclm(tmp_path / "BUS-UCLM")
    write_mask(fx.root / "masks" / "ALWI_001.png", fx.shape["ALWI_001.png"], RED)
    ds = load_busuclm(fx.root)
    before = _snapshot(tmp_path, cache_root())
    with pytest.raises(BusbenchError) as info:
        ds.decode(ds.case("alwi-001"))
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(os.fspath((fx.root / "masks" / "ALWI_001.png").resolve()))
    assert _snapshot(tmp_path, cache_root()) == before
