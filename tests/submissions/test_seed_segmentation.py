"""The seed papers' segmentation and two-stage submissions: conformance, architectures, losses, engine runs."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, jaccard_score
from torch import nn

from benchmark.engine.runner import RunRequest, run_submission
from benchmark.errors import BusbenchError
from benchmark.models.segmentation import loss_by_name, sigmoid_mse_loss, soft_dice_loss, soft_jaccard_loss
from benchmark.models.two_stage import SegmentThenClassify, two_stage_loss
from benchmark.models.u2net import RSU, u2net_full, u2net_lite
from benchmark.models.unet import UNet
from benchmark.plugins import create, get, list_models
from benchmark.plugins.submission import TrainBatch
from benchmark.testing import CheckOptions, conformance_tests
from tests.helpers import TINY, WITHOUT_LEAKAGE_RUN, assert_same_data_hooks

#: Package -> segmentation submission in its segmentation.py (munukurthi2024 also has its two-stage systems).
SEGMENTATION = {"cheyi2024": "cheyi2024_unet", "baniadam2021": "baniadam2021_unet",
                "dajam2025": "dajam2025_unet_mobilenet", "li2025": "li2025_u2netlite",
                "munukurthi2024": "munukurthi2024_unet"}


def _register_segmentation_modules() -> None:
    """Import a package's segmentation.py when the package's __init__ does not import it (yet)."""
    known = set(list_models())  # plugin discovery first: the packages are loaded, nothing registers twice
    for package, name in SEGMENTATION.items():
        if name not in known:
            importlib.import_module(f"busbench_submissions.{package}.segmentation")


_register_segmentation_modules()

# --- conformance: tiny widths and two images keep the suite fast on one core --------------------------------------
SMALL = {"base_width": 8}
test_cheyi2024_unet = conformance_tests("cheyi2024_unet", options=CheckOptions(batch=2, hparams=SMALL))
test_baniadam2021_unet = conformance_tests("baniadam2021_unet", options=CheckOptions(batch=2, hparams=SMALL))
test_dajam2025_unet_mobilenet = conformance_tests("dajam2025_unet_mobilenet", options=CheckOptions(batch=2))
test_li2025_u2netlite = conformance_tests("li2025_u2netlite", options=CheckOptions(batch=2))
test_munukurthi2024_unet = conformance_tests("munukurthi2024_unet", options=CheckOptions(batch=2, hparams=SMALL))
test_munukurthi2024_cnn = conformance_tests("munukurthi2024_cnn", options=CheckOptions(batch=2, hparams=SMALL))
# The two-stage systems share every hook but build_model: the CNN's leakage run stands for all three (checked below).
test_munukurthi2024_vgg19 = conformance_tests("munukurthi2024_vgg19",
                                              options=CheckOptions(sizes=(32,), batch=2, hparams=SMALL),
                                              checks=WITHOUT_LEAKAGE_RUN)
test_munukurthi2024_mobilenet = conformance_tests("munukurthi2024_mobilenet",
                                                  options=CheckOptions(sizes=(32,), batch=2, hparams=SMALL),
                                                  checks=WITHOUT_LEAKAGE_RUN)


@pytest.mark.parametrize("name", ["munukurthi2024_vgg19", "munukurthi2024_mobilenet"])
def test_the_cnn_runs_the_leakage_check_for_every_two_stage_system(name):
    assert_same_data_hooks(name, "munukurthi2024_cnn")


def test_specs_cite_the_paper_for_every_stated_fact():
    names = [*SEGMENTATION.values(), "munukurthi2024_cnn", "munukurthi2024_vgg19", "munukurthi2024_mobilenet"]
    for name in names:
        spec = get(name).spec
        assert spec.notes and all(n.startswith(("paper: ", "choice: ")) for n in spec.notes), name
        assert all(re.search(r"\bL\d+", n) for n in spec.notes if n.startswith("paper: ")), name
        assert "(20" in spec.reference and ("Table" in spec.reference or "No segmentation metric" in spec.reference)
        hp = spec.hparams()
        assert hp.get("pretrained", False) is False and (spec.pretrained is None) == ("pretrained" not in hp), name


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- U^2-Net -------------------------------------------------------------------------------------------------------
def test_u2net_lite_has_the_size_qin_et_al_publish_for_the_small_model():
    # Qin et al. 2020: U^2-Net-dagger 1.13 M parameters / 4.7 MB; U^2-Net 44.0 M / 176.3 MB (Li et al. L77 quote
    # the same two sizes for U2NET-Lite and U2NET). Sizes: the stored state (parameters and BN statistics), which a
    # saved file exceeds by a little.
    lite, full = u2net_lite(3), u2net_full(3)
    assert _params(lite) == 1_131_181 and round(_params(lite) / 1e6, 2) == 1.13
    assert round(_params(full) / 1e6, 1) == 44.0

    def megabytes(model: nn.Module) -> float:
        return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6

    assert abs(megabytes(lite) / 4.7 - 1) < 0.04 and abs(megabytes(full) / 176.3 - 1) < 0.01
    rsus = [m for m in lite.encoder]
    assert [(m.height, m.dilated) for m in rsus] == [(7, False), (6, False), (5, False), (4, False), (4, True),
                                                      (4, True)]
    assert all(isinstance(m, RSU) for m in lite.decoder) and _params(u2net_lite(1)) == 1_131_181 - 2 * 64 * 9


def test_u2net_deep_supervision_outputs_and_any_size():
    model = u2net_lite(1)
    x = torch.randn(2, 1, 37, 50)
    model.train()
    outputs = model(x)
    assert isinstance(outputs, tuple) and len(outputs) == 7 and all(o.shape == (2, 1, 37, 50) for o in outputs)
    model.eval()
    with torch.no_grad():
        fused = model(x)
    assert isinstance(fused, torch.Tensor) and fused.shape == (2, 1, 37, 50)
    # the training loss covers the fused map and every side map
    sub = create("li2025_u2netlite")
    masks = (torch.rand(2, 1, 37, 50) > 0.7).float()
    batch = TrainBatch(x, torch.zeros(2, dtype=torch.long), masks)
    expected = sum(soft_dice_loss(o, masks) for o in outputs)
    assert torch.allclose(sub.loss(outputs, batch), expected)
    assert torch.equal(sub.predict(outputs), torch.sigmoid(outputs[0]))


# --- U-Net ---------------------------------------------------------------------------------------------------------
def test_unet_has_the_2015_parameter_count():
    # 1 input channel, no BatchNorm, depth 4, widths 64-1024: every term counted by hand.
    w = [64 * 2**i for i in range(5)]
    down = sum(cin * c * 9 + c + c * c * 9 + c for cin, c in zip([1, *w[:-1]], w, strict=True))
    up = sum(2 * c * c * 4 + c + 2 * c * c * 9 + c + c * c * 9 + c for c in w[:-1])
    assert _params(UNet(1, 1, 4, 64, batchnorm=False)) == down + up + 64 + 1 == 31_030_593


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_unet_pads_any_size_and_crops_back(upsampling):
    torch.manual_seed(0)
    model = UNet(1, 1, depth=3, base_width=4, upsampling=upsampling).eval()
    x = torch.randn(2, 1, 37, 51)
    with torch.no_grad():
        out = model(x)
        # the same as padding bottom/right to a multiple of 2**3 by hand and cropping
        padded = model(F.pad(x, (0, 5, 0, 3)))
    assert out.shape == (2, 1, 37, 51)
    assert torch.allclose(out, padded[..., :37, :51], atol=1e-6)


def test_munukurthi_unet_has_the_papers_dropout_and_activations():
    model = create("munukurthi2024_unet").build_model()
    assert _params(model) == 31_030_593  # the same widths as the 2015 U-Net (L91-L106)
    rates = sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout))
    assert rates == [0.1] * 4 + [0.2]  # one encoder dropout module (reused after every pool), four decoder ones
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(isinstance(block.up[-1], nn.ReLU) for block in model.up)  # ReLU on the transposed convs (L102)


# --- two-stage -----------------------------------------------------------------------------------------------------
def _capture_classifier_input(model: SegmentThenClassify) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.classifier.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    return seen


def test_two_stage_classifier_sees_the_image_times_the_predicted_probability():
    torch.manual_seed(0)
    mean, std = (0.3,), (0.2,)
    model = SegmentThenClassify(nn.Conv2d(1, 1, 3, padding=1),
                                nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3)), mean, std)
    seen = _capture_classifier_input(model)
    x = torch.randn(2, 1, 16, 16)
    out = model(x)
    prob = torch.sigmoid(model.segmenter(x))
    expected = ((x * 0.2 + 0.3) * prob - 0.3) / 0.2  # masked in pixel space, normalised again
    assert torch.allclose(seen[0], expected, atol=1e-6)
    assert out["logits"].shape == (2, 3) and out["mask_logits"].shape == (2, 1, 16, 16)
    # the class loss does not reach the segmenter; the segmentation loss does
    F.cross_entropy(out["logits"], torch.tensor([0, 2])).backward(retain_graph=True)
    assert model.segmenter.weight.grad is None and model.classifier[1].weight.grad is not None
    masks = torch.zeros(2, 1, 16, 16)
    two_stage_loss(out, TrainBatch(x, torch.tensor([0, 2]), masks)).backward()
    assert model.segmenter.weight.grad is not None and model.segmenter.weight.grad.abs().sum() > 0
    with pytest.raises(BusbenchError, match="needs a dataset with lesion masks"):
        two_stage_loss(out, TrainBatch(x, torch.tensor([0, 2]), None))


def test_munukurthi_two_stage_masks_with_its_own_unet():
    sub = create("munukurthi2024_cnn", {"base_width": 4})
    torch.manual_seed(0)
    model = sub.build_model().eval()
    seen = _capture_classifier_input(model)
    x = torch.rand(2, 1, 32, 32)  # the spec's mean 0 / std 1: the input is the [0, 1] image itself
    with torch.no_grad():
        out = model(x)
        prob = torch.sigmoid(model.segmenter(x))
    assert torch.allclose(seen[0], x * prob, atol=1e-6)
    assert torch.allclose(sub.predict(out).sum(1), torch.ones(2))
    cnn = model.classifier  # the paper's CNN: four conv blocks 32-256, dense 32, 3 outputs (L172)
    assert [m.out_channels for m in cnn.modules() if isinstance(m, nn.Conv2d)] == [32, 64, 128, 256]
    assert [m.out_features for m in cnn.modules() if isinstance(m, nn.Linear)] == [32, 3]
    assert cnn.head[2].in_features == 8 * 8 * 256  # flattened at 128 px, as in the paper


# --- losses and augmentation ---------------------------------------------------------------------------------------
def test_losses_match_sklearn_on_hard_predictions():
    rng = np.random.default_rng(0)
    ref = rng.random((2, 1, 8, 8)) > 0.6
    pred = rng.random((2, 1, 8, 8)) > 0.5
    logits = torch.tensor(np.where(pred, 40.0, -40.0), dtype=torch.float32)
    masks = torch.tensor(ref, dtype=torch.float32)
    f1, iou = f1_score(ref.ravel(), pred.ravel()), jaccard_score(ref.ravel(), pred.ravel())
    assert soft_dice_loss(logits, masks, smooth=0).item() == pytest.approx(1 - f1, abs=1e-6)
    assert soft_jaccard_loss(logits, masks, smooth=0).item() == pytest.approx(1 - iou, abs=1e-6)
    assert sigmoid_mse_loss(logits, masks).item() == pytest.approx(np.mean(ref != pred), abs=1e-6)
    with pytest.raises(BusbenchError, match="unknown 'focal'"):
        loss_by_name("focal")


def test_munukurthi_augmentation_moves_image_and_mask_together():
    augment = importlib.import_module("busbench_submissions.munukurthi2024.augment").keras_augment
    masks = torch.zeros(4, 1, 32, 32)
    masks[:, :, 4:20, 6:14] = 1
    batch = TrainBatch(masks.clone(), torch.zeros(4, dtype=torch.long), masks)
    out = augment(batch, torch.Generator().manual_seed(3))
    again = augment(batch, torch.Generator().manual_seed(3))
    assert torch.equal(out.images, again.images) and torch.equal(out.masks, again.masks)
    assert set(out.masks.unique().tolist()) <= {0.0, 1.0} and not torch.equal(out.masks, masks)
    # an image that equals its mask is moved exactly like the mask (one geometry for both)
    assert torch.equal((out.images >= 0.5).float(), out.masks)


# --- pretrained weights: local files only ----------------------------------------------------------------------------
def test_pretrained_encoders_fail_fast_without_weights_and_load_a_local_file(tmp_path):
    for name in ("dajam2025_unet_mobilenet", "munukurthi2024_mobilenet"):
        with pytest.raises(BusbenchError, match="not found"):
            create(name, {"pretrained": True, "weights": str(tmp_path / "missing.pth")}).build_model()
    import timm

    source = timm.create_model("mobilenetv1_100", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "mobilenet.pth")
    model = create("dajam2025_unet_mobilenet", {"weights": str(tmp_path / "mobilenet.pth")}).build_model()
    encoder = model.model.encoder.model.state_dict()
    assert torch.equal(encoder["conv_stem.weight"], source.state_dict()["conv_stem.weight"])


# --- one engine run each: a segmentation and a two-stage submission ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "metric"), [("li2025_u2netlite", "dice"),
                                               ("munukurthi2024_cnn", "balanced_accuracy")])
def test_engine_runs_one_fold(tiny_split, tmp_path, name, metric):
    hparams = {"batch_size": 8} | ({"base_width": 4} if name.startswith("munukurthi") else {})
    outcome = run_submission(RunRequest(name, TINY, tiny_split, epochs=1, image_size=32, folds=(0,),
                                        hparams=hparams, precision="fp32", threads=1, out=tmp_path))
    assert outcome.status == "partial" and not outcome.failed and outcome.metrics["n_cases"] == 15
    headline = outcome.metrics["headline"]
    assert headline["metric"] == metric and 0 <= headline["value"] <= 1
