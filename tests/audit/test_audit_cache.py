"""The dataset audit reuses what depends only on pixels: a repeated audit decodes nothing, a cold one each image once
for the whole-dataset scans, and the cached findings are the findings."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from benchmark.audit.annotations import BurntInScan, detect_burnt_in
from benchmark.audit.html import render_html
from benchmark.audit.report import audit_dataset
from benchmark.data.cache import DerivedCache
from benchmark.data.dataset import Dataset
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


def test_a_repeated_audit_decodes_nothing_and_finds_the_same(fresh_cache, decodes):
    cold_ds = open_dataset(SPEC)
    cold = audit_dataset(cold_ds)
    cold_html = render_html(cold, cold_ds)
    # the whole-dataset scans (fingerprints, burnt-in marks, the duplicate detector's input) share one decode; on a
    # cold cache, pair evidence decodes clustered cases once more and the page's thumbnails the cases it shows
    shown = {m["case_id"] for c in cold["duplicates"]["clusters"] for m in c["members"]}
    shown |= set(cold["burnt_in"]["cases"])
    once = {c.case_id for c in cold_ds.cases} - shown
    assert once and {cid: decodes[cid] for cid in once} == dict.fromkeys(once, 1)
    assert max(decodes.values()) <= 3
    decodes.clear()
    warm_ds = open_dataset(SPEC)
    warm = audit_dataset(warm_ds)
    assert render_html(warm, warm_ds) == cold_html.replace(f"{cold['seconds']} s", f"{warm['seconds']} s")
    assert not decodes
    assert _stable(warm) == _stable(cold)


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
