"""Cheyi & Çetin-Kaya 2024 submissions: conformance, the paper's parameter counts, fine-tuning, weights, a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.cli import main
from benchmark.compat import ensure_torchvision_importable
from benchmark.errors import BusbenchError
from benchmark.plugins import TrainBatch, create, get, list_models, load_errors
from benchmark.testing import CheckOptions, conformance_tests
from tests.helpers import WITHOUT_LEAKAGE_RUN, assert_same_data_hooks, pretrained_refusal, write_tiny_split

ensure_torchvision_importable()
import huggingface_hub.constants  # noqa: E402
import timm  # noqa: E402

#: The paper's parameter counts (Sec. 4.3, L268 of the seed text): Keras' model.summary() totals.
PAPER_COUNTS = {
    "cheyi2024_cnn": 3_097_283,
    "cheyi2024_vgg16": 14_879_299,
    "cheyi2024_vgg19": 20_188_995,
    "cheyi2024_densenet121": 7_333_187,
    "cheyi2024_efficientnetb0": 4_410_790,
    "cheyi2024_mobilenet": 3_524_547,
    "cheyi2024_inceptionv3": 22_360_611,
    "cheyi2024_xception": 21_419_307,
    "cheyi2024_resnet50": 24_145_539,
}
TRANSFER = [n for n in PAPER_COUNTS if n != "cheyi2024_cnn"]
TINY = "synthetic:n=45,seed=4,size=48"

# batch 2 keeps the file fast on one core; InceptionV3 takes nothing under 75 px.
SMALL = CheckOptions(sizes=(32, 64), batch=2)
test_conformance_cnn = conformance_tests("cheyi2024_cnn", options=SMALL)
test_conformance_cnn_text_layout = conformance_tests("cheyi2024_cnn", options=CheckOptions(
    sizes=(32,), batch=2, hparams={"layout": "text"}), checks=("output_shapes", "optimizer_step"))
# The transfer models share every hook but build_model: MobileNet's leakage run stands for them all (checked below).
test_conformance_vgg16 = conformance_tests("cheyi2024_vgg16", options=SMALL, checks=WITHOUT_LEAKAGE_RUN)
test_conformance_vgg19 = conformance_tests("cheyi2024_vgg19", options=SMALL, checks=WITHOUT_LEAKAGE_RUN)
test_conformance_densenet121 = conformance_tests("cheyi2024_densenet121", options=SMALL, checks=WITHOUT_LEAKAGE_RUN)
test_conformance_efficientnetb0 = conformance_tests("cheyi2024_efficientnetb0", options=SMALL,
                                                    checks=WITHOUT_LEAKAGE_RUN)
test_conformance_mobilenet = conformance_tests("cheyi2024_mobilenet", options=SMALL)
test_conformance_inceptionv3 = conformance_tests("cheyi2024_inceptionv3", options=CheckOptions(sizes=(80, 96), batch=2),
                                             checks=WITHOUT_LEAKAGE_RUN)
test_conformance_xception = conformance_tests("cheyi2024_xception", options=SMALL, checks=WITHOUT_LEAKAGE_RUN)
test_conformance_resnet50 = conformance_tests("cheyi2024_resnet50", options=SMALL, checks=WITHOUT_LEAKAGE_RUN)
#: Every test here runs with sockets that refuse to connect, and fails if anything tried.
pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face hub cache and the torch hub folder at empty folders; return the hub cache."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hf"


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def keras_count(model: nn.Module, name: str) -> int:
    """What Keras' model.summary() would count for our model: it also counts BatchNorm moving statistics."""
    trunk = model.features
    bns = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    count = n_params(model) + sum(2 * m.num_features for m in bns)
    if name == "cheyi2024_inceptionv3":  # Keras' InceptionV3 uses BatchNormalization(scale=False)
        count -= sum(m.num_features for m in bns)
    if name == "cheyi2024_resnet50":  # Keras' ResNet50 convolutions have biases
        count += sum(m.out_channels for m in trunk.modules() if isinstance(m, nn.Conv2d))
    if name == "cheyi2024_efficientnetb0":  # Keras' EfficientNetB0 has a Normalization layer (mean, variance, count)
        count += 3 + 3 + 1
    return count


