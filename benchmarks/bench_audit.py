"""Benchmark of ``busbench audit``: wall time on real BUSI, and the detectors against phantom ground truth.

Usage::

    PYTHONPATH=<folder with imagehash> .venv/bin/python benchmarks/bench_audit.py [--busi PATH] [--synthetic SPEC]

* Audit time: ``audit_with_page`` (the document and the HTML page, as the command makes them) on BUSI, cold (fresh
  private cache: every PNG decoded) and warm (decoded images and the duplicate report cached).
* Duplicates on the phantom set, ours against ``imagehash.phash`` (a maintained perceptual-hash library; an optional
  benchmark-time dependency only, never needed by busbench) at several Hamming-distance thresholds: a planted pair is
  recalled when both cases land in one connected component of the detected pairs; a detected pair is correct when
  both cases belong to one planted cluster (planted copies of one original are duplicates of each other too).
* pHash on BUSI: how many pairs it finds, and how many of them our detector also found.
* Burnt-in annotations and colour overlays on the phantom set: precision and recall against ``phantom_facts``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.audit.annotations import scan_dataset  # noqa: E402
from benchmark.audit.report import audit_with_page  # noqa: E402
from benchmark.data.dataset import Dataset  # noqa: E402
from benchmark.data.duplicates import find_duplicates  # noqa: E402
from benchmark.data.open import open_dataset  # noqa: E402
from benchmark.data.synthetic import phantom_facts, planted_pairs  # noqa: E402


def components(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Map every case in ``pairs`` to a component representative (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in list(parent)}


def score_pairs(found: list[tuple[str, str]], planted: list[tuple[str, str, str]]) -> tuple[float, float]:
    """(recall of planted pairs, precision of found pairs) as described in the module docstring."""
    comp = components(found)
    truth = components([(a, b) for a, b, _ in planted])
    recalled = sum(1 for a, b, _ in planted if a in comp and b in comp and comp[a] == comp[b])
    correct = sum(1 for a, b in found if a in truth and b in truth and truth[a] == truth[b])
    return recalled / len(planted), (correct / len(found) if found else 1.0)


def phash_all(dataset: Dataset, thresholds: list[int]) -> tuple[dict[int, list[tuple[str, str]]], float]:
    """Return the pHash pairs at every threshold, from one hashing pass, and its seconds."""
    import imagehash
    from PIL import Image

    start = time.perf_counter()
    hashes = {c.case_id: imagehash.phash(Image.fromarray(dataset.decode(c)[0])) for c in dataset.cases}
    dist = {(a, b): hashes[a] - hashes[b] for a, b in combinations(sorted(hashes), 2)}
    elapsed = time.perf_counter() - start
    return {t: [p for p, d in dist.items() if d <= t] for t in thresholds}, elapsed


def time_audit(spec: str) -> dict[str, float]:
    """Cold and warm wall time of the audit (JSON document and HTML page) in a fresh private cache."""
    times = {}
    before = os.environ.get("BUSBENCH_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="busbench-bench-audit-") as cache:
        os.environ["BUSBENCH_CACHE_DIR"] = cache
        for run in ("cold", "warm"):
            start = time.perf_counter()
            dataset = open_dataset(spec)
            doc, _ = audit_with_page(dataset)
            times[run] = time.perf_counter() - start
            times[f"{run} findings"] = doc  # type: ignore[assignment]
    if before is None:
        os.environ.pop("BUSBENCH_CACHE_DIR", None)
    else:
        os.environ["BUSBENCH_CACHE_DIR"] = before
    return times


def time_cli_audit(busi: str) -> dict[str, float]:
    """Wall time of ``busbench audit BUSI`` as a whole process, cold (fresh private cache) then warm (cache kept)."""
    import subprocess

    times = {}
    with tempfile.TemporaryDirectory(prefix="busbench-bench-audit-cli-") as tmp:
        env = {**os.environ, "BUSBENCH_CACHE_DIR": str(Path(tmp) / "cache")}
        for run in ("cold", "warm"):
            start = time.perf_counter()
            subprocess.run([str(REPO / ".venv" / "bin" / "busbench"), "audit", busi, "--out", str(Path(tmp) / run)],
                           env=env, check=True, capture_output=True)
            times[f"cli_{run}"] = time.perf_counter() - start
    return times


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busi", default=str(REPO.parent / "shared" / "data" / "BUSI"))
    parser.add_argument("--synthetic", default="synthetic")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    out: dict[str, dict] = {}
    thresholds = [4, 8, 12, 16]
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")

    if Path(args.busi).is_dir():
        t = time_audit(args.busi)
        doc = t["warm findings"]
        print(f"BUSI audit: cold {t['cold']:.1f} s, warm {t['warm']:.1f} s")
        print(f"  clusters {doc['duplicates']['n_clusters']} ({doc['duplicates']['n_cases_in_clusters']} images, "
              f"{doc['duplicates']['n_pairs']} pairs), cross-class {len(doc['cross_class'])}, mask conflicts "
              f"{len(doc['mask_conflicts']['pairs'])}, annotated {doc['burnt_in']['n_annotated']}, colour "
              f"{doc['burnt_in']['n_colour']}")
        cli = time_cli_audit(args.busi)
        print(f"busbench audit (whole process): cold {cli['cli_cold']:.1f} s, warm {cli['cli_warm']:.1f} s")
        out["busi"] = {"cold": t["cold"], "warm": t["warm"], **cli, "clusters": doc["duplicates"]["n_clusters"],
                       "cross_class": len(doc["cross_class"]), "mask_conflicts": len(doc["mask_conflicts"]["pairs"]),
                       "annotated": doc["burnt_in"]["n_annotated"], "colour": doc["burnt_in"]["n_colour"],
                       "phash": {}}
        busi = open_dataset(args.busi)
        ours = components([(p.a, p.b) for p in find_duplicates(busi).pairs])
        found, secs = phash_all(busi, thresholds)
        for th in thresholds:
            pairs = found[th]
            shared = sum(1 for a, b in pairs if a in ours and b in ours and ours[a] == ours[b])
            print(f"  pHash <= {th:2d} bits: {len(pairs)} pairs, {shared} of them in one of our clusters")
            out["busi"]["phash"][str(th)] = {"pairs": len(pairs), "in_our_clusters": shared}
        print(f"  pHash time: {secs:.1f} s")
        out["busi"]["phash_seconds"] = secs

    dataset = open_dataset(args.synthetic)
    planted = planted_pairs(dataset)
    report = find_duplicates(dataset)
    r, p = score_pairs([(x.a, x.b) for x in report.pairs], planted)
    print(f"{args.synthetic}: {len(planted)} planted pairs; ours: recall {r:.3f}, precision {p:.3f} "
          f"({len(report.pairs)} pairs)")
    syn: dict[str, object] = {"planted": len(planted), "ours": {"recall": r, "precision": p,
                                                                "pairs": len(report.pairs)}}
    found, _ = phash_all(dataset, thresholds)
    for th in thresholds:
        r, p = score_pairs(found[th], planted)
        print(f"  pHash <= {th:2d} bits: recall {r:.3f}, precision {p:.3f} ({len(found[th])} pairs)")
        syn[f"phash {th}"] = {"recall": r, "precision": p, "pairs": len(found[th])}
    facts = phantom_facts(dataset)
    burnt = scan_dataset(dataset)
    for what, truth in (("annotated", lambda f: f["annotations"] != "none"), ("colour", lambda f: f["colour"] == "1")):
        t = {c for c, f in facts.items() if truth(f)}
        g = {c for c, b in burnt.items() if getattr(b, what)}
        print(f"  {what}: truth {len(t)}, found {len(g)}, recall {len(t & g) / len(t):.3f}, "
              f"precision {len(t & g) / max(len(g), 1):.3f}")
        syn[what] = {"truth": len(t), "found": len(g), "recall": len(t & g) / len(t),
                     "precision": len(t & g) / max(len(g), 1)}
    out["synthetic"] = syn
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
