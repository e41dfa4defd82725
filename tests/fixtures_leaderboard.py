"""A small results folder for the leaderboard tests: real splits and real scoring on a 30-image synthetic set.

Runs (all on one duplicate-grouped 3-fold split unless said otherwise), each written as the engine writes a run
folder, its ``metrics.json`` from ``benchmark.evaluation.score.score_predictions``:

* ``good``: classification, clean, near-correct probabilities; submission ``cheyi2024_cnn`` (so the Published page
  has our number for it); Grad-CAM index with one real PNG and one entry pointing outside its folder.
* ``weak``: classification, clean, random probabilities.
* ``naive``: classification, protocol ``naive-split`` (leaky).
* ``hostile``: classification, clean, submission name and description made of HTML and Markdown.
* ``failed``: classification, failed with an error that holds HTML.
* ``seg``: segmentation, clean, masks close to the reference.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from benchmark.data.open import open_dataset
from benchmark.evaluation.score import score_predictions
from benchmark.results.rundir import file_sha256, write_class_predictions, write_masks
from benchmark.splits.make import make_split
from benchmark.splits.verify import load_split
from tests.helpers import write_png

SPEC = "synthetic:n=30,size=48"
HOSTILE_NAME = '<img src=x onerror="alert(1)">'
HOSTILE_TEXT = "[click me](javascript:alert(2)) **bold** <script>alert(3)</script> ![i](http://example.invalid/x.png)"
FAILED_ERROR = "RuntimeError: <b>CUDA</b> out of memory"
RUN_IDS = {"good": "cheyi2024_cnn-aaaa00000001", "weak": "small_cnn-aaaa00000002", "naive": "small_cnn-naive-aaaa03",
           "hostile": "hostile-aaaa00000004", "failed": "small_cnn-aaaa00000005", "seg": "unet-aaaa00000006"}


def _run_doc(run_id: str, name: str, task: str, split_path: Path, fingerprint: str, *, protocol: str = "clean",
             status: str = "completed", description: str = "a test model", created: str = "2026-01-01T00:00:00+00:00",
             error: str | None = None) -> dict:
    return {
        "run_id": run_id, "kind": "trained", "created": created, "task": task,
        "submission": {"name": name, "task": task, "description": description, "reference": "", "notes": []},
        "hparams": {"lr": 0.001}, "image_size": 32, "epochs": 1, "seed": 0, "tuned": False, "pretrained": False,
        "dataset": {"name": SPEC, "fingerprint": fingerprint, "spec": SPEC},
        "split": {"path": str(split_path), "sha256": file_sha256(split_path), "k": 3, "group": "duplicates",
                  "protocol": protocol},
        "folds": {str(k): {"seconds": 1.5 + k, "best_epoch": 1, "memory": {"host_mib": 500.0 + k, "host_since": "fold"}}
                  for k in range(3)} if status != "failed" else {},
        "status": status, "compute": {"device": "cpu", "device_name": "test cpu", "precision": "fp32", "threads": 1},
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "versions": {"python": "3.11", "busbench": "0.1.0", "torch": "2.13.0"}, "params": 1234,
        "errors": {"0": error} if error else {}, "finished": created,
    }


def _class_run(folder: Path, doc: dict, split, dataset, probs_of) -> None:
    folder.mkdir(parents=True)
    preds = {}
    for k, fold in enumerate(split.folds):
        rows = [(c, k, probs_of(c)) for c in fold.test]
        write_class_predictions(folder / f"fold-{k}" / "predictions.csv", rows, split.classes)
        preds.update({c: (k, p) for c, _, p in rows})
    metrics = score_predictions("classification", split, dataset, preds, folds=list(range(split.k)))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(json.dumps(doc))


def _seg_run(folder: Path, doc: dict, split, dataset, mask_of) -> None:
    preds = {}
    for k, fold in enumerate(split.folds):
        masks = {c: mask_of(c) for c in fold.test}
        write_masks(folder / f"fold-{k}" / "masks.npz", masks)
        preds.update({c: (k, m) for c, m in masks.items()})
    metrics = score_predictions("segmentation", split, dataset, preds, folds=list(range(split.k)))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(json.dumps(doc))


def build(root: Path) -> Path:
    """Write the runs under ``root/runs`` (see module docstring) and return that folder."""
    dataset = open_dataset(SPEC)
    split = make_split(dataset, k=3, seed=0, group="duplicates", val_fraction=0.5)
    split_path = root / "split.json"
    split.save(split_path)
    runs = root / "runs"
    fp = dataset.fingerprint()
    rng = np.random.default_rng(0)
    classes = list(dataset.classes)

    def near(case_id: str) -> np.ndarray:
        p = np.full(3, 0.1)
        p[classes.index(dataset.case(case_id).label)] = 0.8
        return rng.dirichlet(p * 20)

    def noise(_case_id: str) -> np.ndarray:
        return rng.dirichlet([1.0, 1.0, 1.0])

    for key, name, probs, extra in (
        ("good", "cheyi2024_cnn", near, {}),
        ("weak", "small_cnn", noise, {"created": "2026-01-02T00:00:00+00:00"}),
        ("naive", "small_cnn", near, {"protocol": "naive-split"}),
        ("hostile", HOSTILE_NAME, noise, {"description": HOSTILE_TEXT}),
    ):
        doc = _run_doc(RUN_IDS[key], name, "classification", split_path, fp, **extra)
        _class_run(runs / RUN_IDS[key], doc, split, dataset, probs)

    failed = runs / RUN_IDS["failed"]
    failed.mkdir(parents=True)
    (failed / "run.json").write_text(json.dumps(_run_doc(RUN_IDS["failed"], "small_cnn", "classification", split_path,
                                                         fp, status="failed", error=FAILED_ERROR)))

    seg = runs / RUN_IDS["seg"]

    def shifted_reference(case_id: str) -> np.ndarray:
        rgb, ref = dataset.decode(dataset.case(case_id))
        ref = np.zeros(rgb.shape[:2], bool) if ref is None else ref
        return np.roll(ref, int(rng.integers(0, 4)), axis=1)

    _seg_run(seg, _run_doc(RUN_IDS["seg"], "unet", "segmentation", split_path, fp), split, dataset, shifted_reference)
    shutil.copy(split_path, seg / "split.json")  # a split file beside a run, as published runs have

    cam = runs / RUN_IDS["good"] / "gradcam"
    case = split.folds[0].test[0]
    write_png(cam / f"{case}.png", np.full((16, 16, 3), 200, np.uint8))
    (cam / "index.json").write_text(json.dumps({"cases": {
        case: {"png": f"{case}.png", "fold": 0, "true_label": "benign", "predicted_class": "benign",
               "class_explained": "benign"},
        "escape": {"png": "../../run.json", "fold": 0}}}))
    return runs


def extra_class_run(runs: Path, store: Path, run_id: str, name: str, probs_of) -> None:
    """Write one more clean classification run on the fixture's data and split (``runs``: what :func:`build` made)
    into ``store``, really scored; ``probs_of(case_id)`` gives each case's probabilities."""
    dataset = open_dataset(SPEC)
    split_path = runs.parent / "split.json"
    split = load_split(split_path, dataset)
    _class_run(store / run_id, _run_doc(run_id, name, "classification", split_path, dataset.fingerprint()), split,
               dataset, probs_of)


def extra_seg_run(runs: Path, store: Path, run_id: str, name: str, mask_of) -> None:
    """Like :func:`extra_class_run`, for segmentation: ``mask_of(case_id)`` gives each case's predicted mask."""
    dataset = open_dataset(SPEC)
    split_path = runs.parent / "split.json"
    split = load_split(split_path, dataset)
    _seg_run(store / run_id, _run_doc(run_id, name, "segmentation", split_path, dataset.fingerprint()), split,
             dataset, mask_of)
