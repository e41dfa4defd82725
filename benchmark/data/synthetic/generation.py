"""Writing a phantom set: the images and masks in the BUSI layout, and the ground-truth tables beside them.

``generate`` writes ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` with ``_mask.png`` (and ``_mask_1.png`` for
some two-lesion cases), so the BUSI loader reads it unchanged, plus ``duplicates.csv``, ``phantom_facts.csv`` and
``synthetic.json`` beside that folder. Images are drawn by a pool of threads: the heavy work (numpy's array
arithmetic and random fills, OpenCV's filters, Pillow's PNG coding) releases the GIL, and unlike worker processes,
threads need no ``if __name__ == "__main__":`` guard in the caller's script. Every image has its own seed, so the
files are the same whatever the number of threads.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from benchmark.data.busi import BUSI_CLASSES
from benchmark.data.synthetic.config import (
    GENERATOR_VERSION,
    SyntheticConfig,
    check_config,
    class_counts_for,
    synthetic_spec,
)
from benchmark.data.synthetic.copies import planted_copy
from benchmark.data.synthetic.phantom import render_phantom
from benchmark.data.synthetic.plan import Item, item_seed, plan
from benchmark.errors import BusbenchError

DATA_FOLDER = "Dataset_BUSI_with_GT"
DUPLICATES_FILE = "duplicates.csv"
FACTS_FILE = "phantom_facts.csv"
INFO_FILE = "synthetic.json"

_T = TypeVar("_T")
_R = TypeVar("_R")


def _mask_png(mask: np.ndarray, mode: str) -> Image.Image:
    """A {0, 255} mask in one of the PNG modes BUSI masks come in (1-bit, grey, RGB, RGBA)."""
    grey = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
    if mode == "1":
        return grey.convert("1")
    if mode == "RGBA":
        rgba = grey.convert("RGBA")
        rgba.putalpha(255)
        return rgba
    return grey.convert(mode)


def _save_png(img: Image.Image, path: Path) -> None:
    # Level 3 compresses nearly as well as the default at a fraction of the time; pixels are what count.
    img.save(path, format="PNG", compress_level=3)


def _write_case(folder: Path, item: Item, rgb: np.ndarray, masks: list[np.ndarray]) -> None:
    out = folder / item.label
    _save_png(Image.fromarray(rgb, mode="RGB"), out / f"{item.stem}.png")
    for k, m in enumerate(masks):
        suffix = "_mask" if k == 0 else f"_mask_{k}"
        _save_png(_mask_png(m, item.mask_mode), out / f"{item.stem}{suffix}.png")


def _read_case(folder: Path, item: Item) -> tuple[np.ndarray, list[np.ndarray]]:
    base = folder / item.label
    rgb = np.asarray(Image.open(base / f"{item.stem}.png").convert("RGB"))
    masks = []
    for k in range(3):
        path = base / (f"{item.stem}_mask.png" if k == 0 else f"{item.stem}_mask_{k}.png")
        if path.exists():
            masks.append(np.asarray(Image.open(path).convert("L")) > 127)
    return rgb, masks


def _draw_original(config: SyntheticConfig, item: Item, folder: Path) -> tuple[int, dict[str, str | int]]:
    rgb, masks, facts = render_phantom(
        item.label, item_seed(config, item), config.size, colour=item.colour, annotate=item.annotate, site=config.site
    )
    _write_case(folder, item, rgb, masks)
    return item.index, facts


def _draw_copy(config: SyntheticConfig, item: Item, source: Item, folder: Path) -> tuple[int, str]:
    # Copies start from the original's written pixels, so an exact copy is exact in the files too.
    rgb, masks = _read_case(folder, source)
    out, outm, detail = planted_copy(np.random.default_rng(item_seed(config, item)), item.kind or "", rgb, masks)
    _write_case(folder, item, out, outm)
    return item.index, detail


def _run(fn: Callable[[_T], _R], tasks: list[_T], workers: int) -> list[_R]:
    """``[fn(t) for t in tasks]``, on ``workers`` threads when there are more than one."""
    if workers <= 1 or len(tasks) < 2:
        return [fn(t) for t in tasks]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="busbench-synthetic")
    try:
        return list(pool.map(fn, tasks))
    finally:
        # On an error or Ctrl-C, drop the images not started yet and wait for the ones being drawn, so that no
        # thread writes into the temporary folder after generate() has removed it.
        pool.shutdown(wait=True, cancel_futures=True)


def _default_workers() -> int:
    # Threads start in microseconds, so even small sets gain from a second one (small phantoms are drawn at 360 px
    # and shrunk, see render_phantom). The cap of four is the old process pool's: the Python-level parts of drawing
    # hold the GIL, so many more threads would mostly wait (untested beyond two cores).
    return max(1, min(4, os.cpu_count() or 1))


def generate(config: SyntheticConfig, out_dir: str | os.PathLike[str], *, workers: int | None = None) -> Path:
    """Generate a phantom set in the BUSI layout.

    Everything is written into a temporary folder beside ``out_dir`` and renamed at the end, so an interrupted
    run never leaves a half dataset.

    Args:
        config: What to generate.
        out_dir: Folder to create; it must not exist yet (or be empty). It will hold ``Dataset_BUSI_with_GT/``,
            ``duplicates.csv``, ``phantom_facts.csv`` and ``synthetic.json``.
        workers: Worker threads (``None``: one per CPU, at most four). The pixels do not depend on it.

    Returns:
        ``out_dir``.

    Raises:
        BusbenchError: If the configuration is out of range or ``out_dir`` already holds files.
    """
    check_config(config)
    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BusbenchError(target, "already exists and is not empty; the phantom set needs a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        folder = tmp / DATA_FOLDER
        for label in BUSI_CLASSES:
            (folder / label).mkdir(parents=True)
        items = plan(config)
        n_workers = _default_workers() if workers is None else max(1, workers)
        originals = [it for it in items if it.source is None]
        copies = [(it, items[it.source]) for it in items if it.source is not None]
        facts = dict(_run(lambda it: _draw_original(config, it, folder), originals, n_workers))
        # Copies read their originals' files, so they start once every original is written.
        details = dict(_run(lambda pair: _draw_copy(config, *pair, folder), copies, n_workers))
        _write_tables(tmp, items, facts, details)
        info = {
            "generator": "busbench-synthetic",
            "generator_version": GENERATOR_VERSION,
            "spec": synthetic_spec(config),
            "config": asdict(config),
            "class_counts": class_counts_for(config.n),
            "duplicates": len(copies),
        }
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_tables(root: Path, items: list[Item], facts: dict, details: dict) -> None:
    with open(root / DUPLICATES_FILE, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["case_a", "case_b", "kind", "label_a", "label_b", "detail"])
        for it in items:
            if it.source is not None:
                src = items[it.source]
                out.writerow([src.case_id, it.case_id, it.kind, src.label, it.label, details[it.index]])
    with open(root / FACTS_FILE, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["case_id", "label", "colour", "annotations", "n_lesions", "shape", "posterior", "duplicate_of"])
        for it in items:
            src = items[it.source] if it.source is not None else it
            fa = facts[src.index]
            dup_of = src.case_id if it.source is not None else ""
            row = [it.case_id, it.label, fa["colour"], fa["annotations"], fa["n_lesions"], fa["shape"], fa["posterior"]]
            out.writerow([*row, dup_of])
