"""Grad-CAM (Selvaraju et al., ICCV 2017) for any classification submission: pure functions, no I/O.

For a class score ``y`` and the activations ``A`` (N, K, h, w) of a convolutional layer, the channel weights are the
spatial means of the gradients, ``w_k = mean_ij dy/dA_kij``, and the map is ``ReLU(sum_k w_k A_k)``. The map is
upsampled bilinearly to the input size and divided by its per-image maximum, so it lies in [0, 1] and 0 keeps its
meaning, "no positive evidence for the class here".

The functions leave nothing behind on the model: hooks are removed in ``finally`` blocks, the train/eval flag is
restored, and gradients are taken with :func:`torch.autograd.grad` with respect to the captured activations only, so
no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.plugins.submission import Submission

#: ``score_fn(outputs, classes) -> scores``: the model's raw outputs and the class index per image (N,) -> one
#: differentiable score per image (N,).
ScoreFn = Callable[[Any, torch.Tensor], torch.Tensor]

#: Probabilities are clamped here before the logarithm so that a saturated class gives a finite score.
_TINY = 1e-12


def _log_prob(probs: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    picked = probs.gather(1, classes.view(-1, 1).to(probs.device)).squeeze(1)
    return torch.log(picked.clamp_min(_TINY))


def default_score(outputs: Any, classes: torch.Tensor) -> torch.Tensor:
    """Log-probability of the class under a softmax of ``outputs`` (the base ``Submission.predict``), per image."""
    return _log_prob(torch.softmax(outputs.float(), dim=1), classes)


def submission_score(submission: Submission) -> ScoreFn:
    """Score function for a submission: log of its own ``predict`` probability of the class.

    Going through the submission's ``predict`` hook means any submission works without the explainer knowing its
    output format (plain logits, a dict from a two-stage model, temperature scaling, ...). The log-probability
    (rather than the raw logit) is the quantity the model is trained and scored on; its gradient also accounts for
    the other classes (evidence *against* them counts as evidence *for* this class), and it does not saturate the
    way the probability itself does. A probability below 1e-12 is clamped, which gives a zero gradient (an all-zero
    map) for a class the model rules out completely.

    Args:
        submission: The submission whose model is explained.

    Returns:
        A :data:`ScoreFn`.
    """

    def score(outputs: Any, classes: torch.Tensor) -> torch.Tensor:
        return _log_prob(submission.predict(outputs), classes)

    return score


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Explanations are of the deployed model (BatchNorm running statistics, no dropout); the caller's mode is kept.
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def find_target_layer(model: nn.Module, sample: torch.Tensor) -> nn.Module:
    """The default Grad-CAM layer: the last ``nn.Conv2d`` run in a forward pass whose output is still spatial.

    Grad-CAM wants the last convolutional feature maps before the global pooling: they carry the most class-specific
    features the network has while still keeping a spatial layout. "Executed last" (recorded with forward hooks)
    rather than "registered last" follows the real data flow, and a convolution whose output is 1 x 1 (after the
    pooling, or a 1 x 1 head on pooled features) has no map left to show. A submission that knows better defines
    ``cam_layer(self, model)`` (see :class:`benchmark.plugins.Submission`); :func:`target_layer_for` honours it.

    Args:
        model: The model.
        sample: A small input batch of the shape the model expects (one image is enough).

    Returns:
        The layer module.

    Raises:
        ValueError: If no ``nn.Conv2d`` with an output larger than 1 x 1 runs in the forward pass.
    """
    seen: list[nn.Module] = []

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-2] * output.shape[-1] > 1:
            seen.append(module)

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with _eval_mode(model), torch.no_grad():
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError("no nn.Conv2d with a spatial output (larger than 1 x 1) runs in the model's forward pass")
    return seen[-1]


def target_layer_for(submission: Submission, model: nn.Module, sample: torch.Tensor) -> nn.Module:
    """The submission's own ``cam_layer(model)`` when it defines one, else :func:`find_target_layer`."""
    chooser = getattr(submission, "cam_layer", None)
    if callable(chooser):
        layer = chooser(model)
        if not isinstance(layer, nn.Module) or not any(layer is m for m in model.modules()):
            raise ValueError(f"{type(submission).__name__}.cam_layer did not return a module of the model")
        return layer
    return find_target_layer(model, sample)


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The dotted name of ``layer`` inside ``model`` (``""`` for the model itself)."""
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ValueError("the layer is not a module of the model")


def _class_tensor(class_index: int | Sequence[int] | torch.Tensor, n: int) -> torch.Tensor:
    classes = torch.as_tensor(class_index, dtype=torch.long).flatten()
    if classes.numel() == 1:
        classes = classes.expand(n)
    if classes.numel() != n:
        raise ValueError(f"class_index has {classes.numel()} entries for {n} images")
    return classes


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_index: int | Sequence[int] | torch.Tensor,
    score_fn: ScoreFn | None = None,
) -> np.ndarray:
    """Grad-CAM maps of ``inputs`` for a class (see module docstring).

    Images in a batch are explained independently (the model runs in eval mode, so BatchNorm does not mix them):
    the gradient of the summed scores with respect to one image's activations is that image's own gradient.

    Args:
        model: The model; run in eval mode, its train/eval flag restored afterwards.
        inputs: The model's input batch (N, C, H, W), already normalised as the model expects.
        target_layer: A module of ``model`` whose output (N, K, h, w) is explained, usually from
            :func:`find_target_layer` or :func:`target_layer_for`.
        class_index: One class for every image, or one per image (N,).
        score_fn: Model outputs and classes -> one score per image. Default :func:`default_score` (log-softmax of
            logits); pass :func:`submission_score` for a submission with its own output format or ``predict``.

    Returns:
        float32 (N, H, W) maps in [0, 1], each divided by its own maximum. Edge case: when the weighted sum is
        nowhere positive (no evidence for the class anywhere in the layer, or a zero gradient), the map is all
        zeros rather than noise stretched to [0, 1].

    Raises:
        ValueError: If the layer does not run in the forward pass, or does not give a 4-d tensor.
    """
    score_fn = score_fn or default_score
    n, _, height, width = inputs.shape
    classes = _class_tensor(class_index, n)
    captured: list[torch.Tensor] = []

    def capture(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise ValueError(f"the target layer gives {type(output).__name__}, not a (N, K, h, w) tensor")
        captured.append(output)
        # The rest of the network gets a copy, so an in-place op after the layer (ReLU(inplace=True)) cannot
        # overwrite the activations we read the map from; the values (and gradients) are the same.
        return output.clone()

    handle = target_layer.register_forward_hook(capture)
    try:
        with _eval_mode(model), torch.enable_grad():
            # A model with frozen parameters would build no graph from a plain input; asking for the input's
            # gradient makes sure the activations are part of one.
            x = inputs.detach().requires_grad_(True)
            outputs = model(x)
            if not captured:
                raise ValueError("the target layer did not run in the model's forward pass")
            activations = captured[-1]  # a layer run more than once: the last call feeds the head
            scores = score_fn(outputs, classes.to(inputs.device))
            (grads,) = torch.autograd.grad(scores.sum(), activations, allow_unused=True)
    finally:
        handle.remove()
    if grads is None:  # the score does not depend on this layer at all
        return np.zeros((n, height, width), dtype=np.float32)
    weights = grads.float().mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((weights * activations.detach().float()).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).view(-1, 1, 1)
    # Bilinear weights are convex, so the upsampled map is still >= 0; dividing by the peak puts it in [0, 1].
    cam = torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), torch.zeros_like(cam))
    return cam.clamp_(0, 1).cpu().numpy().astype(np.float32)
