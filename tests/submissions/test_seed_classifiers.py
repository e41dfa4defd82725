"""The seed papers' classifiers (Baniadam Dizaj 2021, Dajam 2025, Li 2025): conformance, sizes, recipes, augmentation.

Reference numbers come from outside busbench: ImageNet parameter counts as torchvision / Keras publish them, the
recipes as the papers state them (line numbers of shared/seeds/00N_*.txt), Keras' affine transform as
``keras_preprocessing`` computes it with ``scipy.ndimage``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from benchmark.cli import main
from benchmark.plugins import TrainBatch, get
from benchmark.plugins.registry import discover
from benchmark.testing import CheckOptions, conformance_tests
from tests.helpers import WITHOUT_LEAKAGE_RUN, assert_same_data_hooks, write_tiny_split

PACKAGES = {"baniadam2021": ("vgg16", "resnet50", "densenet161", "alexnet"),
            "dajam2025": ("cnn", "vgg16", "inceptionv3", "mobilenet"),
            "li2025": ("deepcardinal50", "resnet34", "resnet50", "alexnet")}
NAMES = [f"{pkg}_{model}" for pkg, models in PACKAGES.items() for model in models]


def _options(*sizes: int) -> CheckOptions:
    return CheckOptions(sizes=sizes, batch=2)


#: Models whose leakage run is another model's of their family (the same hooks, another backbone), checked by
#: test_a_stand_in_runs_the_leakage_check_with_the_same_hooks.
LEAKAGE_STAND_IN = {"baniadam2021_vgg16": "baniadam2021_resnet50", "baniadam2021_densenet161": "baniadam2021_resnet50",
                    "baniadam2021_alexnet": "baniadam2021_resnet50", "dajam2025_vgg16": "dajam2025_mobilenet",
                    "dajam2025_inceptionv3": "dajam2025_mobilenet", "li2025_deepcardinal50": "li2025_resnet34",
                    "li2025_resnet50": "li2025_resnet34", "li2025_alexnet": "li2025_resnet34"}


def _suite(name: str, *sizes: int) -> Callable[[str], None]:
    return conformance_tests(name, options=_options(*sizes),
                             checks=WITHOUT_LEAKAGE_RUN if name in LEAKAGE_STAND_IN else None)


# AlexNet needs >= 63 px and InceptionV3 >= 75 px. DenseNet-161 runs its engine check at 64 px: at 32 px its last
# block sees 1x1 maps, and the engine's final batch of 2 images makes BatchNorm's gradient blow up under SGD.
test_conformance_baniadam2021_vgg16 = _suite("baniadam2021_vgg16", 32, 64)
test_conformance_baniadam2021_resnet50 = _suite("baniadam2021_resnet50", 32, 64)
test_conformance_baniadam2021_densenet161 = _suite("baniadam2021_densenet161", 64, 96)
test_conformance_baniadam2021_alexnet = _suite("baniadam2021_alexnet", 64, 80)
test_conformance_dajam2025_cnn = _suite("dajam2025_cnn", 32, 64)
test_conformance_dajam2025_vgg16 = _suite("dajam2025_vgg16", 32, 64)
test_conformance_dajam2025_inceptionv3 = _suite("dajam2025_inceptionv3", 80, 96)
test_conformance_dajam2025_mobilenet = _suite("dajam2025_mobilenet", 32, 64)
test_conformance_li2025_deepcardinal50 = _suite("li2025_deepcardinal50", 32, 64)
test_conformance_li2025_resnet34 = _suite("li2025_resnet34", 32, 64)
test_conformance_li2025_resnet50 = _suite("li2025_resnet50", 32, 64)
test_conformance_li2025_alexnet = _suite("li2025_alexnet", 64, 80)


@pytest.mark.parametrize("name", sorted(LEAKAGE_STAND_IN))
def test_a_stand_in_runs_the_leakage_check_with_the_same_hooks(name):
    assert_same_data_hooks(name, LEAKAGE_STAND_IN[name])


def test_every_model_registers_from_its_paper_package():
    discover()
    for pkg, models in PACKAGES.items():
        for model in models:
            cls = get(f"{pkg}_{model}")
            assert cls.__module__.startswith(f"busbench_submissions.{pkg}")
            assert cls.spec.notes and all(n.startswith(("paper: ", "choice: ")) for n in cls.spec.notes)
            assert "Table" in cls.spec.reference and cls.spec.task == "classification"
            assert any("pretrained: none" in n for n in cls.spec.notes) or cls.spec.pretrained is None


def _three_classes(imagenet_total: int, features: int) -> int:
    """An ImageNet model's parameter count with its 1000-way output layer replaced by a 3-way one."""
    return imagenet_total - (features * 1000 + 1000) + (features * 3 + 3)


