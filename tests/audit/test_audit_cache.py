"""The dataset audit reuses what depends only on pixels: a repeated audit decodes nothing, a cold one each image once
(the small views later stages need are kept from that pass), and the cached findings are the findings."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from benchmark.audit.annotations import BurntInScan, detect_burnt_in
from benchmark.audit.clusters import pair_evidence
from benchmark.audit.glimpses import Glimpses
from benchmark.audit.html import _Thumbs, render_html
from benchmark.audit.report import audit_dataset, audit_with_page
from benchmark.data.cache import DerivedCache
from benchmark.data.dataset import Dataset
from benchmark.data.duplicates import DetectorParams, DuplicatePair, DuplicateReport
from benchmark.data.open import open_dataset

SPEC = "synthetic:n=40,size=96"


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def decodes(monkeypatch) -> Counter:
    """Count ``Dataset.decode`` calls per case id (every decode of a file goes through it)."""
    counts: Counter = Counter()
    lock = threading.Lock()
    original = Dataset.decode

    def counting(self, case):
        with lock:
            counts[case.case_id] += 1
        return original(self, case)

    monkeypatch.setattr(Dataset, "decode", counting)
    return counts


def _stable(doc: dict) -> str:
    return json.dumps({k: v for k, v in doc.items() if k not in ("seconds", "created")}, sort_keys=True)


def test_derived_cache_round_trip_keeps_entries_of_concurrent_writers_and_survives_damage(fresh_cache):
    first, second = DerivedCache("thing", {"v": 1}), DerivedCache("thing", {"v": 1})
    first.put("a", {"x": 1})
    second.put("b", [2])
    first.save()
    second.save()  # written after first: must keep first's entry
    again = DerivedCache("thing", {"v": 1})
    assert again.get("a") == {"x": 1} and again.get("b") == [2] and again.get("c") is None
    assert DerivedCache("thing", {"v": 2}).get("a") is None  # another recipe is another file
    stamp = again.path.stat().st_mtime_ns
    again.put("a", {"x": 1})  # what the file holds already: nothing to write
    again.save()
    assert again.path.stat().st_mtime_ns == stamp
    again.path.write_text("{not json")
    damaged = DerivedCache("thing", {"v": 1})
    assert damaged.get("a") is None
    damaged.put("a", 3)
    damaged.save()
    assert DerivedCache("thing", {"v": 1}).get("a") == 3


def test_a_cold_audit_decodes_each_image_once_and_a_repeated_one_nothing(fresh_cache, decodes):
    cold_ds = open_dataset(SPEC)
    cold, cold_html = audit_with_page(cold_ds)
    # one decoding pass serves fingerprints, burnt-in marks, the duplicate detector's input, the mask agreements of
    # the clustered cases and the page's thumbnails
    assert cold["duplicates"]["clusters"] and "data:image/png" in cold_html
    assert decodes == Counter({c.case_id: 1 for c in cold_ds.cases})
    decodes.clear()
    warm_ds = open_dataset(SPEC)
    warm, warm_html = audit_with_page(warm_ds)
    assert warm_html == cold_html.replace(f"{cold['seconds']} s", f"{warm['seconds']} s")
    assert not decodes
    assert _stable(warm) == _stable(cold)


def test_views_kept_from_the_decoding_pass_give_what_decoding_again_gives(tmp_path, monkeypatch):
    # Mask agreements and thumbnails made from the glimpses equal those of a stage that decodes the images itself
    # (given no glimpse), each in a cache of its own so that neither reads the other's values.
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "kept"))
    ds = open_dataset(SPEC)
    glimpses = Glimpses()
    doc = audit_dataset(ds, glimpses=glimpses)
    assert len(glimpses) == len(ds)
    ids = sorted(c.case_id for c in ds.cases)
    # any two cases can be aligned: pairs of every kind, mirrored or not, at several scales
    pairs = [DuplicatePair(a, b, kind, flipped, 0.9, scale) for (a, b), kind, flipped, scale in zip(
        zip(ids[0::2], ids[1::2], strict=True), ["near", "exact", "near", "near"] * 5,
        [False, False, True, True] * 5, [1.0, 1.0, 0.93, 1.07] * 5, strict=True)]
    report = DuplicateReport(DetectorParams(), pairs, [], ds.fingerprint(), len(pairs))
    kept = pair_evidence(ds, report, glimpses)
    outlined = [_Thumbs(ds, glimpses)._draw((cid, True)) for cid in ids[:6]]
    page = render_html(doc, ds, glimpses)  # after the outlines: drawing them changed no kept view
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "decoded"))
    again = open_dataset(SPEC)
    assert pair_evidence(again, report) == kept
    assert {e.mask_dice for e in kept} - {None, 0.0, 1.0}  # real alignments, not only the trivial cases
    assert render_html(doc, again) == page
    assert [_Thumbs(again, None)._draw((cid, True)) for cid in ids[:6]] == outlined


def test_cached_burnt_in_findings_equal_the_detector_and_changed_pixels_miss(fresh_cache, decodes):
    ds = open_dataset(SPEC)
    found = BurntInScan().run(ds)
    assert found == {c.case_id: detect_burnt_in(ds.decode(c)[0]) for c in ds.cases}
    decodes.clear()
    assert BurntInScan().run(open_dataset(SPEC)) == found and not decodes
    # another phantom set (other pixels) is scanned, not served from the cache
    other = open_dataset("synthetic:n=40,size=96,seed=7")
    BurntInScan().run(other)
    assert sum(decodes.values()) > 0
