"""The baseline submissions: registration, shapes, parameter counts, loss/backward, and offline pretrained weights."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from benchmark.compat import ensure_torchvision_importable
from benchmark.errors import BusbenchError
from benchmark.plugins import TrainBatch, create, get, list_models, load_errors
from benchmark.plugins.registry import submission_folders
from benchmark.pretrained import adapt_input_conv, load_backbone, read_state_dict
from tests.helpers import pretrained_refusal

ensure_torchvision_importable()  # timm/smp import torchvision, which needs this next to a CPU torch
import huggingface_hub.constants  # noqa: E402
import segmentation_models_pytorch as smp  # noqa: E402
import timm  # noqa: E402
import torchvision  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OURS = {"small_cnn": "small_cnn", "resnet18": "timm_baselines", "efficientnet_b0": "timm_baselines",
        "unet_resnet18": "smp_unet"}
CLASSIFIERS = ["small_cnn", "resnet18", "efficientnet_b0"]
PRETRAINABLE = ["resnet18", "efficientnet_b0", "unet_resnet18"]
#: Every test here runs with sockets that refuse to connect, and fails if anything tried.
pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Point the Hugging Face hub cache and the torch hub folder at empty folders; return (hf_cache, torch_home)."""
    hf_cache, torch_home = tmp_path / "hf", tmp_path / "torch"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    assert Path(torch.hub.get_dir()) == torch_home / "hub"  # nothing set the hub folder explicitly
    return hf_cache, torch_home


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def reference_state(name: str) -> dict[str, torch.Tensor]:
    """A 'pretrained' state dict for the model's backbone, built independently with a fixed seed."""
    torch.manual_seed(123)
    if name == "unet_resnet18":  # torchvision's own ResNet-18: the key layout ImageNet checkpoints use
        return torchvision.models.resnet18().state_dict()
    return timm.create_model(name).state_dict()  # 1000-class ImageNet head


def backbone_of(model: torch.nn.Module, name: str) -> torch.nn.Module:
    return model.unet.encoder if name == "unet_resnet18" else model


def assert_loaded(model: torch.nn.Module, name: str, state: dict[str, torch.Tensor]) -> None:
    """Every file tensor that fits the model was copied; the 1000-class head was not."""
    own = backbone_of(model, name).state_dict()
    head = "fc." if name in ("resnet18", "unet_resnet18") else "classifier."
    body = [k for k in state if not k.startswith(head)]
    assert body and all(torch.equal(own[k], state[k]) for k in body)
    assert all(k not in own or own[k].shape != state[k].shape for k in state if k.startswith(head))


def test_baselines_register_through_default_folder_discovery(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BUSBENCH_SUBMISSIONS", raising=False)
    assert (REPO / "submissions").resolve() in [f.resolve() for f in submission_folders()]
    assert set(OURS) <= set(list_models())
    assert not [where for where in load_errors() if Path(where).name in set(OURS.values())]
    for name, package in OURS.items():
        assert get(name).__module__ == f"busbench_submissions.{package}"
    assert list_models("*resnet18") == ["resnet18", "unet_resnet18"]
    assert "unet_resnet18" in list_models(task="segmentation")
    assert not set(CLASSIFIERS) & set(list_models(task="segmentation"))


@pytest.mark.parametrize("name", list(OURS))
def test_spec_metadata_is_complete(name: str):
    spec = get(name).spec
    assert spec.authors and spec.description and spec.licence and spec.notes
    assert spec.in_channels == len(spec.mean) or len(spec.mean) == 1
    json.dumps(spec.to_json())  # recorded in run.json
    if name in PRETRAINABLE:
        assert spec.in_channels == 3 and spec.mean == (0.485, 0.456, 0.406)
        assert spec.pretrained and "imagenet" in spec.pretrained and "arXiv:" in spec.reference
        assert spec.hparams()["pretrained"] is False and spec.hparams()["weights"] == ""
    else:
        assert spec.in_channels == 1 and spec.pretrained is None
    assert spec.input_size == {"small_cnn": 128, "unet_resnet18": 256}.get(name, 224)


@pytest.mark.parametrize("name", list(OURS))
def test_parameter_count_matches_the_description(name: str):
    documented = float(re.search(r"(\d+\.\d+) M parameters", get(name).spec.description).group(1))
    assert round(n_params(create(name).build_model()) / 1e6, 2) == documented


# 48 is not a multiple of 32: the U-Net pads the input and crops the logits back.
@pytest.mark.parametrize(("name", "size"), [*((name, 32) for name in OURS), ("unet_resnet18", 48)])
def test_forward_loss_backward_predict(name: str, size: int):
    torch.manual_seed(0)
    sub = create(name)
    model = sub.build_model().train()
    channels = sub.spec.in_channels
    images = torch.randn(2, channels, size, size)
    masks = (torch.rand(2, 1, size, size) > 0.7).float()
    outputs = model(images)
    expected = (2, 3) if name in CLASSIFIERS else (2, 1, size, size)
    assert tuple(outputs.shape) == expected
    loss = sub.loss(outputs, TrainBatch(images=images, labels=torch.tensor([0, 2]), masks=masks))
    assert loss.ndim == 0 and math.isfinite(loss.item())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        probs = sub.predict(model.eval()(images))
    if name in CLASSIFIERS:
        assert torch.allclose(probs.sum(dim=1), torch.ones(2), atol=1e-5)
    else:
        assert tuple(probs.shape) == expected and bool(((probs >= 0) & (probs <= 1)).all())


def test_small_cnn_hyper_parameters_shape_the_model():
    narrow, wide = (create("small_cnn", {"width": w}).build_model() for w in (0.5, 1.5))
    assert n_params(narrow) < n_params(create("small_cnn").build_model()) < n_params(wide)
    model = create("small_cnn", {"dropout": 0.1}).build_model()
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.1]
    assert 100_000 <= n_params(create("small_cnn").build_model()) <= 300_000


