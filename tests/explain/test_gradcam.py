"""Grad-CAM against analytically known maps, and on a real registered submission."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.explain import find_target_layer, grad_cam, layer_name, submission_score, target_layer_for
from benchmark.plugins import ModelSpec, Submission, registry


class Toy(nn.Module):
    """Conv (2x2, stride 2): channel 0 = local mean of the image, channel 1 = 1 everywhere.

    Logits: normal = mean(channel 1), benign = 0, malignant = mean(channel 0). With ``log p`` as the score, the
    Grad-CAM weights are w0 = dlog p/dlogit_malignant / 64 and w1 = dlog p/dlogit_normal / 64, which gives maps
    computable by hand from the probabilities (see the tests).
    """

    def __init__(self, after: nn.Module | None = None, as_dict: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=2, stride=2)
        self.after = after or nn.Identity()
        self.as_dict = as_dict
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = 0.25
            self.conv.bias.copy_(torch.tensor([0.0, 1.0]))

    def forward(self, x):
        a = self.after(self.conv(x))
        m = a.mean(dim=(2, 3))
        logits = torch.cat([m[:, 1:2], torch.zeros_like(m[:, :1]), m[:, 0:1]], dim=1)
        return {"logits": logits, "mask_logits": x} if self.as_dict else logits


def square_image() -> tuple[torch.Tensor, torch.Tensor]:
    """A 16 px image that is 1 in rows 4-7, columns 8-11, and the 8x8 indicator of that square at stride 2."""
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:8, 8:12] = 1
    small = torch.zeros(1, 1, 8, 8)
    small[..., 2:4, 4:6] = 1
    return x, small


def upsample(grid8: torch.Tensor) -> np.ndarray:
    return F.interpolate(grid8, size=(16, 16), mode="bilinear", align_corners=False)[0, 0].numpy()


def test_malignant_map_is_the_square_exactly():
    x, small = square_image()
    model = Toy()
    cam = grad_cam(model, x, model.conv, 2)[0]
    # map = ReLU((1 - p2) * square - p0 * 1) / 64 = p1 * square / 64 -> normalised: the square itself
    np.testing.assert_allclose(cam, upsample(small), atol=1e-6)
    assert cam[5:7, 9:11].min() == pytest.approx(1.0) and cam[4:8, 8:12].min() >= 0.5
    outside = np.ones((16, 16), bool)
    outside[3:9, 7:13] = False  # the square grown by the one pixel of bilinear blur
    assert cam[outside].max() == 0.0


def test_normal_map_has_negative_weights_and_benign_map_is_all_zero():
    x, small = square_image()
    model = Toy()
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)[0]
    # class normal: (1 - p0) * 1 - p2 * square -> outside 1 - p0, inside p1; normalised by 1 - p0
    expected = (1 - small) + small * (p[1] / (1 - p[0]))
    np.testing.assert_allclose(grad_cam(model, x, model.conv, 0)[0], upsample(expected), atol=1e-5)
    # class benign: -p0 * 1 - p2 * square is nowhere positive -> an all-zero map (not noise stretched to [0, 1])
    assert not grad_cam(model, x, model.conv, 1).any()


def test_no_state_left_on_the_model_and_in_place_relu_is_harmless():
    x, _ = square_image()
    model = Toy(after=nn.ReLU(inplace=True)).train()
    cam = grad_cam(model, x, model.conv, 0)
    assert model.training  # mode restored
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    reference = Toy(after=nn.ReLU())  # the same model, ReLU not in place
    np.testing.assert_allclose(cam, grad_cam(reference, x, reference.conv, 0), atol=1e-6)


class DictOutputs(Submission):
    """A two-stage style submission: outputs are a dict, ``predict`` reads its logits."""

    spec = ModelSpec(name="dict_outputs_test", task="classification", authors=("tests",), input_size=16)

    def build_model(self) -> nn.Module:
        return Toy(as_dict=True)

    def predict(self, outputs):
        return torch.softmax(outputs["logits"].float(), dim=1)

    def cam_layer(self, model: nn.Module) -> nn.Module:
        return model.conv


def test_dict_outputs_through_the_submissions_predict_and_cam_layer_override():
    x, _ = square_image()
    sub = DictOutputs()
    model = sub.build_model()
    layer = target_layer_for(sub, model, x)
    assert layer is model.conv and layer_name(model, layer) == "conv"
    plain = Toy()
    for c in range(3):
        np.testing.assert_allclose(grad_cam(model, x, layer, c, submission_score(sub)),
                                   grad_cam(plain, x, plain.conv, c), atol=1e-6)


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(0)
    sub = registry.get("small_cnn")()
    return sub, sub.build_model()


def test_small_cnn_target_layer_is_the_last_spatial_conv(small_cnn):
    sub, model = small_cnn
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8
    assert target_layer_for(sub, model, torch.randn(1, 1, 32, 32)) is convs[-1]  # block 4 runs at 4x4
    assert all(not m._forward_hooks for m in model.modules())


def test_a_conv_after_global_pooling_is_skipped():
    # a 1x1 conv head on pooled features runs last but has no map left; the conv before the pooling is chosen
    features, head = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 3, 1)
    model = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), head, nn.Flatten())
    assert find_target_layer(model, torch.randn(1, 1, 16, 16)) is features
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        find_target_layer(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), torch.randn(1, 1, 4, 4))


def test_small_cnn_batch_equals_one_by_one(small_cnn):
    sub, model = small_cnn
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(1)).contiguous(
        memory_format=torch.channels_last)
    layer = find_target_layer(model, x[:1])
    classes = [2, 0, 1]  # each gives a non-zero map at these seeds, so the comparison below means something
    batch = grad_cam(model, x, layer, classes, submission_score(sub))
    assert batch.shape == (3, 32, 32) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 1 and (batch.reshape(3, -1).max(axis=1) == 1).all()
    for i, c in enumerate(classes):
        single = grad_cam(model, x[i : i + 1], layer, c, submission_score(sub))[0]
        np.testing.assert_allclose(batch[i], single, atol=1e-5)
        assert single.max() in (0.0, pytest.approx(1.0))
    assert all(p.grad is None for p in model.parameters())


def test_bad_class_count_is_refused(small_cnn):
    _, model = small_cnn
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        grad_cam(model, torch.randn(3, 1, 32, 32), model[0], [0, 1])
