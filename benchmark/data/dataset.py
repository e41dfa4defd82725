"""A loaded dataset: its cases, pixel access through the decoded cache, and fingerprints.

Every loader (BUSI folder or zip, CSV manifest, BUS-BRA, synthetic) produces a :class:`Dataset`; everything
downstream (splits, audit, training) reads pixels only through it, so decoding and caching happen in one place.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from benchmark.data.cache import FingerprintIndex, load_decoded, load_mask, store_decoded, store_mask
from benchmark.data.case import Case
from benchmark.data.images import decode_image, decode_mask, image_shape, pixel_digest, resize_pair, to_grey
from benchmark.data.source import FileSource
from benchmark.errors import BusbenchError


@dataclass(frozen=True)
class CaseFacts:
    """Facts about a case that need its pixels: fingerprints and image size.

    Attributes:
        fingerprint: sha256 of the canonical image pixels and the united mask (see ``images.pixel_digest``).
        image_fingerprint: sha256 of the canonical image pixels alone (equal for exact duplicate images).
        height: Image height in pixels.
        width: Image width in pixels.
        lesion_pixels: Foreground pixels of the united mask (0 for an empty mask, -1 when the case has none).
    """

    fingerprint: str
    image_fingerprint: str
    height: int
    width: int
    lesion_pixels: int


#: ``on_decoded(case, facts, rgb, mask)``: see :meth:`Dataset.facts`.
OnDecoded = Callable[[Case, CaseFacts, np.ndarray, "np.ndarray | None"], None]


class Dataset:
    """An ordered collection of cases with pixel access.

    Args:
        name: Dataset name written into split files and results (``"BUSI"``, ``"synthetic"``...).
        source: Where the files are.
        cases: The cases, in a stable order.
        classes: The class names, in their canonical order (class index = position).
        has_masks: Whether the dataset provides lesion masks.
        kind: The loader that produced it (``"busi"``, ``"manifest"``, ``"busbra"``, ``"synthetic"``).

    Raises:
        BusbenchError: On duplicate case ids or labels outside ``classes``.
    """

    def __init__(
        self,
        name: str,
        source: FileSource,
        cases: Sequence[Case],
        classes: Sequence[str],
        *,
        has_masks: bool,
        kind: str,
    ):
        self.name = name
        self.source = source
        self.classes = tuple(classes)
        self.has_masks = has_masks
        self.kind = kind
        if not cases:
            raise BusbenchError(source.location, "holds no cases")
        seen: dict[str, Case] = {}
        for case in cases:
            if case.case_id in seen:
                raise BusbenchError(
                    source.display(case.image),
                    f"case id {case.case_id!r} is also the id of {seen[case.case_id].image}; case ids must be unique",
                )
            if case.label not in self.classes:
                raise BusbenchError(source.display(case.image), f"unknown label {case.label!r}")
            seen[case.case_id] = case
        self._cases = tuple(cases)
        self._by_id = seen
        self._facts: dict[str, CaseFacts] | None = None

    # --- listing -------------------------------------------------------------------------------------------------
    @property
    def cases(self) -> tuple[Case, ...]:
        """All cases in their stable order."""
        return self._cases

    def __len__(self) -> int:
        return len(self._cases)

    def case(self, case_id: str) -> Case:
        """The case with id ``case_id``.

        Raises:
            KeyError: If there is no such case.
        """
        return self._by_id[case_id]

    def class_counts(self) -> dict[str, int]:
        """Number of cases per class, in class order."""
        counts = Counter(c.label for c in self._cases)
        return {k: counts.get(k, 0) for k in self.classes}

    # --- pixels --------------------------------------------------------------------------------------------------
    def decode(self, case: Case) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode a case from its files: canonical RGB ``uint8`` image and united ``bool`` mask (or ``None``).

        Raises:
            BusbenchError: If a file is corrupt or a mask's size differs from its image's.
        """
        rgb = decode_image(self.source.read(case.image), self.source.display(case.image))
        return rgb, self._united_mask(case, rgb.shape[:2])

    def decode_mask(self, case: Case) -> np.ndarray | None:
        """A case's united ``bool`` mask at its image's size (or ``None``), reading only the image's header.

        Once this dataset's fingerprints are known (:meth:`facts` was called; scoring verifies its split with them
        first), the mask goes through the decoded cache, keyed by the case fingerprint, which covers the mask's
        pixels: scoring a segmentation run again reads every reference mask, and decoding their PNGs was a third of
        ``busbench results verify``'s time. Before that, the files are decoded, as fingerprints are not computed
        just for this.

        Raises:
            BusbenchError: If a file is corrupt or a mask's size differs from its image's.
        """
        if not case.masks:
            return None
        known = self._facts.get(case.case_id) if self._facts is not None else None
        if known is not None and (cached := load_mask(known.fingerprint)) is not None:
            return cached
        mask = self._united_mask(case, image_shape(self.source.read(case.image), self.source.display(case.image)))
        if known is not None and mask is not None:
            store_mask(known.fingerprint, mask)
        return mask

    def _united_mask(self, case: Case, shape: tuple[int, ...]) -> np.ndarray | None:
        """The union of a case's masks, each checked to have the image's ``shape``; ``None`` without masks."""
        if not case.masks:
            return None
        united: np.ndarray = np.zeros(shape, dtype=bool)
        for rel in case.masks:
            where = self.source.display(rel)
            mask = decode_mask(self.source.read(rel), where)
            if mask.shape != united.shape:
                raise BusbenchError(
                    where,
                    f"mask is {mask.shape[1]}x{mask.shape[0]} px but its image {case.image} is "
                    f"{united.shape[1]}x{united.shape[0]} px",
                )
            united |= mask
        return united

    def load(self, case: Case | str, size: int | tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Grey image and mask of a case, resized to ``size``, through the decoded cache.

        Args:
            case: The case or its id.
            size: ``None`` for the original size, an int ``S`` for S x S, or ``(height, width)``.

        Returns:
            ``(image, mask)``: ``uint8`` (H, W) and ``bool`` (H, W) or ``None`` if the dataset has no masks.
        """
        if isinstance(case, str):
            case = self.case(case)
        target = ((size, size) if isinstance(size, int)
                  else (cast("tuple[int, int]", tuple(size)) if size is not None else None))
        fp = self.facts()[case.case_id].fingerprint
        hit = load_decoded(fp, target)
        if hit is not None:
            return hit
        native = load_decoded(fp, None) if target is not None else None
        if native is None:
            rgb, mask = self.decode(case)
            return self.keep_decoded(fp, rgb, mask, target)
        image, mask = resize_pair(native[0], native[1], target)  # type: ignore[arg-type]
        store_decoded(fp, target, image, mask)
        return image, mask

    @staticmethod
    def keep_decoded(fingerprint: str, rgb: np.ndarray, mask: np.ndarray | None, size: tuple[int, int] | None,
                     grey: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Put what :meth:`load` returns for ``size`` into the decoded cache, from pixels decoded elsewhere.

        A caller that decoded a case anyway (for example in :meth:`facts`'s ``on_decoded``) saves :meth:`load` a
        second decode of the same files.

        Args:
            fingerprint: The case's fingerprint (:class:`CaseFacts`).
            rgb: Its decoded RGB image (:meth:`decode`).
            mask: Its decoded mask, or ``None``.
            size: ``(height, width)``, or ``None`` for the original size.
            grey: ``to_grey(rgb)`` when the caller has it already (it is computed otherwise).

        Returns:
            ``(image, mask)`` as :meth:`load` gives them.
        """
        grey = to_grey(rgb) if grey is None else grey
        image, small = (grey, mask) if size is None else resize_pair(grey, mask, size)
        store_decoded(fingerprint, size, image, small)
        return image, small

    # --- fingerprints --------------------------------------------------------------------------------------------
    def _file_key(self, case: Case) -> str:
        # The leading tag changes whenever what the index stores changes, so old entries are simply recomputed.
        return "v1|" + "|".join(self.source.stat_key(p) for p in (case.image, *case.masks))

    def _compute(self, case: Case, on_decoded: OnDecoded | None = None) -> CaseFacts:
        rgb, mask = self.decode(case)
        image_fp, case_fp = pixel_digest(rgb, mask)
        area = -1 if mask is None else int(mask.sum())
        facts = CaseFacts(case_fp, image_fp, int(rgb.shape[0]), int(rgb.shape[1]), area)
        if on_decoded is not None:
            on_decoded(case, facts, rgb, mask)
        return facts

    def facts(self, *, progress: bool = False, fresh: bool = False,
              on_decoded: OnDecoded | None = None) -> dict[str, CaseFacts]:
        """Fingerprints and sizes of every case, decoding only cases whose files changed since last time.

        "Changed" is judged by the fingerprint index's cheap key (a file's size and modification time, or a zip
        member's CRC): a rewrite that keeps both would be missed. ``fresh`` decodes every file whatever the index
        says (``busbench splits verify``, the explicit integrity check, does), and records what it found.

        Args:
            progress: Show a progress bar on the terminal while decoding.
            fresh: Ignore the index and decode every file.
            on_decoded: Called as ``on_decoded(case, facts, rgb, mask)`` for every case decoded here (in the
                decoding threads, so it must be thread-safe), so that a caller that needs the pixels too decodes
                each file once. Cases whose facts came from the index, or from an earlier call, are not decoded
                and not passed.

        Raises:
            BusbenchError: If any file is corrupt or inconsistent (the first one found is reported).
        """
        if self._facts is not None and not fresh:
            return self._facts
        index = FingerprintIndex(f"{self.kind}:{self.source.identity}")
        facts: dict[str, CaseFacts] = {}
        todo: list[tuple[Case, str]] = []
        for case in self._cases:
            key = self._file_key(case)
            entry = None if fresh else index.get(case.case_id, key)
            if entry is None:
                todo.append((case, key))
            else:
                height, width = entry["shape"]
                facts[case.case_id] = CaseFacts(entry["fp"], entry["image_fp"], height, width, entry["area"])
        if todo:
            workers = min(8, os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = pool.map(lambda item: self._compute(item[0], on_decoded), todo)
                bar = tqdm(results, total=len(todo), desc=f"decoding {self.name}", unit="img", disable=not progress)
                try:
                    for (case, key), f in zip(todo, bar, strict=True):
                        facts[case.case_id] = f
                        index.put(
                            case.case_id,
                            {"key": key, "fp": f.fingerprint, "image_fp": f.image_fingerprint,
                             "shape": [f.height, f.width], "area": f.lesion_pixels},
                        )
                finally:
                    index.save()  # keep what was decoded, even when a later file is broken
        self._facts = {c.case_id: facts[c.case_id] for c in self._cases}
        return self._facts

    def provenance(self, spec: str) -> dict[str, Any]:
        """The ``dataset`` record of a run document: name, fingerprint and the spec the user gave (path or name)."""
        return {"name": self.name, "fingerprint": self.fingerprint(), "spec": spec}

    def fingerprint(self) -> str:
        """Dataset fingerprint: sha256 over every case's id, label, group and pixel fingerprint, in id order."""
        facts = self.facts()
        h = hashlib.sha256(b"busbench-dataset-v1\n")
        for case in sorted(self._cases, key=lambda c: c.case_id):
            h.update(f"{case.case_id}\t{case.label}\t{case.group or ''}\t{facts[case.case_id].fingerprint}\n".encode())
        return h.hexdigest()