def test_all_nine_register_from_the_package_with_complete_specs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BUSBENCH_SUBMISSIONS", raising=False)
    assert list_models("cheyi2024_*", task="classification") == sorted(PAPER_COUNTS)
    assert not [where for where in load_errors() if Path(where).name == "cheyi2024"]
    for name in PAPER_COUNTS:
        cls = get(name)
        assert cls.__module__.startswith("busbench_submissions.cheyi2024.")
        spec = cls.spec
        assert spec.authors == ("Jehad Cheyi", "Yasemin Çetin-Kaya") and spec.input_size == 224
        assert "doi:10.54287/guj.1529857" in spec.reference and "Table" in spec.reference
        assert spec.notes and all(n.startswith(("paper: ", "choice: ")) for n in spec.notes)
        assert any("(L" in n for n in spec.notes if n.startswith("paper: "))
        hp = spec.hparams()
        assert (hp["optimizer"], hp["lr"], hp["schedule"], hp["dropout"]) == ("adam", 1e-3, "constant", 0.5)
        json.dumps(spec.to_json())
    for name in TRANSFER:
        spec = get(name).spec
        assert spec.pretrained.startswith("imagenet (") and spec.in_channels == 3
        assert get(name).spec.hparams()["pretrained"] is False and spec.hparams()["finetune"] == "all"
    assert get("cheyi2024_cnn").spec.pretrained is None and "pretrained" not in get("cheyi2024_cnn").spec.hparams()


def test_custom_cnn_has_exactly_the_papers_parameter_count():
    # Independent arithmetic: 3x3 convs with bias on RGB, dense 512 -> 512 -> 1024 -> 3.
    def conv(a: int, b: int) -> int:
        return 9 * a * b + b

    def dense(a: int, b: int) -> int:
        return a * b + b

    text = (conv(3, 32) + conv(32, 64) + conv(64, 128) + conv(128, 256) + conv(256, 256) + conv(256, 512)
            + dense(512, 512) + dense(512, 1024) + dense(1024, 3))
    assert text + conv(128, 128) == PAPER_COUNTS["cheyi2024_cnn"]
    model = create("cheyi2024_cnn").build_model()
    assert n_params(model) == PAPER_COUNTS["cheyi2024_cnn"]
    assert n_params(create("cheyi2024_cnn", {"layout": "text"}).build_model()) == text == 2_949_699
    assert "(3.10 M parameters)" in get("cheyi2024_cnn").spec.description
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 128, 256, 256, 512]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [512, 1024, 3]
    with pytest.raises(BusbenchError, match="layout"):
        create("cheyi2024_cnn", {"layout": "figure"}).build_model()


def test_custom_cnn_l2_is_keras_kernel_regularizer_on_the_dense_layers():
    torch.manual_seed(0)
    sub = create("cheyi2024_cnn")
    model = sub.build_model()
    reference = create("cheyi2024_cnn").build_model()
    reference.load_state_dict(model.state_dict())
    optimiser, schedule = sub.configure_optimizers(model, epochs=1, steps_per_epoch=1)
    assert isinstance(optimiser, torch.optim.Adam) and schedule is None
    images, labels = torch.rand(2, 3, 32, 32), torch.tensor([0, 2])
    model.eval(), reference.eval()  # no dropout: both models compute the same function
    nn.functional.cross_entropy(model(images), labels).backward()
    optimiser.step()
    # Keras: loss + 0.01 * ||W||^2 for the 512 and 1024 kernels, plain Adam.
    dense = [m for m in reference.modules() if isinstance(m, nn.Linear)][:2]
    loss = nn.functional.cross_entropy(reference(images), labels) + sum(0.01 * m.weight.pow(2).sum() for m in dense)
    plain = torch.optim.Adam(reference.parameters(), lr=1e-3)
    loss.backward()
    plain.step()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", TRANSFER)
