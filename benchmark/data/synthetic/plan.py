"""The plan of a phantom set: every file's class, number, role (original or planted copy) and burnt-in extras.

The plan is drawn from the configuration's seed alone, before any pixel, so it is the same however the images are
then drawn; each item also gets its own seed (:func:`item_seed`) for its pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmark.data.busi import BUSI_CLASSES
from benchmark.data.case import case_id_from_name
from benchmark.data.synthetic.config import DUPLICATE_KINDS, SyntheticConfig, class_counts_for

_DUPLICATE_SHARE = 0.08
_COLOUR_SHARE = 0.02
_ANNOTATED_SHARE = 0.10
_MASK_MODES = ("1", "L", "RGB", "RGBA")
_MASK_MODE_WEIGHTS = (0.55, 0.2, 0.15, 0.1)


@dataclass(frozen=True)
class Item:
    """One file of the set: an original phantom (``source is None``) or a planted copy of another item.

    Attributes:
        index: Position in the plan (``source`` refers to it).
        label: Class folder.
        number: The ``N`` of ``<label> (N).png``.
        source: Index of the original this item copies, or ``None`` for an original.
        kind: The copy's transform (one of ``DUPLICATE_KINDS``), or ``None`` for an original.
        colour: Draw a Doppler-like colour overlay (originals only; copies inherit it with the pixels).
        annotate: Burn in calipers and/or text (likewise).
        mask_mode: PNG mode its masks are written in (``"1"``, ``"L"``, ``"RGB"`` or ``"RGBA"``, as in BUSI).
    """

    index: int
    label: str
    number: int
    source: int | None = None
    kind: str | None = None
    colour: bool = False
    annotate: bool = False
    mask_mode: str = "1"

    @property
    def stem(self) -> str:
        """File name without extension, e.g. ``"benign (12)"``."""
        return f"{self.label} ({self.number})"

    @property
    def case_id(self) -> str:
        """The case id the BUSI loader gives this file, e.g. ``"benign-12"``."""
        return case_id_from_name(self.stem)


def item_seed(config: SyntheticConfig, item: Item) -> list[int]:
    """The seed of one item's pixels: independent of every other item, so drawing order and workers do not matter.

    Another site draws other breasts (not the same ones through another scanner), so its items' seeds differ.
    """
    base = [config.seed, 0x5EED, 1, item.index]
    return base if config.site == "a" else [*base, ord(config.site)]


def _largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    s = sum(weights.values())
    exact = {k: total * w / s for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: out[k] - exact[k])[: total - sum(out.values())]:
        out[k] += 1
    return out


def plan(config: SyntheticConfig) -> list[Item]:
    """Decide, from the seed alone, every file's class, number, role (original or copy) and extras.

    Args:
        config: The set to plan.

    Returns:
        One item per file, ``items[i].index == i``; copies always copy originals.
    """
    rng = np.random.default_rng([config.seed, 0x5EED, 0])
    counts = class_counts_for(config.n)
    n_dup = round(_DUPLICATE_SHARE * config.n)
    # Never let a class lose all its originals to copies.
    dups = _largest_remainder(n_dup, counts)
    dups = {c: min(dups[c], counts[c] - 1) for c in BUSI_CLASSES}
    n_dup = sum(dups.values())
    # A few copies are filed under the other lesion class, as benign (433) = malignant (145) in BUSI.
    n_cross = max(1, round(n_dup / 20)) if n_dup >= 4 else 0

    # Slots per class: False = original, True = copy; shuffled so copies are spread over the numbers.
    slots: list[tuple[str, int, bool]] = []
    for label in BUSI_CLASSES:
        roles = np.array([False] * (counts[label] - dups[label]) + [True] * dups[label])
        roles = roles[rng.permutation(len(roles))]
        slots.extend((label, k + 1, bool(r)) for k, r in enumerate(roles))

    originals = {c: [i for i, (lab, _, dup) in enumerate(slots) if lab == c and not dup] for c in BUSI_CLASSES}
    copy_slots = [i for i, (_, _, dup) in enumerate(slots) if dup]
    copy_slots = [copy_slots[k] for k in rng.permutation(len(copy_slots))]
    lesion_copies = [i for i in copy_slots if slots[i][0] != "normal"]
    cross = set(lesion_copies[:n_cross])
    used: set[int] = set()
    source_of: dict[int, tuple[int, str]] = {}
    for k, i in enumerate(copy_slots):
        label = slots[i][0]
        from_label = {"benign": "malignant", "malignant": "benign"}[label] if i in cross else label
        pool = [j for j in originals[from_label] if j not in used] or originals[from_label]
        src = pool[int(rng.integers(len(pool)))]
        used.add(src)
        source_of[i] = (src, DUPLICATE_KINDS[k % len(DUPLICATE_KINDS)])

    # Burnt-in extras are decided for originals; copies inherit them with the pixels.
    orig_all = [i for i, (_, _, dup) in enumerate(slots) if not dup]
    order = [orig_all[k] for k in rng.permutation(len(orig_all))]
    n_colour = max(1, round(_COLOUR_SHARE * config.n)) if config.n >= 20 else 0
    n_annot = max(1, round(_ANNOTATED_SHARE * config.n)) if config.n >= 10 else 0
    colour = set(order[:n_colour])
    annotate = set(order[n_colour : n_colour + n_annot])
    modes = rng.choice(len(_MASK_MODES), size=len(slots), p=_MASK_MODE_WEIGHTS)

    items = []
    for i, (label, number, _) in enumerate(slots):
        copied, kind = source_of.get(i, (None, None))
        items.append(Item(i, label, number, copied, kind, i in colour, i in annotate, _MASK_MODES[int(modes[i])]))
    return items
