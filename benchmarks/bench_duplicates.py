"""Benchmark of the near-duplicate detector: accuracy on planted pairs, and time and findings on real BUSI.

Usage::

    .venv/bin/python benchmarks/bench_duplicates.py [--busi PATH] [--synthetic SPEC] [--skip-synthetic]

Each timing runs in a fresh, private cache folder so "cold" really means nothing decoded yet:

* cold: nothing cached (decode every PNG, fingerprint, resize, detect);
* warm: decoded images cached, report not cached (the detector itself);
* cached report: the JSON report is reused.

On the synthetic set (planted ground truth in ``duplicates.csv``) a planted pair counts as found when both cases land
in one cluster. A detected pair counts as correct when both cases belong to one planted cluster (the connected
components of the planted pairs: two copies of one original are duplicates of each other too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.data.busi import load_busi  # noqa: E402
from benchmark.data.dataset import Dataset  # noqa: E402
from benchmark.data.duplicates import DetectorParams, DuplicateReport, detect, find_duplicates  # noqa: E402


def cpu_model() -> str:
    """Return the CPU model name from ``lscpu`` (or the platform's processor string)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def timed_runs(open_dataset, params: DetectorParams) -> tuple[Dataset, DuplicateReport, dict[str, float]]:
    """Time cold, warm and cached-report runs, each in a fresh cache folder state."""
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="busbench-bench-") as cache:
        os.environ["BUSBENCH_CACHE_DIR"] = cache
        start = time.perf_counter()
        dataset = open_dataset()
        report = find_duplicates(dataset, params)
        times["cold"] = time.perf_counter() - start
        fresh = open_dataset()  # a new Dataset object: facts come from the on-disk index, pixels from the cache
        start = time.perf_counter()
        report = detect(fresh, params)
        times["warm"] = time.perf_counter() - start
        fresh = open_dataset()
        start = time.perf_counter()
        find_duplicates(fresh, params)
        times["cached report"] = time.perf_counter() - start
    return dataset, report, times


def planted_scores(report: DuplicateReport, planted: list[tuple[str, str, str]]) -> dict[str, object]:
    """Recall of planted pairs (same cluster) and precision of detected pairs (same planted cluster)."""
    cluster = report.cluster_ids({c for a, b, _ in planted for c in (a, b)} | {c for p in report.pairs
                                                                              for c in (p.a, p.b)})
    found_by_kind: dict[str, list[bool]] = defaultdict(list)
    missed = []
    for a, b, kind in planted:
        ok = cluster[a] == cluster[b] and cluster[a].startswith("dup-")
        found_by_kind[kind].append(ok)
        if not ok:
            missed.append((a, b, kind))
    truth = DuplicateReport(report.params, [], [])
    truth.clusters = _planted_clusters(planted)
    true_cluster = truth.cluster_ids({c for p in report.pairs for c in (p.a, p.b)})
    false = [p for p in report.pairs
             if true_cluster[p.a] != true_cluster[p.b] or not true_cluster[p.a].startswith("dup-")]
    n_found = sum(sum(v) for v in found_by_kind.values())
    return {
        "recall": n_found / max(1, len(planted)),
        "precision": (len(report.pairs) - len(false)) / max(1, len(report.pairs)),
        "planted": len(planted),
        "detected_pairs": len(report.pairs),
        "by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(found_by_kind.items())},
        "missed": missed,
        "false": false,
    }


def _planted_clusters(planted: list[tuple[str, str, str]]) -> list[list[str]]:
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b, _ in planted:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in list(parent):
        groups[root(x)].append(x)
    return sorted(sorted(g) for g in groups.values())