def test_transfer_models_match_the_papers_keras_counts(name: str):
    model = create(name).build_model()
    # The paper's counts are Keras trunks + GAP + dense 256 + dense 128 + dense 3: the head's widths come from them.
    assert [m.out_features for m in model.head if isinstance(m, nn.Linear)] == [256, 128, 3]
    assert [m.p for m in model.head if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert keras_count(model, name) == PAPER_COUNTS[name]
    assert f"({n_params(model) / 1e6:.2f} M parameters)" in get(name).spec.description
    assert f"ours: {n_params(model):,}" in " ".join(get(name).spec.notes)


@pytest.mark.parametrize(("name", "last4"), [
    ("cheyi2024_vgg16", ["features.21", "features.24", "features.26", "features.28"]),
    ("cheyi2024_resnet50", ["layer4.2.conv2", "layer4.2.bn2", "layer4.2.conv3", "layer4.2.bn3"]),
])
def test_finetune_last4_trains_the_last_four_trunk_layers_and_the_head(name: str, last4: list[str]):
    torch.manual_seed(0)
    sub = create(name, {"finetune": "last4"})
    model = sub.build_model()
    trunk = model.features.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {f"features.model.{m}.{p}" for m in last4 for p in ("weight", "bias")
                if getattr(trunk.get_submodule(m), p, None) is not None}
    expected |= {f"head.{n}" for n, _ in model.head.named_parameters()}
    assert trainable == expected
    model.train()
    bns = {n: m for n, m in trunk.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert all(m.training == (n in last4) for n, m in bns.items())  # frozen BatchNorm runs in inference mode
    assert model.head.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimiser, _ = sub.configure_optimizers(model, epochs=1, steps_per_epoch=1)
    images = torch.randn(2, 3, 32, 32)
    sub.loss(model(images), TrainBatch(images, torch.tensor([0, 2]), None)).backward()
    optimiser.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    owners = {k.rsplit(".", 1)[0].removeprefix("features.model.") for k in changed}
    assert owners <= set(last4) | {f"head.{i}" for i in range(len(model.head))}  # nothing frozen moved
    assert last4[-1] in owners and f"head.{len(model.head) - 1}" in owners


@pytest.mark.parametrize("name", TRANSFER)
def test_pretrained_without_local_weights_fails_at_once_and_offline(name: str, empty_caches: Path):
    pretrained_refusal(name)


def test_local_weights_file_is_loaded_under_the_head(tmp_path: Path, empty_caches: Path):
    torch.manual_seed(123)
    state = timm.create_model("mobilenetv1_100").state_dict()  # ImageNet layout with its 1000-class classifier
    path = tmp_path / "mobilenet.pth"
    torch.save(state, path)
    model = create("cheyi2024_mobilenet", {"weights": str(path), "finetune": "last4"}).build_model()
    own = model.features.model.state_dict()
    body = [k for k in state if not k.startswith("classifier.")]
    assert body and all(torch.equal(own[k], state[k]) for k in body)
    assert tuple(model(torch.randn(2, 3, 32, 32)).shape) == (2, 3)


@pytest.mark.slow
def test_custom_cnn_runs_one_epoch_through_busbench_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    split = tmp_path / "tiny.json"
    write_tiny_split(split, TINY)
    code = main(["run", "cheyi2024_cnn", "--dataset", TINY, "--splits", str(split), "--folds", "0", "--epochs", "1",
                 "--image-size", "32", "--precision", "fp32", "--threads", "1", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr()
    assert code == 0, out.err
    run_dir = next((tmp_path / "runs").glob("cheyi2024_cnn-*"))
    run = json.loads((run_dir / "run.json").read_text())
    assert run["params"] == PAPER_COUNTS["cheyi2024_cnn"] and run["image_size"] == 32
    assert run["hparams"]["optimizer"] == "adam" and run["hparams"]["layout"] == "count"
    assert run["submission"]["reference"].startswith("Cheyi, J., & Çetin-Kaya, Y. (2024)")
    assert json.loads((run_dir / "fold-0" / "result.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("name", [n for n in TRANSFER if n != "cheyi2024_mobilenet"])
def test_mobilenet_runs_the_leakage_check_for_every_transfer_model(name):
    assert_same_data_hooks(name, "cheyi2024_mobilenet")
