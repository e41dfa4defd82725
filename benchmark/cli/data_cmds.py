"""``busbench data``: what is in a dataset (info), its manifest, and its duplicate clusters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.cli.common import print_json, show_progress

if TYPE_CHECKING:
    from benchmark.data.dataset import Dataset

DATASET_HELP = ("a BUSI folder or .zip, a BUS-BRA folder, a BUS-UCLM folder, a manifest .csv, or "
                "'synthetic[:n=..,seed=..,size=..,site=a|b]'")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group."""
    data = commands.add_parser("data", help="inspect a dataset").add_subparsers(dest="data_command", required=True)

    info = data.add_parser("info", help="counts per class, masks, image sizes and the dataset fingerprint")
    info.add_argument("dataset", help=DATASET_HELP)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(run=run_info)

    manifest = data.add_parser("manifest", help="one row per case: id, path, label, masks, group, fingerprint")
    manifest.add_argument("dataset", help=DATASET_HELP)
    manifest.add_argument("--format", choices=("csv", "json"), default="csv")
    manifest.add_argument("--out", type=Path, help="write to this file (atomically) instead of stdout")
    manifest.set_defaults(run=run_manifest)

    dups = data.add_parser("duplicates", help="exact and near-duplicate image clusters")
    dups.add_argument("dataset", help=DATASET_HELP)
    dups.add_argument("--out", type=Path, help="also write the full report (pairs with evidence) as JSON")
    dups.set_defaults(run=run_duplicates)


def dataset_info(dataset: Dataset, *, progress: bool = False) -> dict[str, Any]:
    """The facts ``busbench data info`` prints, as a dict."""
    facts = dataset.facts(progress=progress)
    heights = [f.height for f in facts.values()]
    widths = [f.width for f in facts.values()]
    empty = {k: 0 for k in dataset.classes}
    for case in dataset.cases:
        if facts[case.case_id].lesion_pixels == 0:
            empty[case.label] += 1
    return {
        "name": dataset.name,
        "kind": dataset.kind,
        "location": str(dataset.source.location),
        "cases": len(dataset),
        "classes": dataset.class_counts(),
        "mask_files": sum(len(c.masks) for c in dataset.cases),
        "cases_with_several_masks": sum(len(c.masks) > 1 for c in dataset.cases),
        "empty_masks": empty if dataset.has_masks else None,
        "patient_groups": len({c.group for c in dataset.cases if c.group}) or None,
        "height_range": [min(heights), max(heights)],
        "width_range": [min(widths), max(widths)],
        "fingerprint": dataset.fingerprint(),
    }


def run_info(args: argparse.Namespace) -> int:
    """``busbench data info``."""
    from benchmark.data.open import open_dataset

    info = dataset_info(open_dataset(args.dataset), progress=show_progress())
    if args.json:
        print_json(info)
        return 0
    print(f"dataset      {info['name']} ({info['kind']}) at {info['location']}")
    print(f"cases        {info['cases']}: " + ", ".join(f"{k} {v}" for k, v in info["classes"].items()))
    print(f"mask files   {info['mask_files']} ({info['cases_with_several_masks']} cases with several masks, united)")
    if info["empty_masks"] is not None:
        print("empty masks  " + ", ".join(f"{k} {v}" for k, v in info["empty_masks"].items()))
    if info["patient_groups"]:
        print(f"patients     {info['patient_groups']}")
    print(f"image size   height {info['height_range'][0]}-{info['height_range'][1]} px, "
          f"width {info['width_range'][0]}-{info['width_range'][1]} px")
    print(f"fingerprint  {info['fingerprint']}")
    return 0


def run_manifest(args: argparse.Namespace) -> int:
    """``busbench data manifest``."""
    from benchmark.data.manifest import write_manifest
    from benchmark.data.open import open_dataset

    dataset = open_dataset(args.dataset)
    dataset.facts(progress=show_progress())
    text = write_manifest(dataset, args.out, args.format)
    if args.out is None:
        print(text, end="")
    return 0


def run_duplicates(args: argparse.Namespace) -> int:
    """``busbench data duplicates``."""
    from benchmark.data.duplicates import find_duplicates
    from benchmark.data.open import open_dataset
    from benchmark.fileio import atomic_write_text

    dataset = open_dataset(args.dataset)
    report = find_duplicates(dataset, progress=show_progress())
    labels = {c.case_id: c.label for c in dataset.cases}
    members = sum(len(c) for c in report.clusters)
    cross = [c for c in report.clusters if len({labels[m] for m in c}) > 1]
    print(f"{len(report.pairs)} duplicate pairs in {len(report.clusters)} clusters covering {members} of "
          f"{len(dataset)} images; {len(cross)} clusters span more than one class")
    for cluster in sorted(report.clusters, key=lambda c: (len({labels[m] for m in c}) == 1, c)):
        print("  " + ", ".join(f"{m} ({labels[m]})" for m in cluster))
    if args.out:
        atomic_write_text(args.out, report.to_json())
    return 0
