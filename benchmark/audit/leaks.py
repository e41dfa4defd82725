"""The leaks of the protocol audit, and the protocols they make alone or combined.

A protocol is a set of leaks; the clean protocol has none. Combined leaks compose in one defined order, the order of
:data:`LEAKS`, each acting on what the one before produced:

1. ``augment-before-split`` acts on the dataset: augmented copies of every image are pooled with the originals.
2. ``naive-split`` acts on the split: folds are dealt per image, not per group. Augmentation before the split
   deals the pool per image already, so the two are not combined (the combination would be the same protocol).
3. ``mask-overlay`` acts on every input: train, selection and test images (augmented copies with their moved masks).
4. ``select-on-test`` acts on the epoch selection: the test part replaces the validation part.
5. ``lucky-split`` acts on the draw: several single 80/20 splits are made of whatever the leaks above produce, and
   the best test score is reported as if it were the only one.
6. ``empty-mask-scored-1`` acts on the scoring (segmentation): mean Dice and IoU over all images, a normal image
   (empty reference) scoring 1 when its prediction is empty too. It trains nothing: a protocol with it is scored
   from the run of the same protocol without it.

A protocol is written as its leaks joined by ``+`` in that order (``naive-split+mask-overlay+select-on-test``);
:func:`parse_protocol` accepts any order and the short names of :data:`ALIASES`. This module imports nothing heavy,
so the reports and the leaderboard read the names and descriptions from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import BusbenchError

#: Every leak, in composition order, with what it does to the evaluation (shown beside every leaky run).
LEAKS: dict[str, str] = {
    "augment-before-split": "augmented copies made before splitting: copies of a test image are trained on",
    "naive-split": "image-level split: near-duplicate images fall on both sides of a fold",
    "mask-overlay": "the lesion mask is overlaid on the classifier's input (the label leaks through the mask)",
    "select-on-test": "epoch chosen on the test fold itself",
    "lucky-split": "the best of several random splits is reported as if it were the only one",
    "empty-mask-scored-1": "normal images (empty masks) scored 1 when predicted empty, averaged with the lesions",
}
#: Short names accepted wherever a leak is named.
ALIASES = {"naive": "naive-split", "augment": "augment-before-split", "overlay": "mask-overlay",
           "select": "select-on-test", "lucky": "lucky-split", "empty": "empty-mask-scored-1"}
#: Leaks that apply to one task only.
TASK_ONLY = {"mask-overlay": "classification", "empty-mask-scored-1": "segmentation"}
#: Leaks that change only how the predictions are scored, never what is trained.
SCORING_ONLY = frozenset({"empty-mask-scored-1"})
#: Augmented copies per image in the augment-before-split protocol.
AUGMENTED_COPIES = 2
#: Random single splits drawn by the lucky-split protocol (default).
LUCKY_DRAWS = 5
#: The single protocols in report order: clean, then each leak alone.
PROTOCOLS = ("clean", "naive-split", "augment-before-split", "mask-overlay", "select-on-test", "lucky-split",
             "empty-mask-scored-1")


@dataclass(frozen=True)
class Protocol:
    """A set of leaks (none: the clean protocol).

    Attributes:
        leaks: The leaks, by name (keys of :data:`LEAKS`).
    """

    leaks: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """``clean``, or the leaks joined by ``+`` in composition order."""
        return "+".join(leak for leak in LEAKS if leak in self.leaks) or "clean"

    @property
    def training(self) -> Protocol:
        """The protocol whose run this one is scored from: the same leaks without the scoring-only ones."""
        return Protocol(self.leaks - SCORING_ONLY)

    @property
    def scoring_only(self) -> bool:
        """Whether this protocol trains nothing of its own (only a scoring-only leak separates it from another)."""
        return bool(self.leaks & SCORING_ONLY)

    def has(self, leak: str) -> bool:
        """Whether the protocol includes ``leak``."""
        return leak in self.leaks

    def describe(self) -> str:
        """What the protocol does, in words (its leaks' descriptions, in composition order)."""
        return "; ".join(text for leak, text in LEAKS.items() if leak in self.leaks) or "the clean protocol"

    def check_task(self, task: str) -> None:
        """Raise a one-line error when a leak does not apply to ``task``."""
        for leak in sorted(self.leaks):
            only = TASK_ONLY.get(leak)
            if only is not None and only != task:
                raise BusbenchError("--protocols", f"{leak} is a {only} protocol, not one for {task}")


CLEAN = Protocol()


def parse_protocol(text: str) -> Protocol:
    """A protocol from its name: ``clean``, or leaks (full or short names) joined by ``+`` in any order.

    Raises:
        BusbenchError: On an unknown leak, ``clean`` combined with a leak, a leak named twice, or
            ``naive-split`` with ``augment-before-split`` (see the module docstring).
    """
    parts = [p.strip() for p in text.split("+")]
    if parts == ["clean"]:
        return CLEAN
    leaks: list[str] = []
    for raw in parts:
        leak = ALIASES.get(raw, raw)
        if leak == "clean":
            raise BusbenchError("--protocols", f"{text!r}: clean is the protocol without leaks; it combines with none")
        if leak not in LEAKS:
            raise BusbenchError("--protocols", f"unknown leak {raw!r} in {text!r} (expected {', '.join(LEAKS)}; "
                                               f"short names {', '.join(ALIASES)})")
        if leak in leaks:
            raise BusbenchError("--protocols", f"{text!r} names {leak} twice")
        leaks.append(leak)
    if "naive-split" in leaks and "augment-before-split" in leaks:
        raise BusbenchError("--protocols", f"{text!r}: augment-before-split deals the pooled images per image "
                                           "already; drop naive-split")
    return Protocol(frozenset(leaks))


def applicable(task: str) -> list[Protocol]:
    """The single protocols that apply to ``task``, in report order (clean first)."""
    return [p for p in map(parse_protocol, PROTOCOLS) if all(TASK_ONLY.get(leak, task) == task for leak in p.leaks)]


def report_order(protocols: list[Protocol]) -> list[Protocol]:
    """Clean, the single leaks in :data:`PROTOCOLS` order, then combinations by size and composition order."""
    rank = {leak: i for i, leak in enumerate(LEAKS)}

    def key(p: Protocol) -> tuple[int, list[int]]:
        return len(p.leaks), sorted(rank[leak] for leak in p.leaks)

    singles = {p.name: p for p in protocols if len(p.leaks) <= 1}
    return ([singles[n] for n in PROTOCOLS if n in singles]
            + sorted((p for p in dict.fromkeys(protocols) if len(p.leaks) > 1), key=key))
