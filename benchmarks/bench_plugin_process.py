"""What running a fold's plugin code in its own process costs (``benchmark.engine.plugin_process``).

Usage: ``python benchmarks/bench_plugin_process.py [--model small_cnn] [--repeats 5] [--size 32]``

Times, ``--repeats`` times each, with the median: starting a plugin process until it has imported the model's
module and holds a fold's training cases (the tiny synthetic dataset's fold 0 at ``--size`` px), as a command's first
fold does it (the zygote that forks plugin processes is started too, ``benchmark.engine.zygote``) and as each later
fold does it (forked from the running zygote); and a whole fold of 1 epoch through
:func:`benchmark.engine.fold.run_fold` (start, training, prediction, writing the result), beside the same training and
prediction in this process (the engine's loop called directly, as folds trained before the plugin process existed).
The start-up figures are what a fold, and every outer fold's study in ``busbench tune``, pays over training in the
command's own process. Figures go to BENCHMARKS.md with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Print the median start-up and whole-fold times."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()

    from benchmark.data.open import open_dataset
    from benchmark.engine.device import resolve_compute
    from benchmark.engine.fold import clean_fold, run_fold
    from benchmark.engine.loop import TrainSettings, predict_probabilities, train_fold
    from benchmark.engine.plugin_process import PluginProcess
    from benchmark.engine.zygote import stop_shared_zygote
    from benchmark.plugins import registry
    from benchmark.results.identity import source_fingerprint
    from benchmark.results.rundir import RunDir
    from benchmark.splits.make import make_split

    dataset = open_dataset("synthetic:n=45,seed=4,size=48")
    split = make_split(dataset, k=3, seed=0, val_fraction=0.5)
    cls = registry.get(args.model)
    code = source_fingerprint(cls)["sha256"]
    compute = resolve_compute("cpu", "fp32", 1)
    fold = clean_fold(dataset, split, 0, args.size)
    def start() -> float:
        t0 = time.perf_counter()
        with PluginProcess(cls, code, compute) as plugin:
            plugin.load(fold.train, fold.select)
            plugin.start()
            return time.perf_counter() - t0

    cold_starts, starts, folds, inline = [], [], [], []
    for _ in range(args.repeats):
        stop_shared_zygote()  # a command's first fold: no zygote yet
        cold_starts.append(start())
        starts.append(start())
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_fold(cls({"epochs": 1}), dataset, 0, lambda: fold, code=code, epochs=1, seed=0, compute=compute,
                     rd=RunDir(Path(tmp)))
            folds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            submission = cls({"epochs": 1})
            settings = TrainSettings(1, int(submission.hparams["batch_size"]), 0, 0)
            model, _, _ = train_fold(submission, fold.train, fold.select, settings, compute, Path(tmp) / "ckpt.pt")
            predict_probabilities(submission, model, fold.test_images, compute, 2 * settings.batch_size)
            inline.append(time.perf_counter() - t0)
    print(f"{args.model}, {args.size} px, fold 0 of the tiny synthetic set ({len(fold.train.case_ids)} training "
          f"cases), 1 thread, {args.repeats} repeats (median [min, max]):", file=sys.stderr)
    for name, values in (("first plugin process", cold_starts), ("later plugin process", starts),
                         ("whole fold, 1 epoch", folds), ("same, in this process", inline)):
        print(f"  {name:<22}{statistics.median(values):7.2f} s  [{min(values):.2f}, {max(values):.2f}]")
    if args.json:
        doc = {"model": args.model, "size": args.size, "repeats": args.repeats,
               "training_cases": len(fold.train.case_ids),
               **{key: {"median": statistics.median(values), "times": values}
                  for key, values in (("cold_start", cold_starts), ("start", starts), ("fold", folds),
                                      ("inline", inline))}}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
