"""Every seed-paper submission trains and scores through ``busbench run`` (one fold, one epoch, synthetic data).

The conformance suites (tests/test_seed_*.py) check each plugin's contract; this checks what a user does with
it: the real runner on the synthetic default, with the submission's own defaults (recipe, augmentation, head),
writing predictions the evaluator scores. Only the input side, the epoch count and the data are tiny, and a batch
of 16 holds the whole training part (one optimiser step an epoch: the step of a 134 M-parameter VGG head costs more
than its forward and backward passes at 32 px).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.engine.runner import RunRequest, run_submission
from benchmark.models.backbones import BACKBONES
from benchmark.plugins import get, list_models
from tests.helpers import write_tiny_split

TINY = "synthetic:n=30,seed=7,size=48"
SEED_SUBMISSIONS = list_models("*20??_*")


def _side(name: str) -> int:
    """The smallest convenient input side: 32 px, or what the backbone needs (DenseNet-161's last block needs more
    than 1x1 maps for BatchNorm with a batch of two)."""
    backbone = getattr(get(name), "backbone_name", None)
    if backbone == "densenet161":
        return 64
    return max(32, BACKBONES[backbone].min_size + 5) if backbone else 32


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Its own smaller dataset and validation fraction, unlike the shared ``tiny_split`` fixture of conftest.py.
    return write_tiny_split(tmp_path_factory.mktemp("split") / "tiny.json", TINY, val_fraction=0.3)


def test_all_five_papers_are_covered():
    papers = {name.split("_")[0] for name in SEED_SUBMISSIONS}
    assert papers == {"cheyi2024", "baniadam2021", "dajam2025", "li2025", "munukurthi2024"}
    assert len(SEED_SUBMISSIONS) == 29


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_SUBMISSIONS)
def test_seed_submission_runs_one_fold(name, tiny_split, tmp_path):
    outcome = run_submission(RunRequest(name, TINY, tiny_split, folds=(0,), epochs=1, image_size=_side(name),
                                        hparams={"batch_size": 16}, precision="fp32", threads=1, out=tmp_path))
    assert outcome.status == "partial" and not outcome.failed, outcome.failed
    fold = json.loads((outcome.run_dir / "fold-0" / "result.json").read_text())
    assert fold["status"] == "completed" and len(fold["history"]) == 1
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["pretrained"] is False and run["submission"]["name"] == name
    written = "predictions.csv" if get(name).spec.task == "classification" else "masks.npz"
    assert (outcome.run_dir / "fold-0" / written).is_file()
