"""Shared model blocks: the backbone catalogue, heads, partial fine-tuning, recipes, and plateau schedules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.metrics.classification import CLASSES
from benchmark.models.backbones import (
    BACKBONES,
    BackboneClassifier,
    FeatureExtractor,
    backbone,
    freeze_all_but_last,
    load_imagenet,
    local_weights,
    standard_classifier,
)
from benchmark.models.transfer import TransferSubmission, finetune_layers
from benchmark.plugins import ModelSpec, Submission
from benchmark.training.recipes import recipe_optimizers
from tests.helpers import TINY, write_tiny_split


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_catalogued_backbone_builds_both_heads(name):
    size = max(64, BACKBONES[name].min_size + 1)
    images = torch.rand(2, 3, size, size)
    trunk = FeatureExtractor(name)
    features = trunk(images)
    assert features.ndim == 4 and features.shape[1] == trunk.num_features
    assert BackboneClassifier(trunk, trunk.num_features, (16,), 0.5)(images).shape == (2, 3)
    assert standard_classifier(name, 0.3)(images).shape == (2, 3)


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(BusbenchError, match="unknown name 'vgg17'.*vgg16"):
        backbone("vgg17")


def test_head_layout_and_hidden_layers():
    trunk = nn.Conv2d(3, 8, 3)
    model = BackboneClassifier(trunk, 8, (32, 16), dropout=0.5)
    linears = [m for m in model.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 32), (32, 16), (16, 3)]
    assert model.hidden_layers() == linears[:2]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.head) == 2


def test_last_n_layers_fine_tuning_freezes_the_rest_and_keeps_frozen_batchnorm_in_eval():
    trunk = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))
    model = BackboneClassifier(trunk, 4, (8,))
    assert freeze_all_but_last(trunk, 2) == 4  # conv (weight, bias) and BN (weight, bias) of the last two layers
    assert [p.requires_grad for p in trunk.parameters()] == [False, False, False, False, True, True, True, True]
    assert all(p.requires_grad for p in model.head.parameters())
    model.train()
    assert not trunk[1].training and trunk[4].training and model.head.training


def test_finetune_values():
    assert finetune_layers("all") == 0 and finetune_layers("last4") == 4
    for bad in ("last0", "first4", "4"):
        with pytest.raises(BusbenchError, match="finetune"):
            finetune_layers(bad)


@pytest.mark.parametrize(("name", "library_model"), [
    ("alexnet", lambda: __import__("torchvision").models.alexnet(weights=None)),
    ("resnet34", lambda: __import__("timm").create_model("resnet34", pretrained=False)),
])
def test_imagenet_state_dicts_load_into_the_trunk_by_their_own_names(tmp_path, name, library_model):
    torch.manual_seed(1)
    imagenet = library_model()  # the 1000-class model as the library ships it
    path = tmp_path / "weights.pth"
    torch.save(imagenet.state_dict(), path)
    trunk = FeatureExtractor(name)
    load_imagenet(trunk.model, name, path)
    own = trunk.model.state_dict()
    shared = [k for k in own if k in imagenet.state_dict()]
    assert shared and all(torch.equal(own[k], imagenet.state_dict()[k]) for k in shared)


def test_missing_weights_fail_fast_offline(tmp_path, monkeypatch, no_network):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("vgg16", "resnet50"):
        with pytest.raises(BusbenchError, match="--no-pretrained"):
            local_weights("some_model", name, "")
    with pytest.raises(BusbenchError, match="not found"):
        local_weights("some_model", "vgg16", str(tmp_path / "absent.pth"))


def test_recipe_optimisers_and_schedules():
    model = nn.Linear(4, 3)
    opt, sched = recipe_optimizers(model, {"optimizer": "sgd", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.5},
                                   epochs=2, steps_per_epoch=3)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.5
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    opt, sched = recipe_optimizers(model, {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0,
                                           "schedule": "plateau", "plateau_patience": 2}, epochs=2, steps_per_epoch=3)
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["lr"] == 1e-4
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) and sched.mode == "max"
    assert recipe_optimizers(model, {"lr": 1e-3, "weight_decay": 0, "schedule": "constant"}, epochs=1,
                             steps_per_epoch=1)[1] is None
    with pytest.raises(BusbenchError, match="unknown 'rmsprop'"):
        recipe_optimizers(model, {"optimizer": "rmsprop", "lr": 1, "weight_decay": 0}, epochs=1, steps_per_epoch=1)
    with pytest.raises(BusbenchError, match="unknown 'step'"):
        recipe_optimizers(model, {"schedule": "step", "lr": 1, "weight_decay": 0}, epochs=1, steps_per_epoch=1)
    with pytest.raises(BusbenchError, match="L2 penalty needs adam or sgd"):
        recipe_optimizers(model, {"lr": 1, "weight_decay": 0}, epochs=1, steps_per_epoch=1, l2=0.01,
                          l2_params=[model.weight])


def test_keras_l2_penalty_equals_adding_c_times_squared_norm_to_the_loss():
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    hp = {"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "schedule": "constant"}
    opt_a, _ = recipe_optimizers(a, hp, epochs=1, steps_per_epoch=1, l2=0.01, l2_params=[a.weight])
    nn.functional.cross_entropy(a(x), y).backward()
    opt_a.step()
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    (nn.functional.cross_entropy(b(x), y) + 0.01 * b.weight.pow(2).sum()).backward()
    opt_b.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-7) and torch.allclose(a.bias, b.bias)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_adam_follows_torchs_reference_implementation(name):
    # The recipes use torch's fused kernel on CPU for speed; it must give the per-tensor loop's update.
    torch.manual_seed(0)
    a, b = nn.Linear(16, 3), nn.Linear(16, 3)
    b.load_state_dict(a.state_dict())
    hp = {"optimizer": name, "lr": 0.01, "weight_decay": 0.05, "schedule": "constant"}
    opt_a, _ = recipe_optimizers(a, hp, epochs=1, steps_per_epoch=1, l2=0.01 if name == "adam" else 0.0,
                                 l2_params=[a.weight])
    assert opt_a.defaults["fused"] is True
    reference = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    groups = [{"params": [b.bias], "weight_decay": 0.05},
              {"params": [b.weight], "weight_decay": 0.05 + (0.02 if name == "adam" else 0.0)}]
    opt_b = reference(groups, lr=0.01, foreach=False)
    for _ in range(5):
        x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6) and torch.allclose(a.bias, b.bias, atol=1e-6)


def test_the_default_recipe_is_fused_adamw():
    class Default(Submission):
        spec = ModelSpec(name="default_recipe_model", task="classification", input_size=32)

        def build_model(self) -> nn.Module:
            return nn.Linear(4, 3)

    sub = Default()
    opt, _ = sub.configure_optimizers(sub.build_model(), epochs=1, steps_per_epoch=1)
    assert type(opt) is torch.optim.AdamW and opt.defaults["fused"] is True


def test_frozen_layers_are_left_out_of_the_optimiser():
    trunk = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3))
    model = BackboneClassifier(trunk, 4, (8,))
    freeze_all_but_last(trunk, 1)
    opt, _ = recipe_optimizers(model, {"lr": 1e-3, "weight_decay": 0}, epochs=1, steps_per_epoch=1)
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(trunk[0].weight) not in held and id(trunk[1].weight) in held


class _Recording(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """A plateau schedule that remembers what the engine stepped it with."""

    seen: list[object] = []

    def step(self, metrics=None, *args, **kwargs):  # noqa: D102
        type(self).seen.append(metrics)
        return super().step(metrics, *args, **kwargs)


class _PlateauModel(Submission):
    spec = ModelSpec(name="plateau_test_model", task="classification", input_size=32, defaults={"epochs": 3})
    mode = "max"

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def configure_optimizers(self, model, *, epochs, steps_per_epoch):
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        return opt, _Recording(opt, mode=self.mode)


def _train_plateau(model: Submission, epochs: int, tmp_path) -> list[dict[str, float]]:
    """Train fold 0 of the tiny set with the engine's loop, in this process (the schedule's steps stay visible)."""
    from benchmark.engine.device import resolve_compute
    from benchmark.engine.loop import TrainSettings, train_fold
    from benchmark.engine.tensors import labelled
    from benchmark.splits.schema import read_split

    dataset, fold = open_dataset(TINY), read_split(write_tiny_split(tmp_path / "split.json")).folds[0]
    train, val = labelled(dataset, fold.train, 32, CLASSES), labelled(dataset, fold.val, 32, CLASSES)
    settings = TrainSettings(epochs, 16, 0, 0)
    return train_fold(model, train, val, settings, resolve_compute("cpu", "fp32", 1), tmp_path / "checkpoint.pt")[2]


def test_the_engine_steps_a_plateau_schedule_once_per_epoch_with_the_validation_score(tmp_path):
    _Recording.seen = []
    history = _train_plateau(_PlateauModel(), 3, tmp_path)
    assert _Recording.seen == [h["val_score"] for h in history] and len(history) == 3


class _MinPlateau(_PlateauModel):
    mode = "min"


def test_a_minimising_plateau_schedule_fails_the_fold_with_the_reason(tmp_path):
    from benchmark.engine.loop import PluginError

    with pytest.raises(PluginError, match="use mode='max'"):
        _train_plateau(_MinPlateau(), 1, tmp_path)


class _TinyTransfer(TransferSubmission):
    backbone_name = "mobilenet_v1"
    hidden = (8,)
    head_l2 = 0.01
    spec = ModelSpec(name="tiny_transfer_test", task="classification", in_channels=3, input_size=32,
                     mean=(0.5,) * 3, std=(0.25,) * 3,
                     defaults={"optimizer": "adam", "dropout": 0.5, "finetune": "last2", "pretrained": False,
                               "weights": ""})


def test_transfer_submission_builds_freezes_and_penalises_the_head():
    sub = _TinyTransfer()
    model = sub.build_model()
    trainable_trunk = [p for p in model.features.parameters() if p.requires_grad]
    assert 0 < len(trainable_trunk) <= 4
    opt, _ = sub.configure_optimizers(model, epochs=1, steps_per_epoch=1)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model.hidden_layers()[0].weight)] == pytest.approx(sub.hparams["weight_decay"] + 0.02)
    assert decays[id(model.head[-1].weight)] == pytest.approx(sub.hparams["weight_decay"])
