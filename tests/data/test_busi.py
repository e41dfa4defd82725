"""The BUSI loader: the real data's counts and masks, the zip, fingerprints, and every malformed-layout error."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.busi import load_busi
from benchmark.data.images import pixel_digest
from benchmark.errors import BusbenchError
from tests.helpers import tiny_busi, write_png


def test_real_busi_counts_and_masks(busi):
    assert len(busi) == 780
    assert busi.class_counts() == {"normal": 133, "benign": 437, "malignant": 210}
    assert sum(len(c.masks) for c in busi.cases) == 798
    several = {c.case_id: len(c.masks) for c in busi.cases if len(c.masks) > 1}
    assert several["benign-195"] == 3
    assert len(several) == 17
    facts = busi.facts()
    empty = {c.label for c in busi.cases if facts[c.case_id].lesion_pixels == 0}
    assert empty == {"normal"}  # every normal mask is empty and no lesion mask is
    widths = {f.width for f in facts.values()}
    assert min(widths) == 190 and max(widths) == 1048


def test_real_busi_multi_mask_is_the_union(busi):
    case = busi.case("benign-195")
    _, united = busi.decode(case)
    expected = np.zeros_like(united)
    for rel in case.masks:
        arr = np.asarray(Image.open(busi.source.location / rel).convert("L")) > 127
        assert arr.any()
        expected |= arr
    assert np.array_equal(united, expected)


def test_real_busi_fingerprint_survives_lossless_reencode(busi, tmp_path):
    # Re-save a few cases losslessly in other PNG flavours (RGB stored as L, other compression, RGBA masks):
    # pixels are the same, bytes differ, so the fingerprint must not change.
    for case_id in ("benign-1", "malignant-145", "normal-7"):
        case = busi.case(case_id)
        src = busi.source.location
        img = Image.open(src / case.image)
        rgb = np.asarray(img.convert("RGB"))
        out = tmp_path / case_id
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            write_png(out / "img.png", rgb[..., 0])  # stored as L now
        else:
            img.convert("RGB").save(out / "img.png", compress_level=1)
        masks = []
        for i, rel in enumerate(case.masks):
            m = Image.open(src / rel).convert("L")
            masks.append(write_png(out / f"m{i}.png", np.asarray(m), mode="RGBA"))
        assert (out / "img.png").read_bytes() != (src / case.image).read_bytes()
        from benchmark.data.images import decode_image, decode_mask

        rgb2 = decode_image((out / "img.png").read_bytes(), "img.png")
        mask2 = np.zeros(rgb2.shape[:2], bool)
        for m in masks:
            mask2 |= decode_mask(m.read_bytes(), m.name)
        assert pixel_digest(rgb2, mask2)[1] == busi.facts()[case_id].fingerprint


def test_zip_gives_the_same_dataset_as_the_folder(tmp_path):
    root = tiny_busi(tmp_path / "unpacked")
    archive = tmp_path / "Dataset_BUSI_with_GT.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, path.relative_to(root).as_posix())
        zf.writestr("__MACOSX/Dataset_BUSI_with_GT/._junk", b"junk")
    folder, zipped = load_busi(root), load_busi(archive)
    assert [c.case_id for c in folder.cases] == [c.case_id for c in zipped.cases]
    assert folder.fingerprint() == zipped.fingerprint()


def test_real_busi_zip_matches_folder(busi, tmp_path):
    archive = tmp_path / "busi.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for case in busi.cases[::40]:
            for rel in (case.image, *case.masks):
                zf.write(busi.source.location / rel, rel)
    zipped = load_busi(archive)
    for case in zipped.cases:
        assert zipped.facts()[case.case_id] == busi.facts()[case.case_id]


def test_case_ids_and_order(tmp_path):
    ds = load_busi(tiny_busi(tmp_path, per_class=11))
    ids = [c.case_id for c in ds.cases if c.label == "benign"]
    assert ids[:3] == ["benign-1", "benign-2", "benign-3"] and ids[-1] == "benign-11"  # numeric, not text order


def test_mask_modes_binarise_alike(tmp_path):
    mask = np.zeros((24, 32), np.uint8)
    mask[3:9, 4:20] = 255
    from benchmark.data.images import decode_mask

    for mode in ("1", "L", "RGB", "RGBA", "P"):
        path = write_png(tmp_path / f"m_{mode}.png", mask, mode=mode)
        assert np.array_equal(decode_mask(path.read_bytes(), path.name), mask > 0), mode


def test_load_resizes_and_caches(tmp_path):
    ds = load_busi(tiny_busi(tmp_path))
    image, mask = ds.load("benign-1", 16)
    assert image.shape == (16, 16) and image.dtype == np.uint8 and mask.shape == (16, 16) and mask.dtype == bool
    again, _ = ds.load(ds.case("benign-1"), (16, 16))
    assert np.array_equal(image, again)
    native, native_mask = ds.load("benign-1")
    assert native.shape == (24, 32) and native_mask.sum() == 8 * 10


@pytest.mark.parametrize("damage", ["empty", "truncated", "zeroed"])
def test_a_damaged_decoded_cache_entry_is_a_miss(tmp_path, damage):
    # Decoded entries are not synced to disk, so after a power cut one may be empty or hold zeros: never pixels.
    from benchmark.data.cache import _decoded_path

    root = tiny_busi(tmp_path)
    ds = load_busi(root)
    image, mask = ds.load("benign-1", 16)
    entry = _decoded_path(ds.facts()["benign-1"].fingerprint, (16, 16))
    whole = entry.read_bytes()
    entry.write_bytes({"empty": b"", "truncated": whole[: len(whole) // 2],
                       "zeroed": whole[:64] + bytes(len(whole) - 64)}[damage])
    again, again_mask = load_busi(root).load("benign-1", 16)
    assert np.array_equal(again, image) and np.array_equal(again_mask, mask)
    assert entry.read_bytes() == whole  # decoded again and stored again


def test_changed_pixels_change_the_fingerprint_and_invalidate_cache(tmp_path):
    root = tiny_busi(tmp_path)
    before = load_busi(root)
    fp = before.facts()["benign-1"].fingerprint
    old_image, _ = before.load("benign-1", 16)
    path = root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png"
    write_png(path, np.full((24, 32, 3), 7, np.uint8))
    after = load_busi(root)
    assert after.facts()["benign-1"].fingerprint != fp
    new_image, _ = after.load("benign-1", 16)
    assert (new_image == 7).all() and not np.array_equal(old_image, new_image)


# --- malformed layouts: each a one-line error naming the file ---------------------------------------------------


def _expect(root: Path, fragment: str, name: str | None = None) -> None:
    with pytest.raises(BusbenchError) as err:
        ds = load_busi(root)
        ds.facts()
    message = str(err.value)
    assert "\n" not in message and fragment in message, message
    if name:
        assert name in message, message


def test_unknown_class_folder(tmp_path):
    root = tiny_busi(tmp_path)
    (root / "Dataset_BUSI_with_GT" / "cyst").mkdir()
    _expect(root, "unknown class folder", "cyst")


def test_empty_class_folder(tmp_path):
    root = tiny_busi(tmp_path)
    for f in (root / "Dataset_BUSI_with_GT" / "normal").iterdir():
        f.unlink()
    _expect(root, "holds no images", "normal")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", "no BUSI class folders", "empty")


def test_mask_without_image(tmp_path):
    root = tiny_busi(tmp_path)
    (root / "Dataset_BUSI_with_GT" / "benign" / "benign (2).png").unlink()
    _expect(root, "mask without an image", "benign (2)_mask.png")


def test_image_without_mask(tmp_path):
    root = tiny_busi(tmp_path)
    (root / "Dataset_BUSI_with_GT" / "malignant" / "malignant (3)_mask.png").unlink()
    _expect(root, "image without a mask", "malignant (3).png")


def test_truncated_png(tmp_path):
    root = tiny_busi(tmp_path)
    path = root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png"
    path.write_bytes(path.read_bytes()[:60])
    _expect(root, "corrupt or truncated", "benign (1).png")


def test_not_a_png(tmp_path):
    root = tiny_busi(tmp_path)
    (root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png").write_bytes(b"hello, not an image")
    _expect(root, "corrupt or truncated", "benign (1).png")


def test_mask_of_another_size(tmp_path):
    root = tiny_busi(tmp_path)
    write_png(root / "Dataset_BUSI_with_GT" / "benign" / "benign (2)_mask.png", np.zeros((10, 10), np.uint8))
    _expect(root, "mask is 10x10 px but its image", "benign (2)_mask.png")


def test_stray_file(tmp_path):
    root = tiny_busi(tmp_path)
    (root / "Dataset_BUSI_with_GT" / "benign" / "notes.txt").write_text("x")
    _expect(root, "unexpected file", "notes.txt")


def test_broken_file_keeps_what_was_decoded(tmp_path):
    # A corrupt file aborts with an error, but the cases decoded before it stay in the cache index.
    root = tiny_busi(tmp_path)
    good = load_busi(root)
    good.facts()
    path = root / "Dataset_BUSI_with_GT" / "malignant" / "malignant (3).png"
    path.write_bytes(b"broken")
    with pytest.raises(BusbenchError):
        load_busi(root).facts()
    buf = io.BytesIO()
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    assert len(load_busi(root).facts()) == 9


def test_decode_mask_gives_the_mask_of_decode_and_checks_sizes_from_the_image_header(tmp_path):
    # The evaluator reads ground-truth masks with decode_mask (no image pixels decoded): the same masks as decode
    # gives, and the same one-line refusal when a mask's size is not its image's.
    root = tiny_busi(tmp_path)
    ds = load_busi(root)
    for case in ds.cases:
        mask = ds.decode_mask(case)
        assert mask is not None and mask.dtype == bool and np.array_equal(mask, ds.decode(case)[1])
    write_png(root / "Dataset_BUSI_with_GT" / "benign" / "benign (2)_mask.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(BusbenchError, match=r"benign \(2\)_mask\.png: mask is 10x10 px but its image"):
        load_busi(root).decode_mask(load_busi(root).case("benign-2"))


@pytest.mark.parametrize("damage", [None, "empty", "truncated", "zeroed"])
def test_reference_masks_go_through_the_decoded_cache_once_fingerprints_are_known(tmp_path, monkeypatch, damage):
    # Scoring reads every reference mask again: once facts() has run, decode_mask is served from the cache by the
    # case fingerprint (which covers the mask's pixels), and a damaged entry is a miss that is decoded again.
    import benchmark.data.dataset as dataset_module
    from benchmark.data.cache import _mask_path

    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    root = tiny_busi(tmp_path)
    ds = load_busi(root)
    case = ds.case("benign-1")
    before_facts = ds.decode_mask(case)
    fp = ds.facts()["benign-1"].fingerprint
    assert not _mask_path(fp).exists()  # no fingerprint pass just for a mask
    first = ds.decode_mask(case)
    assert np.array_equal(first, before_facts) and first.dtype == bool and first.sum() == 8 * 10
    assert not ds.decode_mask(ds.case("normal-1")).any()  # an empty mask file: an empty mask
    entry = _mask_path(fp)
    whole = entry.read_bytes()
    if damage is None:
        def refuse(*args, **kwargs):
            raise AssertionError("a cached mask was decoded again")

        monkeypatch.setattr(dataset_module, "decode_mask", refuse)
    else:
        entry.write_bytes({"empty": b"", "truncated": whole[: len(whole) // 2],
                           "zeroed": whole[:64] + bytes(len(whole) - 64)}[damage])
    again = load_busi(root)
    again.facts()
    assert np.array_equal(again.decode_mask(again.case("benign-1")), first)
    assert entry.read_bytes() == whole
