"""What the engine's training epoch costs beyond the model's own work: one epoch of ``train_fold`` against bare steps.

Usage: ``python benchmarks/bench_epoch.py [--models small_cnn resnet18] [--size 128] [--train 256] [--repeats 3]``

For each model, on random ``uint8`` grey images at ``--size`` px, one thread, fp32 (the engine's CPU default here):

* **engine epoch**: :func:`benchmark.engine.loop.train_fold` for ``--repeats`` + 1 epochs, each epoch as the engine
  records it (``history[i]["seconds"]``: batching from the uint8 tensor, the submission's augmentation, the model
  input, forward, loss, backward, optimiser and schedule steps, the loss check, then the validation prediction and
  score); the first epoch is left out (warm-up);
* **bare work**: the same number of training steps on input tensors made beforehand (forward, the submission's loss,
  backward, optimiser step) plus the same validation forward passes under ``no_grad``, the model built and placed as
  the engine does; ``--repeats`` passes after one warm-up pass.

The ratio of the medians is the engine's overhead (target of issue 19: at most 1.10). Figures go to BENCHMARKS.md
through ``benchmarks/run_all.py --only epoch``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmark.engine.device import resolve_compute
from benchmark.engine.loop import TrainSettings, train_fold
from benchmark.engine.tensors import LabelledImages, to_model_input
from benchmark.plugins import create
from benchmark.plugins.submission import TrainBatch

CLASSES = ("normal", "benign", "malignant")


def images(n: int, size: int, seed: int) -> LabelledImages:
    """``n`` random grey images with balanced labels."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g)
    return LabelledImages(tuple(f"c{i}" for i in range(n)), pixels, torch.arange(n) % 3, None, CLASSES)


def engine_epochs(name: str, train: LabelledImages, val: LabelledImages, epochs: int) -> list[float]:
    """Seconds of each epoch of ``train_fold`` after the first."""
    sub = create(name)
    compute = resolve_compute("cpu", "fp32", 1)
    settings = TrainSettings(epochs, int(sub.hparams["batch_size"]), 0, 0)
    with tempfile.TemporaryDirectory() as scratch:
        _, _, history = train_fold(sub, train, val, settings, compute, Path(scratch) / "checkpoint.pt")
    return [h["seconds"] for h in history[1:]]


def bare_passes(name: str, train: LabelledImages, val: LabelledImages, passes: int) -> list[float]:
    """Seconds of each pass of bare training steps and validation forwards after a warm-up pass."""
    sub = create(name)
    torch.manual_seed(0)
    model = sub.build_model().to(memory_format=torch.channels_last)
    n = train.images.shape[0]
    bs = max(1, min(int(sub.hparams["batch_size"]), n))
    steps = n // bs + (1 if n % bs > 1 else 0)
    optimiser, schedule = sub.configure_optimizers(model, epochs=passes + 1, steps_per_epoch=steps)
    batches = [TrainBatch(to_model_input(train.images[i * bs:(i + 1) * bs].float().div_(255), sub.spec),
                          train.labels[i * bs:(i + 1) * bs], None) for i in range(steps)]
    val_inputs = [to_model_input(val.images[i:i + 2 * bs].float().div_(255), sub.spec)
                  for i in range(0, val.images.shape[0], 2 * bs)]
    times = []
    for _ in range(passes + 1):
        start = time.perf_counter()
        model.train()
        for batch in batches:
            loss = sub.loss(model(batch.images), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            for x in val_inputs:
                model(x)
        times.append(time.perf_counter() - start)
    return times[1:]


def main() -> None:
    """Print the engine's epoch, the bare work and their ratio per model."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["small_cnn", "resnet18"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--train", type=int, default=256, help="training images per epoch")
    parser.add_argument("--val", type=int, default=64, help="validation images per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, val = images(args.train, args.size, 0), images(args.val, args.size, 1)
    print(f"{'model':<12}{'engine epoch s':>16}{'bare s':>10}{'ratio':>8}   ({args.train} + {args.val} images, "
          f"{args.size} px, fp32, 1 thread)")
    rows = []
    for name in args.models:
        engine = engine_epochs(name, train, val, args.repeats + 1)
        bare = bare_passes(name, train, val, args.repeats)
        ratio = statistics.median(engine) / statistics.median(bare)
        print(f"{name:<12}{statistics.median(engine):>16.2f}{statistics.median(bare):>10.2f}{ratio:>8.3f}")
        rows.append({"model": name, "engine": engine, "bare": bare, "ratio": ratio})
    if args.json:
        doc = {"size": args.size, "train": args.train, "val": args.val, "repeats": args.repeats, "threads": 1,
               "precision": "fp32", "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
