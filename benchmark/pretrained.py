"""Pretrained weights for model plugins, strictly from local files: never a download.

busbench runs must be reproducible offline, so a plugin asked for pretrained weights uses them only when the user
already has them: a file named in the ``weights`` hyper-parameter, or a copy in the Hugging Face hub cache or the
torch hub checkpoint folder (where timm and segmentation_models_pytorch put what they download). Without one it
fails at once with a :class:`BusbenchError` saying where it looked. (timm alone would retry the download for most of
a minute without network, and ``HF_HUB_OFFLINE`` only takes effect when set before ``huggingface_hub`` is imported,
so the caches are searched here instead.)

Loading adapts the file to the model the way timm's ``load_pretrained`` does: a classifier head whose shape does not
match (ImageNet's 1000 classes against busbench's 3) is dropped and left freshly initialised, and a first
convolution made for a different number of input channels is summed (one channel) or repeated and rescaled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import BusbenchError

#: Wrappers under which training scripts commonly save the state dict.
_WRAPPERS = ("state_dict", "model", "module")


@dataclass(frozen=True)
class HubFile:
    """A weights file as a Hugging Face hub repository stores it.

    Attributes:
        repo_id: Repository, e.g. ``"timm/resnet18.a1_in1k"``.
        filename: File in the repository, e.g. ``"model.safetensors"``.
        revision: Commit or branch (``None``: the cached ``main``).
    """

    repo_id: str
    filename: str
    revision: str | None = None


def torch_hub_checkpoint(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` (and timm) keep the download of ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def find_weights(
    model: str, source: str, weights: str = "", hub_files: Iterable[HubFile] = (), files: Iterable[Path] = ()
) -> Path:
    """Find a local weights file, without touching the network.

    Args:
        model: Registry name of the model asking (for the error message).
        source: What the weights are, in words (e.g. ``"resnet18 (timm: resnet18.a1_in1k)"``).
        weights: A file the user named; when given, it is the only place looked at.
        hub_files: Hugging Face hub files to look for in the local hub cache, in order of preference.
        files: Further candidate files (e.g. :func:`torch_hub_checkpoint` of the download URL).

    Returns:
        The first file found.

    Raises:
        BusbenchError: If the named file does not exist, or no candidate is present locally.
    """
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BusbenchError(path, f"weights file for model {model!r} not found")
        return path
    looked: list[str] = []
    hub_files = list(hub_files)
    if hub_files:
        try:
            # try_to_load_from_cache only reads the cache folder; it never opens a connection.
            from huggingface_hub import constants, try_to_load_from_cache
        except ImportError:
            looked.append("Hugging Face cache (huggingface_hub is not installed)")
        else:
            for hub in hub_files:
                found = try_to_load_from_cache(hub.repo_id, hub.filename, revision=hub.revision)
                if isinstance(found, str) and Path(found).is_file():
                    return Path(found)
            names = ", ".join(sorted({h.repo_id for h in hub_files}))
            looked.append(f"Hugging Face cache {constants.HF_HUB_CACHE} for {names}")
    for path in files:
        if path.is_file():
            return path
        looked.append(str(path))
    raise BusbenchError(
        f"model {model!r}",
        f"ImageNet weights for {source} not found locally (looked in {'; '.join(looked) or 'nowhere'}); "
        "run with --no-pretrained to train from scratch, or pass weights=PATH",
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a torch checkpoint (tensors only, no pickled code).

    A checkpoint wrapping the weights under ``state_dict``/``model`` is unwrapped and a ``module.`` prefix (from
    ``DataParallel``) is removed.

    Raises:
        BusbenchError: If the file cannot be read or holds no tensors.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path), device="cpu")
        else:
            # weights_only: a weights file must not be able to run code when it is loaded.
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, wrong format, pickled objects: all one message for the user
        raise BusbenchError(path, f"cannot read weights: {type(exc).__name__}: {exc}") from exc
    for key in _WRAPPERS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BusbenchError(path, "holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt a first-convolution weight (out, c, kh, kw) to ``in_channels`` inputs, as timm does.

    One channel: the sum over the pretrained channels (a grey image repeated c times gives the same response).
    More channels: the pretrained ones repeated and scaled by ``c / in_channels`` to keep the activation scale.
    """
    have = weight.shape[1]
    if have == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_channels / have)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (have / in_channels)


def load_backbone(
    model: nn.Module, state: Mapping[str, torch.Tensor], where: Path, first_conv: str = "", classifier: str = ""
) -> None:
    """Load pretrained weights into ``model``, re-initialising only what cannot fit (the classifier head).

    Args:
        model: The freshly built model (or encoder).
        state: Weights read by :func:`read_state_dict`.
        where: The file they came from (for error messages).
        first_conv: Module name of the first convolution (adapted to the model's input channels).
        classifier: Module name of the classifier head; its weights are dropped when the model lacks them or they
            differ in shape (a different number of classes). All other weights must fit exactly.

    Raises:
        BusbenchError: If the file does not fit the model (missing, extra or differently shaped weights).
    """
    own = model.state_dict()
    state = dict(state)
    conv_key = f"{first_conv}.weight"
    if first_conv and conv_key in state and conv_key in own:
        state[conv_key] = adapt_input_conv(state[conv_key], own[conv_key].shape[1])
    head = f"{classifier}." if classifier else None
    for key in [k for k in state if head and k.startswith(head)]:
        if key not in own or own[key].shape != state[key].shape:
            del state[key]
    wrong = sorted(k for k in state if k in own and own[k].shape != state[k].shape)
    missing = sorted(k for k in own if k not in state and not (head and k.startswith(head)))
    extra = sorted(k for k in state if k not in own)
    if wrong or missing or extra:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("shape differs for", wrong), ("missing", missing), ("unexpected", extra)) if keys]
        raise BusbenchError(where, f"does not fit {type(model).__name__}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=False)
