"""``busbench quickstart``: the main job of the README on the embedded synthetic default, end to end.

It generates (once) the synthetic phantom set, shows what is in it, finds its duplicates and scores the detector on
the planted ones, makes and verifies the duplicate-grouped 5-fold split, contrasts it with an image-level split, and
trains and evaluates the small CNN baseline on every fold of the grouped split (a short budget: the point is the
whole loop, not the score). Re-running it reuses what was made: the split is verified, not remade, and the run
resumes or reports its finished result.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.cli.common import show_progress
from benchmark.cli.data_cmds import dataset_info


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``quickstart`` command."""
    quick = commands.add_parser("quickstart", help="run the main job on the synthetic default dataset")
    quick.add_argument("--dataset", default="synthetic", help="synthetic spec (default: 'synthetic', 780 images)")
    quick.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="output folder")
    quick.add_argument("--model", default="small_cnn", help="classification model to train (default small_cnn)")
    quick.add_argument("--epochs", type=int, default=5, help="training epochs per fold (default 5)")
    quick.add_argument("--image-size", type=int, default=64, help="training resolution (default 64 px)")
    quick.set_defaults(run=run_quickstart)


def run_quickstart(args: argparse.Namespace) -> int:
    """Run the quickstart job."""
    from benchmark.data.duplicates import find_duplicates
    from benchmark.data.open import open_dataset
    from benchmark.data.synthetic import planted_pairs
    from benchmark.engine.zygote import warm_up
    from benchmark.splits.make import make_split
    from benchmark.splits.show import render_summary, summarise
    from benchmark.splits.verify import load_split

    warm_up()  # the plugin processes' zygote imports torch while the data, duplicates and splits are prepared
    progress = show_progress()
    print(f"[1/5] dataset {args.dataset}")
    dataset = open_dataset(args.dataset)
    info = dataset_info(dataset, progress=progress)
    print(f"      {info['cases']} cases: " + ", ".join(f"{k} {v}" for k, v in info["classes"].items())
          + f"; fingerprint {info['fingerprint'][:16]}")

    print("[2/5] duplicate detection")
    report = find_duplicates(dataset, progress=progress)
    clusters = report.cluster_ids([c.case_id for c in dataset.cases])
    planted = planted_pairs(dataset)
    found = sum(clusters[a] == clusters[b] for a, b, _ in planted)
    members = sum(len(c) for c in report.clusters)
    print(f"      {len(report.clusters)} clusters covering {members} images; "
          f"planted duplicate pairs recovered: {found} of {len(planted)}")

    print("[3/5] duplicate-grouped 5-fold split")
    grouped_path = args.out / "splits" / f"{dataset.name.replace(':', '_')}_5fold_grouped.json"
    if grouped_path.exists():
        grouped = load_split(grouped_path, dataset)
        print(f"      verified existing {grouped_path}")
    else:
        grouped = make_split(dataset, k=5, seed=0, group="duplicates", duplicates=report)
        grouped.save(grouped_path)
        load_split(grouped_path, dataset)
        print(f"      wrote and verified {grouped_path}")
    print("\n".join(("      " + line).rstrip() for line in render_summary(grouped, summarise(grouped)).splitlines()))

    print("[4/5] for contrast: an image-level split that ignores duplicates (never used for scoring)")
    naive = make_split(dataset, k=5, seed=0, group="none", duplicates=report)
    leaked = sum(len(s.leaked) for s in summarise(naive))
    print(f"      image-level folds put {leaked} of {len(dataset)} test cases next to a duplicate in training; "
          f"the grouped split puts {sum(len(s.leaked) for s in summarise(grouped))}")

    # One thread per fold and as many folds at once as there are cores: a small model at 64 px gains little from a
    # second thread, and a single-threaded process never spin-waits for a core that another program holds.
    jobs = max(1, min(grouped.k, os.cpu_count() or 1))
    print(f"[5/5] train and evaluate {args.model} on every fold ({args.epochs} epochs at {args.image_size} px, "
          f"{jobs} fold(s) at a time)")
    from benchmark.engine.runner import RunRequest, run_submission  # torch loads only when training starts

    outcome = run_submission(RunRequest(
        submission=args.model, dataset=args.dataset, splits=grouped_path, task="classification",
        epochs=args.epochs, image_size=args.image_size, out=args.out / "runs", progress=progress and jobs == 1,
        threads=1, jobs=jobs,
    ))
    if outcome.metrics is None:
        print(f"      run {outcome.status}: {outcome.failed}")
        return 1
    m = outcome.metrics
    h = m["headline"]
    print(f"      {outcome.run_dir}")
    print(f"      {h['metric']} {h['value']:.3f} (95% CI {h['ci_low']:.3f}-{h['ci_high']:.3f}, resampling "
          f"{m['bootstrap']['n_groups']} {m['bootstrap']['unit']}s); accuracy {m['pooled']['accuracy']:.3f}, "
          f"macro F1 {m['pooled']['macro_f1']:.3f}, malignant AUC {m['pooled']['auc_malignant']:.3f}")
    return 0