def test_registry_creates_with_hyper_parameters():
    sub = create("resnet18", {"pretrained": False, "lr": 3e-4})
    assert sub.hparams["lr"] == 3e-4 and sub.hparams["pretrained"] is False and sub.hparams["epochs"] == 30
    with pytest.raises(BusbenchError, match="unknown hyper-parameter"):
        create("resnet18", {"pretrianed": True})


@pytest.mark.parametrize("name", PRETRAINABLE)
def test_pretrained_without_local_weights_fails_fast_and_offline(name: str, empty_caches: tuple[Path, Path]):
    assert str(empty_caches[0]) in pretrained_refusal(name)  # says where it looked


@pytest.mark.parametrize("name", PRETRAINABLE)
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_is_loaded(name: str, suffix: str, tmp_path: Path, empty_caches: tuple[Path, Path]):
    state = reference_state(name)
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    # A given file is loaded whether or not pretrained is set (documented in the spec notes).
    for hparams in ({"pretrained": True, "weights": str(path)}, {"weights": str(path)}):
        model = create(name, hparams).build_model()
        assert_loaded(model, name, state)
    assert tuple(model(torch.randn(2, 3, 32, 32)).shape) in ((2, 3), (2, 1, 32, 32))


@pytest.mark.parametrize(
    ("name", "where"),
    [("resnet18", "hf"), ("resnet18", "torch_hub"), ("efficientnet_b0", "hf"), ("unet_resnet18", "hf")],
)
def test_weights_found_in_local_caches(name: str, where: str, empty_caches: tuple[Path, Path]):
    hf_cache, torch_home = empty_caches
    if name == "unet_resnet18":
        torch.manual_seed(123)  # smp-hub files hold the encoder's own state dict, pinned to a commit
        state = smp.encoders.get_encoder("resnet18", weights=None).state_dict()
        repo = "smp-hub/resnet18.imagenet"
        commit = smp.encoders.encoders["resnet18"]["pretrained_settings"]["imagenet"]["revision"]
    else:
        state = reference_state(name)
        cfg = timm.models.get_pretrained_cfg(get(name).timm_name)
        repo, commit = cfg.hf_hub_id, "0123abcd"
    if where == "hf":  # the hub cache layout: refs/main names the snapshot commit
        folder = hf_cache / f"models--{repo.replace('/', '--')}"
        (folder / "snapshots" / commit).mkdir(parents=True)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(commit)
        save_file(state, str(folder / "snapshots" / commit / "model.safetensors"))
    else:
        checkpoints = torch_home / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        torch.save(state, checkpoints / Path(cfg.url).name)
    assert_loaded(create(name, {"pretrained": True}).build_model(), name, state)


def test_unfitting_missing_and_corrupt_weights_name_the_file(tmp_path: Path):
    other = tmp_path / "effnet.pth"
    torch.save(timm.create_model("efficientnet_b0").state_dict(), other)
    with pytest.raises(BusbenchError, match=r"effnet\.pth: does not fit ResNet: .*missing"):
        create("resnet18", {"weights": str(other)}).build_model()
    absent = tmp_path / "absent.pth"
    with pytest.raises(BusbenchError, match=r"absent\.pth: weights file for model 'unet_resnet18' not found"):
        create("unet_resnet18", {"pretrained": True, "weights": str(absent)}).build_model()
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a weights file")
    with pytest.raises(BusbenchError, match=r"corrupt\.safetensors: cannot read weights"):
        read_state_dict(corrupt)
    wrapped = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {"module.w": torch.ones(2)}}, wrapped)
    assert list(read_state_dict(wrapped)) == ["w"]


def test_first_conv_is_adapted_to_grey_input(tmp_path: Path):
    torch.manual_seed(1)
    rgb = torch.randn(8, 3, 3, 3)
    grey = torch.rand(1, 1, 6, 6)
    # Summing the kernel over RGB gives the same response to grey as the RGB kernel to grey repeated thrice.
    assert torch.allclose(
        torch.nn.functional.conv2d(grey, adapt_input_conv(rgb, 1)),
        torch.nn.functional.conv2d(grey.repeat(1, 3, 1, 1), rgb),
        atol=1e-5,
    )
    assert adapt_input_conv(rgb, 6).shape == (8, 6, 3, 3)
    state = reference_state("resnet18")
    model = timm.create_model("resnet18", num_classes=3, in_chans=1)
    load_backbone(model, state, tmp_path / "x.pth", first_conv="conv1", classifier="fc")
    assert torch.allclose(model.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))


def test_a_timm_url_given_with_its_file_name_is_looked_for_under_that_name(empty_caches: tuple[Path, Path],
                                                                          monkeypatch: pytest.MonkeyPatch):
    # timm's pretrained configs may give the url as a (url, file name) pair: its download is kept under the name.
    from benchmark.models import backbones

    _, torch_home = empty_caches
    cfg = timm.models.get_pretrained_cfg("resnet18.a1_in1k")
    paired = replace(cfg, hf_hub_id=None, url=("https://example.org/weights/latest", "resnet18-paired.pth"))
    monkeypatch.setattr(backbones.timm.models, "get_pretrained_cfg", lambda name: paired)
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference_state("resnet18"), checkpoints / "resnet18-paired.pth")
    assert backbones.timm_weights("resnet18", "resnet18.a1_in1k", "") == checkpoints / "resnet18-paired.pth"
