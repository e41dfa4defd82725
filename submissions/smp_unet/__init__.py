"""U-Net with a ResNet-18 encoder (segmentation_models_pytorch) for binary lesion segmentation.

Takes 3 input channels normalised with the ImageNet mean and std, so that the ImageNet encoder weights fit unchanged
when a user has them; the engine repeats the grey ultrasound image into the three channels. The default trains from
scratch (``pretrained=False``), which works offline; ``pretrained=True`` uses the encoder weights only from a local
file (``weights=PATH``) or the Hugging Face cache, never a download.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.compat import ensure_torchvision_importable
from benchmark.plugins import ModelSpec, SearchParam, Submission, register
from benchmark.pretrained import HubFile, find_weights, load_backbone, read_state_dict

# segmentation_models_pytorch imports timm and torchvision, whose CUDA build from PyPI does not load next to a CPU
# torch without this (see benchmark.compat).
ensure_torchvision_importable()
import segmentation_models_pytorch as smp  # noqa: E402
from segmentation_models_pytorch.encoders import encoders as _smp_encoders  # noqa: E402

#: The encoder's five stride-2 stages need sides divisible by 2**5.
STRIDE = 32


class PaddedUnet(nn.Module):
    """An smp U-Net that accepts any input size: pads to a multiple of 32 and crops the logits back.

    smp rejects sides not divisible by 32; padding (bottom and right, with zeros, i.e. the normalised mean) lets
    ``--image-size`` take any value without the plugin failing mid-run.
    """

    def __init__(self, unet: smp.Unet):
        super().__init__()
        self.unet = unet

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Lesion logits (N, 1, H, W) for images (N, 3, H, W)."""
        height, width = images.shape[-2:]
        pad_h, pad_w = -height % STRIDE, -width % STRIDE
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        return self.unet(images)[..., :height, :width]


@register
class UnetResNet18(Submission):
    """U-Net / ResNet-18 encoder (smp), 14.33 M parameters."""

    spec = ModelSpec(
        name="unet_resnet18",
        task="segmentation",
        authors=("Olaf Ronneberger", "Philipp Fischer", "Thomas Brox"),
        reference="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015, "
        "doi:10.1007/978-3-319-24574-4_28, arXiv:1505.04597; encoder: He et al., CVPR 2016, arXiv:1512.03385",
        description="U-Net, ResNet-18 encoder, from segmentation_models_pytorch (14.33 M parameters), 1 mask logit",
        input_size=256,
        in_channels=3,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        pretrained="imagenet encoder (smp: smp-hub/resnet18.imagenet)",
        licence="MIT (segmentation_models_pytorch)",
        defaults={"batch_size": 16, "epochs": 30, "pretrained": False, "weights": ""},
        search_space={
            "lr": SearchParam("float", 1e-5, 1e-2, log=True),
            "weight_decay": SearchParam("float", 1e-6, 1e-1, log=True),
            "batch_size": SearchParam("categorical", choices=(8, 16)),
        },
        notes=(
            "grey ultrasound repeated into 3 channels and normalised with the ImageNet mean/std, so ImageNet "
            "encoder weights fit",
            "smp defaults: decoder channels 256-128-64-32-16 with BatchNorm; inputs padded to a multiple of 32 and "
            "logits cropped back",
            "pretrained=False by default (trains from scratch, offline); pretrained=True loads the ImageNet encoder "
            "only from weights=PATH (a ResNet-18 state dict: smp encoder, torchvision or timm keys) or an existing "
            "Hugging Face cache copy, never downloads; a given weights=PATH is loaded even when pretrained is False",
            "loss: the engine's default BCE + soft Dice; defaults (AdamW, cosine, lr 1e-3) not tuned for this model",
        ),
    )

    def build_model(self) -> nn.Module:
        """The U-Net, from scratch or with a local ImageNet encoder (see module docstring)."""
        path = self._local_weights()
        unet = smp.Unet("resnet18", encoder_weights=None, in_channels=self.spec.in_channels, classes=1)
        if path is not None:
            load_backbone(unet.encoder, read_state_dict(path), path, first_conv="conv1", classifier="fc")
        return PaddedUnet(unet)

    def _local_weights(self) -> Path | None:
        """The encoder weights file to load, ``None`` for training from scratch; fails fast when one is missing."""
        weights = str(self.hparams["weights"])
        if not weights and not self.hparams["pretrained"]:
            return None
        hub = _smp_encoders["resnet18"]["pretrained_settings"]["imagenet"]
        # smp downloads the pinned revision; a copy fetched by hand from the repository's main branch is used too.
        files = [HubFile(hub["repo_id"], "model.safetensors", rev) for rev in (hub.get("revision"), None)]
        return find_weights(self.spec.name, "the resnet18 encoder (smp-hub/resnet18.imagenet)", weights, files)
