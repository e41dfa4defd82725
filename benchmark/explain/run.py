"""Grad-CAM pictures of chosen cases of a finished classification run (``busbench explain``).

Each case is explained by the model of the fold whose *test* part holds it, so the map comes from a model that never
trained on (or selected its epoch with) that case, the same model that made the case's out-of-fold prediction. The
run's data and split are found and checked as every reader of a stored run finds them
(:mod:`benchmark.evaluation.stored_run`). Everything is checked before anything is written; the pictures and
``index.json`` are written atomically and the index is merged with an existing one, so repeated calls accumulate
cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.engine.tensors import images_only, to_model_input
from benchmark.errors import BusbenchError, list_some
from benchmark.evaluation.stored_run import find_split_file, run_dataset
from benchmark.explain.gradcam import grad_cam, layer_name, submission_score, target_layer_for
from benchmark.explain.render import png_bytes, side_by_side
from benchmark.fileio import atomic_write_bytes, atomic_write_json, read_json
from benchmark.plugins import registry
from benchmark.plugins.submission import Submission
from benchmark.results.rundir import RunDir
from benchmark.splits.schema import SplitFile
from benchmark.splits.verify import load_split

INDEX_NAME = "index.json"


@dataclass(frozen=True)
class ExplainRequest:
    """What ``busbench explain`` was asked.

    Attributes:
        run_dir: The run folder (``run.json`` and ``fold-K/model.pt``).
        cases: Case ids, in order, without duplicates.
        dataset: Where the run's data is now (default: the spec its ``run.json`` records).
        explain_class: ``predicted``, ``true`` or a class name of the run's model.
        out: Output folder (default ``<run_dir>/gradcam``).
    """

    run_dir: Path
    cases: Sequence[str]
    dataset: str | None = None
    explain_class: str = "predicted"
    out: Path | None = None


@dataclass(frozen=True)
class ExplainOutcome:
    """The index written and each requested case's entry in it, in the order asked."""

    index_path: Path
    entries: dict[str, dict[str, Any]]


def fold_of_cases(split: SplitFile, case_ids: Sequence[str], where: str) -> dict[str, int]:
    """The fold whose test part holds each case.

    Raises:
        BusbenchError: If a case is in no fold's test part.
    """
    owner = {cid: k for k, fold in enumerate(split.folds) for cid in fold.test}
    missing = [cid for cid in case_ids if cid not in owner]
    if missing:
        raise BusbenchError(where, f"case(s) in no fold's test part: {list_some(missing)}")
    return {cid: owner[cid] for cid in case_ids}