# ImageNet parameter counts as published (torchvision's model docs; Keras' MobileNet trainable parameters; torchvision
# InceptionV3 less its auxiliary classifier, which Keras' model does not have), and the width before the output layer.
IMAGENET = {
    "vgg16": (138_357_544, 4096), "alexnet": (61_100_840, 4096), "densenet161": (28_681_000, 2208),
    "resnet34": (21_797_672, 512), "resnet50": (25_557_032, 2048), "resnext50_32x4d": (25_028_904, 2048),
    "inception_v3": (27_161_264 - 3_326_696, 2048), "mobilenet_v1": (4_231_976, 1024),
}


#: The dropout rate the papers put in both layers of the 4096-wide classifier of VGG16 and AlexNet.
CLASSIFIER_DROPOUT = {"baniadam2021_vgg16": 0.33, "baniadam2021_alexnet": 0.33, "li2025_alexnet": 0.5,
                      "dajam2025_vgg16": 0.5}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "dajam2025_cnn"])
def test_backbone_models_have_the_published_size_with_three_outputs(name):
    # (one build per model, checked for its size and, where the paper sets it, its classifier's dropout)
    cls = get(name)
    expected = _three_classes(*IMAGENET[cls.backbone_name])
    model = cls().build_model()
    assert sum(p.numel() for p in model.parameters()) == expected
    assert f"{expected / 1e6:.2f} M parameters" in cls.spec.description
    assert cls.spec.hparams()["pretrained"] is False  # nothing is downloaded by default
    if name in CLASSIFIER_DROPOUT:
        rates = [m.p for m in model.classifier if isinstance(m, nn.Dropout)]
        assert rates == [CLASSIFIER_DROPOUT[name]] * 2  # the two dropout layers of the 4096-wide classifier


def test_dajam_custom_cnn_is_the_keras_model_with_its_documented_size():
    # Keras, 224x224x3 input, 'valid' 3x3 convolutions and 2x2 pooling: 222-111-109-54-52-26, Flatten 26*26*128.
    conv = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (3 * 3 * 64 * 128 + 128)
    dense = (26 * 26 * 128 * 512 + 512) + (512 * 256 + 256) + (256 * 3 + 3)
    assert conv + dense == 44_528_195
    cls = get("dajam2025_cnn")
    model = cls().build_model()
    assert sum(p.numel() for p in model.parameters()) == conv + dense
    assert "44.53 M parameters" in cls.spec.description
    pool = next(m for m in model if isinstance(m, nn.AdaptiveAvgPool2d))
    seen = {}
    pool.register_forward_hook(lambda module, inputs, output: seen.update(inp=inputs[0], out=output))
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 224, 224))
        assert logits.shape == (1, 3)
        assert seen["inp"].shape == (1, 128, 26, 26) and torch.equal(seen["inp"], seen["out"])  # identity at 224 px
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 3)  # other sizes keep the same model
    linear = [m for m in model if isinstance(m, nn.Linear)]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linear)  # Keras initialises biases to zero
    assert [m.out_features for m in linear] == [512, 256, 3]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model) == 2


# The recipes as the papers state them (L = line of the seed file), with our documented choices where silent:
# optimiser, learning rate, SGD momentum, weight decay, per-epoch plateau (factor, patience) or None, batch, epochs.
SGD_BANIADAM = ("SGD", 1e-3, 0.9, 0.0, None, 16, 60)  # L167; momentum, batch, 60-of-60/100 epochs: choices
ADAM_DAJAM = ("Adam", 1e-3, None, 0.0, None, 4, 50)  # L259; lr is Keras' default
ADAM_LI = ("Adam", 1e-4, None, 0.0, (0.1, 10), 16, 100)  # L101
RECIPES = {**{n: SGD_BANIADAM for n in NAMES if n.startswith("baniadam")},
           **{n: ADAM_DAJAM for n in NAMES if n.startswith("dajam")},
           **{n: ADAM_LI for n in NAMES if n.startswith("li2025")}}


@pytest.mark.parametrize("name", NAMES)
def test_configure_optimizers_builds_the_papers_recipe(name):
    optimiser_name, lr, momentum, decay, plateau, batch, epochs = RECIPES[name]
    submission = get(name)()
    assert submission.hparams["batch_size"] == batch and submission.hparams["epochs"] == epochs
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))  # the recipe does not depend on the architecture
    optimiser, schedule = submission.configure_optimizers(model, epochs=epochs, steps_per_epoch=10)
    assert type(optimiser).__name__ == optimiser_name
    group = optimiser.param_groups[0]
    assert group["lr"] == lr and group["weight_decay"] == decay
    assert sum(len(g["params"]) for g in optimiser.param_groups) == 4
    if momentum is not None:
        assert group["momentum"] == momentum and not group["nesterov"]
    if plateau is None:
        assert schedule is None  # constant learning rate
    else:
        assert isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau)
        assert (schedule.factor, schedule.patience, schedule.mode) == (*plateau, "max")


def _images(n: int, side: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 6, 6, generator=g, dtype=torch.float64)
    return nn.functional.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)


