"""The leaky data transformations of the protocol inflation audit (``busbench audit protocols``).

Rows of labelled images are selected and pooled, ground-truth masks are blended into the inputs (the mask-overlay
protocol) and augmented copies of every image are made before any split (the augment-before-split protocol). These
transformations are used only by the audit's protocols (:mod:`benchmark.audit.protocol_plans`); the leaderboard's
engine (:mod:`benchmark.engine.runner`) never sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from benchmark.engine.loop import PluginError, derived_seed
from benchmark.engine.tensors import LabelledImages
from benchmark.errors import BusbenchError
from benchmark.plugins.submission import Submission, TrainBatch

#: Weight of the ground-truth mask in the mask-overlay protocol's inputs.
OVERLAY_ALPHA = 0.5
#: Marks an augmented copy's id: ``<case_id>#aug<j>``.
COPY_MARK = "#aug"


def take(data: LabelledImages, index: Sequence[int]) -> LabelledImages:
    """The rows ``index`` of ``data``."""
    idx = torch.as_tensor(list(index), dtype=torch.int64)
    masks = None if data.masks is None else data.masks[idx]
    return LabelledImages(tuple(data.case_ids[i] for i in idx.tolist()), data.images[idx], data.labels[idx], masks,
                          data.classes)


def concat(parts: Sequence[LabelledImages]) -> LabelledImages:
    """Rows of several :class:`LabelledImages` (of one class set) one after another."""
    if len({p.classes for p in parts}) != 1:
        raise ValueError("parts of different class sets cannot be concatenated")
    masks = None if any(p.masks is None for p in parts) else torch.cat([p.masks for p in parts])  # type: ignore[misc]
    return LabelledImages(tuple(c for p in parts for c in p.case_ids), torch.cat([p.images for p in parts]),
                          torch.cat([p.labels for p in parts]), masks, parts[0].classes)


def overlay_masks(data: LabelledImages, alpha: float = OVERLAY_ALPHA) -> LabelledImages:
    """The images with their ground-truth masks blended in as white: ``image + alpha * mask * (255 - image)``.

    Inside the mask a pixel becomes ``(1 - alpha) * image + alpha * 255``; outside it is left as it is, so the input
    changes exactly where the lesion is (and not at all for a normal image, whose mask is empty).

    Raises:
        BusbenchError: If the data has no masks.
    """
    if data.masks is None:
        raise BusbenchError("mask-overlay", "needs a dataset with masks")
    image = data.images.float()
    blended = image + alpha * data.masks.float() * (255.0 - image)
    return replace(data, images=blended.round().clamp(0, 255).to(torch.uint8))


def augmented_copies(submission: Submission, data: LabelledImages, copies: int, seed: int,
                     chunk: int = 128) -> LabelledImages:
    """``copies`` augmented copies of every image, made by the submission's ``augment`` hook with fixed generators.

    Copy ``j`` of case ``c`` gets the id ``c#aug<j>``, its label, and its mask moved with the image.

    Raises:
        PluginError: If the hook fails or returns images of another shape.
    """
    parts = []
    for j in range(copies):
        generator = torch.Generator().manual_seed(derived_seed(seed, -2, j))
        images, masks = [], []
        for start in range(0, data.images.shape[0], chunk):
            rows = slice(start, start + chunk)
            m = None if data.masks is None else data.masks[rows].float()
            batch = TrainBatch(data.images[rows].float().div(255), data.labels[rows], m)
            try:
                out = submission.augment(batch, generator)
            except Exception as exc:  # the submission's own code: reported like the engine reports it
                raise PluginError(f"augment hook: {type(exc).__name__}: {exc}") from exc
            if tuple(out.images.shape) != tuple(batch.images.shape):
                raise PluginError(f"augment hook returned shape {tuple(out.images.shape)}, expected "
                                  f"{tuple(batch.images.shape)}")
            images.append(out.images.clamp(0, 1).mul(255).round().to(torch.uint8))
            if out.masks is not None:
                masks.append((out.masks >= 0.5).to(torch.uint8))
        ids = tuple(f"{c}{COPY_MARK}{j}" for c in data.case_ids)
        parts.append(LabelledImages(ids, torch.cat(images), data.labels.clone(),
                                    torch.cat(masks) if masks else None, data.classes))
    return concat(parts)


def original_id(item_id: str) -> str:
    """The case an item (case or augmented copy) comes from."""
    return item_id.split(COPY_MARK, 1)[0]