def png_name(case_id: str) -> str:
    """File name of a case's picture: ``<case_id>.png``, characters unsafe in file names replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", case_id) + ".png"


def _read_run(rd: RunDir) -> dict[str, Any]:
    if not rd.path.is_dir():
        raise BusbenchError(rd.path, "is not a folder (give a run folder written by 'busbench run')")
    run = rd.read_run()
    if run is None:
        raise BusbenchError(rd.run_json, "not found; RUN_DIR is not a run folder written by 'busbench run'")
    if run.get("task") != "classification":
        raise BusbenchError(rd.path, f"is a {run.get('task')} run; Grad-CAM explains classification runs only")
    if run.get("kind") not in ("trained", "tuned"):
        raise BusbenchError(rd.path, f"is a {run.get('kind')!r} run, not one trained by 'busbench run' or "
                            "'busbench tune'; it has no models to explain")
    return run


def _fold_hparams(rd: RunDir, run: Mapping[str, Any], k: int) -> dict[str, Any]:
    # A tuned run trained each fold with its own study's best parameters (even the architecture, e.g. a width).
    if run["kind"] != "tuned":
        return dict(run["hparams"])
    result = rd.fold_result(k) or {}
    if not isinstance(result.get("hparams"), dict):
        raise BusbenchError(rd.fold_dir(k) / "result.json", "has no 'hparams': not a completed fold of a tuned run")
    return dict(result["hparams"])


def rerun_command(run: Mapping[str, Any], out: str = "<fresh folder>") -> str:
    """The ``busbench run`` command that reproduces a run (same identity, so the same numbers), into ``out``."""
    sets = [f"--set {k}={json.dumps(v)}" for k, v in run["hparams"].items()
            if k != "epochs" and run["submission"].get("defaults", {}).get(k) != v]
    compute = run.get("compute", {})
    parts = ["busbench run", run["submission"]["name"], "--dataset", str(run["dataset"]["spec"]), "--splits",
             str(run["split"]["path"]), "--image-size", str(run["image_size"]), "--epochs", str(run["epochs"]),
             "--seed", str(run.get("seed", 0)), *sets]
    if compute.get("device"):
        parts += ["--device", str(compute["device"]).split(":")[0]]
    if compute.get("precision"):
        parts += ["--precision", str(compute["precision"])]
    return " ".join([*parts, "--out", out])


def _read_index(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"cases": {}}
    index = read_json(path, invalid="is not valid JSON; move it away to start a new index")
    if not isinstance(index, dict) or not isinstance(index.get("cases"), dict):
        raise BusbenchError(path, "is not a busbench explain index (no 'cases' object); move it away")
    return index


def _load_model(submission: Submission, weights: Path) -> torch.nn.Module:
    model = submission.build_model()
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BusbenchError(weights, f"does not fit the model {submission.spec.name!r} builds now ({first})") from exc
    return model.eval()


def explain_fold(submission: Submission, model: torch.nn.Module, grey: torch.Tensor, labels: Sequence[str],
                 choice: str) -> tuple[Any, torch.Tensor, torch.Tensor, str]:
    """Maps, probabilities and explained classes of one fold's cases.

    Args:
        submission: The run's submission, its head over the run's classes (``submission.classes``).
        model: The fold's model (eval mode, on the CPU).
        grey: uint8 (N, 1, S, S) images as the engine loads them.
        labels: The cases' true labels.
        choice: ``predicted``, ``true`` or a class name.

    Returns:
        ``(maps (N, S, S) in [0, 1], probabilities (N, num_classes), explained class indices (N,), target layer
        name)``.

    Raises:
        BusbenchError: If ``choice`` names a class the run's model has no output for.
    """
    if choice not in ("predicted", "true") and choice not in submission.classes:
        raise BusbenchError("--class", f"{choice!r} is not a class of this run's model "
                                       f"({', '.join(submission.classes)})")
    x = to_model_input(grey.float().div(255), submission.spec)
    with torch.no_grad():
        probs = submission.predict(model(x)).float()
    if choice == "predicted":
        classes = probs.argmax(dim=1)
    elif choice == "true":
        classes = torch.tensor([submission.classes.index(label) for label in labels])
    else:
        classes = torch.full((len(labels),), submission.classes.index(choice))
    try:
        layer = target_layer_for(submission, model, x[:1])
    except ValueError as exc:
        raise BusbenchError(f"model {submission.spec.name!r}", f"{exc}; define cam_layer(self, model)") from exc
    maps = grad_cam(model, x, layer, classes, submission_score(submission))
    return maps, probs, classes, layer_name(model, layer)


def explain_run(req: ExplainRequest) -> ExplainOutcome:
    """Write each case's picture and its ``index.json`` entry (see module docstring).

    Raises:
        BusbenchError: On bad input (no classification run, unknown cases, other data or split than the run's,
            missing weights, a class the model has no output for), before anything is written.
    """
    rd = RunDir(req.run_dir)
    run = _read_run(rd)
    case_ids = list(req.cases)
    out = req.out if req.out is not None else rd.path / "gradcam"
    index_path = out / INDEX_NAME
    index = _read_index(index_path)
    dataset = run_dataset(rd.path, run, req.dataset)
    unknown = [cid for cid in case_ids if cid not in {c.case_id for c in dataset.cases}]
    if unknown:
        raise BusbenchError("--cases", f"unknown case id(s) in {dataset.name}: {list_some(unknown)}")
    split_path = find_split_file(rd.path, run)
    split = load_split(split_path, dataset)
    folds = fold_of_cases(split, case_ids, str(split_path))
    for k in sorted(set(folds.values())):
        if not (rd.fold_dir(k) / "model.pt").is_file():
            how = (f"the same 'busbench run' command with a fresh --out, which keeps fold-K/model.pt: "
                   f"'{rerun_command(run)}'" if run["kind"] == "trained" else
                   "the same 'busbench tune' command with a fresh --out (it keeps fold-K/model.pt)")
            raise BusbenchError(
                rd.fold_dir(k) / "model.pt",
                f"not found: the weights of fold {k} are not in this folder (they are never committed); regenerate "
                f"them by re-running {how}, then explain the run folder it prints")
    cls = registry.get(run["submission"]["name"])
    if cls.spec.task != "classification":
        raise BusbenchError(f"model {cls.spec.name!r}", "is not a classification model")
    size = int(run["image_size"])
    entries: dict[str, dict[str, Any]] = {}
    pictures: dict[str, bytes] = {}
    for k in sorted(set(folds.values())):
        ids = [cid for cid in case_ids if folds[cid] == k]
        labels = [dataset.case(cid).label for cid in ids]
        grey = images_only(dataset, ids, size)
        submission = cls(_fold_hparams(rd, run, k), classes=split.classes)
        model = _load_model(submission, rd.fold_dir(k) / "model.pt")
        maps, probs, classes, layer = explain_fold(submission, model, grey, labels, req.explain_class)
        for i, cid in enumerate(ids):
            name = png_name(cid)
            pictures[name] = png_bytes(side_by_side(grey[i, 0].numpy(), maps[i]))
            entries[cid] = {
                "png": name, "fold": k, "class_explained": submission.classes[int(classes[i])],
                "class_choice": req.explain_class, "predicted_class": submission.classes[int(probs[i].argmax())],
                "probabilities": {c: float(p) for c, p in zip(submission.classes, probs[i].tolist(), strict=True)},
                "true_label": labels[i], "target_layer": layer, "run_id": run["run_id"],
                "submission": cls.spec.name, "image_size": size, "method": "grad-cam",
            }
    for name, data in pictures.items():
        atomic_write_bytes(out / name, data)
    index["cases"].update(entries)
    atomic_write_json(index_path, index)
    return ExplainOutcome(index_path, {cid: entries[cid] for cid in case_ids})