def _keras_reference(image: np.ndarray, angle, shift_row, shift_col, shear, zoom_row, zoom_col, flip, brightness):
    """``keras_preprocessing``'s ``apply_affine_transform`` (order 1, 'nearest' fill), then flip and brightness."""
    h, w = image.shape
    t, s = np.deg2rad(angle), np.deg2rad(shear)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, shift_row * h], [0, 1, shift_col * w], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zoom_row, 0, 0], [0, zoom_col, 0], [0, 0, 1]])
    matrix = rotation @ shift @ shearing @ zoom
    o_r, o_c = h / 2 - 0.5, w / 2 - 0.5  # the true centre (keras_preprocessing writes + 0.5: one pixel off)
    to_centre, back = np.array([[1, 0, -o_r], [0, 1, -o_c], [0, 0, 1]]), np.array([[1, 0, o_r], [0, 1, o_c], [0, 0, 1]])
    matrix = back @ matrix @ to_centre
    out = ndimage.affine_transform(image, matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest")
    if flip:
        out = out[:, ::-1]
    return np.clip(out * brightness, 0, 1)


def test_dajam_augmentation_is_keras_image_data_generator_with_table_ii():
    discover()
    aug = sys.modules["busbench_submissions.dajam2025.augment"]
    d = aug.draw(4000, torch.Generator().manual_seed(0))
    # Table II (L239-L247) as Keras draws it
    for values, low, high in [(d.angle, -5, 5), (d.shift_row, -0.1, 0.1), (d.shift_col, -0.1, 0.1),
                              (d.shear, -0.05, 0.05), (d.zoom_row, 0.95, 1.05), (d.zoom_col, 0.95, 1.05),
                              (d.brightness, 1.0, 1.4)]:
        assert low <= float(values.min()) < low + 0.01 * (high - low)
        assert high - 0.01 * (high - low) < float(values.max()) <= high
    assert 0.45 < float(d.flip.double().mean()) < 0.55
    images = _images(6, 40, seed=1)
    masks = (images > 0.5).double()
    batch = TrainBatch(images, torch.zeros(6, dtype=torch.long), masks)
    out = aug.keras_augment(batch, torch.Generator().manual_seed(7))
    d = aug.draw(6, torch.Generator().manual_seed(7))
    fields = ("angle", "shift_row", "shift_col", "shear", "zoom_row", "zoom_col")
    for i in range(6):
        params = [float(getattr(d, f)[i]) for f in fields]
        expected = _keras_reference(images[i, 0].numpy(), *params, bool(d.flip[i]), float(d.brightness[i]))
        np.testing.assert_allclose(out.images[i, 0].numpy(), expected, atol=1e-9)
    assert set(torch.unique(out.masks).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(("pkg", "scale"), [("baniadam2021", (0.5, 2.0)), ("li2025", None)])
def test_paper_augmentations_draw_the_stated_transforms(pkg, scale):
    discover()
    aug = sys.modules[f"busbench_submissions.{pkg}.augment"]
    d = aug.draw(4000, torch.Generator().manual_seed(0))
    if scale is not None:  # "randomized scale of input images (from 0.5 to 2.0)" (Baniadam L83)
        assert scale[0] <= float(d.scale.min()) < 0.52 and 1.98 < float(d.scale.max()) <= scale[1]
    flips = [d.flip] if pkg == "baniadam2021" else [d.hflip, d.vflip]  # Li L67 flips both ways
    assert all(0.45 < float(f.float().mean()) < 0.55 for f in flips)
    assert 0.45 < float((d.sigma > 0).float().mean()) < 0.55  # Gaussian blur (Baniadam L85, Li L67) on half
    # a flat image stays flat under blur, and the blur keeps the mean of any image away from the borders
    flat = torch.full((1, 1, 16, 16), 0.3)  # the paper modules use benchmark.models.augment's batch blur
    assert torch.allclose(aug.gaussian_blur(flat, torch.tensor([1.5])), flat)
    images = _images(8, 48, seed=2).float()
    out = aug.paper_augment(TrainBatch(images, torch.zeros(8, dtype=torch.long), None),
                            torch.Generator().manual_seed(3))
    assert out.images.shape == images.shape and 0 <= float(out.images.min()) and float(out.images.max()) <= 1
    assert not torch.equal(out.images, images)


TINY = "synthetic:n=45,seed=4,size=48"


@pytest.mark.slow
def test_dajam_cnn_runs_one_epoch_through_busbench_run(tmp_path, capsys):
    split = tmp_path / "split.json"
    write_tiny_split(split, TINY)
    code = main(["run", "dajam2025_cnn", "--dataset", TINY, "--splits", str(split), "--epochs", "1", "--image-size",
                 "32", "--folds", "0", "--precision", "fp32", "--threads", "1", "--out", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    run_dir = next((tmp_path / "runs").glob("dajam2025_cnn-*"))
    run = json.loads((run_dir / "run.json").read_text())
    assert run["params"] == 44_528_195 and run["image_size"] == 32
    assert run["hparams"]["batch_size"] == 4 and run["hparams"]["optimizer"] == "adam"
    assert any("Table II" in n for n in run["submission"]["notes"])
    rows = (run_dir / "fold-0" / "predictions.csv").read_text().strip().splitlines()
    assert len(rows) > 1
