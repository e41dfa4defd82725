"""The dataset audit: what ``busbench audit DATASET`` computes and writes (``audit.json`` and ``report.html``).

``audit.json`` schema (``"schema": "busbench-audit/1"``; keys are only ever added within a schema version)::

    {
      "schema": "busbench-audit/1",
      "dataset": {"name", "kind", "location", "fingerprint", "n_cases", "classes": {class: count}},
      "created": ISO-8601 UTC time,
      "versions": {"busbench", "python", ...},
      "seconds": wall time of the audit,
      "duplicates": {
        "detector": {detector parameters}, "n_pairs", "n_clusters", "n_cases_in_clusters",
        "clusters": [{"id": "dup-<first member>", "members": [{"case_id", "label", "image"}], "labels": [...],
                      "cross_class": bool, "relations": [...],
                      "pairs": [{"a", "b", "kind": "exact"|"near", "relation": "exact"|"flipped"|"cropped"|"near",
                                 "flipped", "score", "scale", "mask_dice": float|null}]}]   # cross-class first
      },
      "cross_class": [cluster ids whose members carry different labels],
      "mask_conflicts": {"threshold": 0.8, "pairs": [pair records as above with mask_dice < threshold, worst first]},
      "burnt_in": {"thresholds": {...}, "n_annotated", "n_colour",
                   "cases": {case_id: {"annotated", "colour", "kinds", "thin_pixels", "glyphs", "yellow_pixels",
                                       "flow_pixels"}}}   # only cases with an annotation or a colour overlay
      "splits": [{"source": path, "kind": "busbench"|"csv", "group", "unlisted" (csv only),
                  "folds": [{"fold", "n_train", "n_val", "n_test", "leaked", "duplicate_leaked",
                             "duplicate_partners": {test case: [training-side cases]},
                             "patient_leaked": int|null, "patient_partners": {...}|null}],
                  "total": {"n_test", "leaked", "duplicate_leaked", "patient_leaked", "leaked_fraction"}}]
    }

Both files are rendered in memory first and written atomically into the output folder, so an unwritable folder
leaves nothing behind and a failed audit never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.audit.annotations import BurntInScan, detector_thresholds
from benchmark.audit.clusters import MASK_CONFLICT_DICE, cluster_records, mask_conflicts, pair_evidence
from benchmark.audit.external_split import read_split_csv
from benchmark.audit.glimpses import Glimpses
from benchmark.audit.html import render_html
from benchmark.audit.leakage import external_leakage, split_leakage
from benchmark.data.case import Case
from benchmark.data.dataset import CaseFacts, Dataset
from benchmark.data.duplicates import DetectorParams, find_duplicates
from benchmark.data.images import to_grey
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_json, atomic_write_text
from benchmark.splits.make import library_versions
from benchmark.splits.schema import read_split
from benchmark.splits.show import patient_keys
from benchmark.splits.verify import load_split

SCHEMA = "busbench-audit/1"
JSON_NAME = "audit.json"
HTML_NAME = "report.html"


def audit_dataset(dataset: Dataset, *, splits: Sequence[Path] = (), split_csvs: Sequence[Path] = (),
                  progress: bool = False, glimpses: Glimpses | None = None) -> dict[str, Any]:
    """Audit a dataset: duplicate clusters, cross-class clusters, mask conflicts, burnt-in marks, split leakage.

    Args:
        dataset: The data.
        splits: busbench split files to audit (each verified against ``dataset`` first).
        split_csvs: Published splits as CSV (see ``benchmark.audit.external_split``).
        progress: Show progress bars.
        glimpses: Filled with the small views of every image the decoding pass decodes, used by the mask
            agreements here and the thumbnails of :func:`benchmark.audit.html.render_html` (see
            :func:`audit_with_page`); ``None``: a private one (the page then decodes its images).

    Returns:
        The ``audit.json`` document (schema in the module docstring).

    Raises:
        BusbenchError: On unreadable data or a bad split file or CSV (checked before the slow work).
    """
    started = time.perf_counter()
    for path in splits:
        read_split(path)  # a malformed split file fails here, before any decoding (load_split below verifies)
    external = [read_split_csv(p, dataset) for p in split_csvs]
    # One decoding pass: the images that fingerprinting decodes are scanned for burnt-in marks and shrunk for the
    # duplicate detector there and then (cases whose fingerprints are cached are not decoded at all).
    scan, params = BurntInScan(), DetectorParams()
    verify_size = (params.verify_size, params.verify_size)

    seen = Glimpses() if glimpses is None else glimpses

    def visit(case: Case, facts: CaseFacts, rgb: np.ndarray, mask: np.ndarray | None) -> None:
        grey = to_grey(rgb)  # once for the three
        scan.visit(case, facts, rgb, mask, grey)
        dataset.keep_decoded(facts.fingerprint, rgb, mask, verify_size, grey)
        seen.keep(case.case_id, rgb, mask, grey)

    dataset.facts(progress=progress, on_decoded=visit)
    loaded = [(str(p), load_split(p, dataset)) for p in splits]
    report = find_duplicates(dataset, params, progress=progress)
    evidence = pair_evidence(dataset, report, seen)
    clusters = cluster_records(dataset, report, evidence)
    burnt = scan.run(dataset, progress=progress)
    ids = report.cluster_ids([c.case_id for c in dataset.cases])
    patients = patient_keys(dataset)
    leakage = [split_leakage(s, path, ids, patients) for path, s in loaded]
    leakage += [external_leakage(e, ids, patients) for e in external]
    return {
        "schema": SCHEMA,
        "dataset": {"name": dataset.name, "kind": dataset.kind, "location": str(dataset.source.location),
                    "fingerprint": dataset.fingerprint(), "n_cases": len(dataset), "classes": dataset.class_counts()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "seconds": round(time.perf_counter() - started, 2),
        "duplicates": {
            "detector": report.params.as_dict(),
            "n_pairs": len(report.pairs),
            "n_clusters": len(report.clusters),
            "n_cases_in_clusters": sum(len(c) for c in report.clusters),
            "clusters": clusters,
        },
        "cross_class": [c["id"] for c in clusters if c["cross_class"]],
        "mask_conflicts": {"threshold": MASK_CONFLICT_DICE, "pairs": mask_conflicts(evidence)},
        "burnt_in": {
            "thresholds": detector_thresholds(),
            "n_annotated": sum(b.annotated for b in burnt.values()),
            "n_colour": sum(b.colour for b in burnt.values()),
            "cases": {cid: b.to_json() for cid, b in burnt.items() if b.annotated or b.colour},
        },
        "splits": leakage,
    }


def audit_with_page(dataset: Dataset, *, splits: Sequence[Path] = (), split_csvs: Sequence[Path] = (),
                    progress: bool = False) -> tuple[dict[str, Any], str]:
    """:func:`audit_dataset` and its HTML page, with every image decoded at most once for both.

    Returns:
        ``(audit.json document, report.html text)``.
    """
    glimpses = Glimpses()
    doc = audit_dataset(dataset, splits=splits, split_csvs=split_csvs, progress=progress, glimpses=glimpses)
    return doc, render_html(doc, dataset, glimpses)


def default_out(dataset: Dataset) -> Path:
    """``runs/audit/<dataset name>/`` with the name made safe for a folder."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in dataset.name).strip("-.") or "dataset"
    return Path("runs") / "audit" / safe


def check_writable(out: Path) -> None:
    """Make sure ``out`` can be created and written before any slow work (nothing is left behind on failure).

    Raises:
        BusbenchError: If the folder cannot be created or written.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".busbench-write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BusbenchError(out, f"cannot write the audit here ({exc.strerror or exc})") from exc


def write_audit(doc: dict[str, Any], html: str, out: Path) -> tuple[Path, Path]:
    """Write ``audit.json`` and ``report.html`` atomically into ``out``; returns their paths.

    Raises:
        BusbenchError: If the folder cannot be written.
    """
    check_writable(out)
    paths = out / JSON_NAME, out / HTML_NAME
    try:
        atomic_write_text(paths[1], html)
        atomic_write_json(paths[0], doc)
    except OSError as exc:
        raise BusbenchError(out, f"cannot write the audit here ({exc.strerror or exc})") from exc
    return paths
