"""Training throughput of the baselines on this machine: images per second for fp32 and bf16 autocast.

Usage: ``python benchmarks/bench_training.py [--models small_cnn resnet18 unet_resnet18] [--size 128] [--threads 2]``

Times a few training steps (forward, loss, backward, optimiser step) on random images after two warm-up steps, with
the engine's own input path (channels-last, autocast through ``ComputeSetup``). Figures go to BENCHMARKS.md with
the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmark.engine.device import resolve_compute
from benchmark.engine.tensors import to_model_input
from benchmark.plugins import create
from benchmark.plugins.submission import TrainBatch


def images_per_second(name: str, size: int, precision: str, threads: int, batch: int, steps: int) -> float:
    """Training images per second of model ``name`` at ``size`` px."""
    compute = resolve_compute("cpu", precision, threads)
    sub = create(name)  # defaults: no pretrained weights
    model = sub.build_model().to(memory_format=torch.channels_last)
    optimiser, _ = sub.configure_optimizers(model, epochs=1, steps_per_epoch=steps)
    images = torch.rand(batch, 1, size, size)
    labels = torch.randint(0, 3, (batch,))
    masks = (torch.rand(batch, 1, size, size) > 0.8).float()
    batch_data = TrainBatch(to_model_input(images, sub.spec), labels, masks)
    model.train()
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        with compute.autocast():
            outputs = model(batch_data.images)
        loss = sub.loss(outputs, batch_data)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    """Print a table of images/s per model and precision."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["small_cnn", "resnet18", "efficientnet_b0", "unet_resnet18"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    rows = []
    print(f"{'model':<18} {'size':>5} {'threads':>7} {'fp32 img/s':>11} {'bf16 img/s':>11}")
    for name in args.models:
        rates = [images_per_second(name, args.size, p, args.threads, args.batch, args.steps) for p in ("fp32", "bf16")]
        print(f"{name:<18} {args.size:>5} {args.threads:>7} {rates[0]:>11.1f} {rates[1]:>11.1f}")
        rows.append({"model": name, "size": args.size, "fp32": rates[0], "bf16": rates[1]})
    if args.json:
        doc = {"threads": args.threads, "batch": args.batch, "steps": args.steps, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