def busi_findings(dataset: Dataset, report: DuplicateReport) -> dict[str, object]:
    """Count what was found on BUSI: pairs by kind, clusters, images in clusters, cross-class clusters."""
    labels = {c.case_id: c.label for c in dataset.cases}
    cross = [c for c in report.clusters if len({labels[m] for m in c}) > 1]
    cid = report.cluster_ids(labels)
    return {
        "pairs": len(report.pairs),
        "exact pairs": sum(p.kind == "exact" for p in report.pairs),
        "near pairs": sum(p.kind == "near" for p in report.pairs),
        "flipped pairs": sum(p.flipped for p in report.pairs),
        "clusters": len(report.clusters),
        "largest cluster": max((len(c) for c in report.clusters), default=0),
        "images in clusters": sum(len(c) for c in report.clusters),
        "images removable (cluster size - 1)": sum(len(c) - 1 for c in report.clusters),
        "cross-class clusters": len(cross),
        "cross-class examples": [" / ".join(f"{m} " for m in c).strip() for c in cross[:6]],
        "cross-class clusters, all": [{"members": sorted(c), "exact": any(
            p.kind == "exact" and p.a in c and p.b in c for p in report.pairs)} for c in cross],
        "benign-433 with malignant-145": cid["benign-433"] == cid["malignant-145"] != "benign-433",
        "shortlisted pairs verified": report.shortlisted,
    }


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_busi = os.environ.get("BUSBENCH_BUSI", str(REPO.parent / "shared" / "data" / "BUSI"))
    parser.add_argument("--busi", default=default_busi, help="BUSI folder or zip (default: $BUSBENCH_BUSI)")
    parser.add_argument("--synthetic", default="synthetic", help="phantom set spec (default: the 780-image set)")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    params = DetectorParams()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}; python {platform.python_version()}")
    print(f"params: {params.as_dict()}")
    doc: dict[str, object] = {"params": params.as_dict()}

    if not args.skip_synthetic:
        from benchmark.data.open import open_dataset
        from benchmark.data.synthetic import planted_pairs

        with tempfile.TemporaryDirectory(prefix="busbench-bench-syn-") as cache:
            os.environ["BUSBENCH_CACHE_DIR"] = cache
            start = time.perf_counter()
            synthetic = open_dataset(args.synthetic)
            print(f"\n== {synthetic.name}: {len(synthetic)} images (generated in {time.perf_counter() - start:.1f} s)")
            generated = time.perf_counter() - start
            start = time.perf_counter()
            report = find_duplicates(synthetic, params)
            cold = time.perf_counter() - start
            print(f"detector, cold decode cache: {cold:.1f} s")
            scores = planted_scores(report, planted_pairs(synthetic))
            if args.json:  # untimed extras for BENCHMARKS.md: the NCC gap between planted and distinct images
                true_pairs = [p for p in report.pairs if p not in scores["false"]]
                planted_cluster = {c: i for i, g in enumerate(_planted_clusters(planted_pairs(synthetic))) for c in g}
                every = detect(synthetic, DetectorParams(**{**params.as_dict(), "accept_threshold": -1}))
                distinct = [p.score for p in every.pairs
                            if planted_cluster.get(p.a, p.a) != planted_cluster.get(p.b, p.b)]
                doc["synthetic"] = {
                    "name": synthetic.name, "images": len(synthetic), "generate_seconds": generated,
                    "cold_seconds": cold, **{k: v for k, v in scores.items() if k not in ("missed", "false")},
                    "missed": len(scores["missed"]), "false_pairs": len(scores["false"]),
                    "min_planted_ncc": min((p.score for p in true_pairs), default=None),
                    "max_distinct_ncc": max(distinct, default=None)}
                print(f"planted pairs' NCC min {doc['synthetic']['min_planted_ncc']}, highest NCC of distinct "
                      f"images {doc['synthetic']['max_distinct_ncc']}")
        for key in ("recall", "precision"):
            print(f"{key}: {scores[key]:.3f}")
        for key in ("planted", "detected_pairs", "by_kind"):
            print(f"{key}: {scores[key]}")
        for a, b, kind in scores["missed"]:
            print(f"  missed: {a} / {b} ({kind})")
        for p in scores["false"]:
            print(f"  false: {p}")

    if Path(args.busi).exists():
        dataset, report, times = timed_runs(lambda: load_busi(args.busi), params)
        print(f"\n== BUSI ({args.busi}): {len(dataset)} images")
        for key, value in times.items():
            print(f"time, {key}: {value:.1f} s")
        findings = busi_findings(dataset, report)
        for key, value in findings.items():
            if key != "cross-class clusters, all":
                print(f"{key}: {value}")
        doc["busi"] = {"images": len(dataset), "seconds": times, **findings}
    else:
        print(f"\nBUSI not found at {args.busi}: skipped")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
