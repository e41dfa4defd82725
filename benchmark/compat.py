"""Make torchvision (and so timm and segmentation_models_pytorch) importable next to a CPU-only torch.

The only torchvision release matching torch 2.13.0 on PyPI is a CUDA build whose compiled operators do not load next
to the CPU torch build (``RuntimeError: operator torchvision::nms does not exist`` on ``import torchvision``).
Defining the two operator schemas that torchvision's Python side registers fake kernels for lets the import go
through; transforms and model definitions work, only detection ops (which busbench never uses) stay unusable. When
the compiled operators did load (a matching CUDA or CPU build), nothing is changed.
"""

from __future__ import annotations

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # the torch.library.Library must stay alive for the definitions to persist


def ensure_torchvision_importable() -> None:
    """Define the missing ``torchvision::nms``/``qnms`` schemas, once, before torchvision is first imported."""
    global _library
    import sys

    if _library is not None or "torchvision" in sys.modules:
        return
    import torch

    missing = []
    for name, schema in _SCHEMAS.items():
        try:
            torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        except RuntimeError:
            missing.append(schema)
    if missing:
        _library = torch.library.Library("torchvision", "DEF")
        for schema in missing:
            _library.define(schema)
