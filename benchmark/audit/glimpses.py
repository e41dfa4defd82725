"""The small views of each image that the audit's later stages use, kept from its one decoding pass.

An audit decodes every image once, for fingerprints (``Dataset.facts``). Mask agreement of duplicate pairs
(``clusters``) and the report's thumbnails (``html``) need the images again, but only shrunk: the grey image
squashed to an ``ALIGN_SIZE`` square (and the same of its mirror image, for flipped pairs), and the RGB image and
mask shrunk to ``THUMB_HEIGHT`` rows. :class:`Glimpses` keeps those views of every image the pass decodes (about
130 KB an image, less than the duplicate detector's own) so that nothing is decoded a second time; a stage given no
glimpse of a case decodes it itself, through the same functions, so both paths give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.data.images import to_grey

#: Side of the squares near duplicates are aligned on (``clusters``).
ALIGN_SIZE = 192
#: Thumbnail height in the report page (``html``).
THUMB_HEIGHT = 110


def align_view(grey: np.ndarray) -> np.ndarray:
    """``grey`` (``uint8``) squashed to an ``ALIGN_SIZE`` square by area averaging."""
    return cv2.resize(grey, (ALIGN_SIZE, ALIGN_SIZE), interpolation=cv2.INTER_AREA)


def align_views(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`align_view` of ``grey`` and of its mirror image (made from the mirror image, not by mirroring)."""
    return align_view(grey), align_view(grey[:, ::-1])


def thumb_view(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``rgb`` shrunk to ``THUMB_HEIGHT`` rows by area averaging, and ``mask`` to the same size (nearest, 0/1)."""
    h, w = rgb.shape[:2]
    width = max(1, round(w * THUMB_HEIGHT / h))
    small = cv2.resize(rgb, (width, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
    if mask is None:
        return small, None
    return small, cv2.resize(mask.astype(np.uint8), (width, THUMB_HEIGHT), interpolation=cv2.INTER_NEAREST)


@dataclass(frozen=True)
class Glimpse:
    """The views of one image.

    Attributes:
        align: :func:`align_view` of the grey image.
        align_mirrored: The same of the grey image mirrored left-right (resizing a mirror image is not always
            the mirror of the resized image to the last bit, so it is made from the mirror image, as before).
        thumb: The RGB image of :func:`thumb_view`.
        thumb_mask: Its mask, or ``None`` when the case has none.
    """

    align: np.ndarray
    align_mirrored: np.ndarray
    thumb: np.ndarray
    thumb_mask: np.ndarray | None


class Glimpses:
    """Glimpses by case id, filled by :meth:`keep` from the audit's decoding pass (safe to call from threads)."""

    def __init__(self) -> None:
        self._by_case: dict[str, Glimpse] = {}

    def keep(self, case_id: str, rgb: np.ndarray, mask: np.ndarray | None, grey: np.ndarray | None = None) -> None:
        """Keep the views of a decoded case: its canonical RGB ``uint8`` image and mask.

        ``grey`` is ``to_grey(rgb)`` when the caller has it already (it is computed otherwise).
        """
        grey = to_grey(rgb) if grey is None else grey
        thumb, thumb_mask = thumb_view(rgb, mask)
        self._by_case[case_id] = Glimpse(*align_views(grey), thumb, thumb_mask)

    def get(self, case_id: str) -> Glimpse | None:
        """The glimpse of a case, or ``None`` when the pass did not decode it (its facts were cached)."""
        return self._by_case.get(case_id)

    def __len__(self) -> int:
        return len(self._by_case)
