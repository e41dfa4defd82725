"""Decoding images and masks into canonical arrays, and hashing those pixels.

Conventions (documented in the README, relied on by fingerprints and splits):

* An image is decoded to RGB ``uint8`` (H, W, 3) whatever its PNG mode: grey (L), palette, 1-bit and 16-bit
  images are expanded; the alpha channel of RGBA/LA images is dropped. This canonical form is what the fingerprint
  hashes, so a lossless re-encode (other compression level, RGB stored as L, palette instead of RGB) keeps it.
* Models get grey ``uint8`` (H, W): ITU-R 601 luma of the canonical RGB (exact for images whose three channels are
  equal, i.e. all but the few colour (Doppler) BUSI images, whose colour is folded into brightness).
* A mask is binarised to ``bool`` (H, W) whatever its mode: a pixel is lesion when its brightest colour channel is
  above half of the value range (alpha ignored). Several masks of one image are united.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
from PIL import Image

from benchmark.errors import BusbenchError

_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def _open(data: bytes, where: str, *, pixels: bool = True) -> Image.Image:
    """The image of file bytes, its pixels decoded unless ``pixels`` is false (then only its header is read)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if pixels:
                img.load()
        return img
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for damaged files
        reason = str(exc) or type(exc).__name__
        raise BusbenchError(where, f"cannot decode image: corrupt or truncated file ({reason})") from exc


def _to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Canonical RGB uint8 pixels of any PIL image (alpha dropped, high bit depths scaled)."""
    if img.mode in _HIGH_BIT_MODES:
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img)
        grey = np.clip(np.round(arr), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB").convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode image file bytes to canonical RGB ``uint8`` of shape (H, W, 3).

    Args:
        data: The encoded file (PNG, or any format Pillow reads).
        where: How to name the file in an error message.

    Raises:
        BusbenchError: If the file cannot be decoded.
    """
    return _to_rgb_uint8(_open(data, where))


def image_shape(data: bytes, where: str) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding its pixels.

    Raises:
        BusbenchError: If the header cannot be read.
    """
    img = _open(data, where, pixels=False)
    return img.height, img.width


def decode_mask(data: bytes, where: str) -> np.ndarray:
    """Decode mask file bytes to a binary ``bool`` array of shape (H, W).

    A pixel is foreground when its largest colour channel exceeds half the value range: 127 for 8-bit masks,
    so {0, 255} masks, 1-bit masks and masks stored as RGB or RGBA all binarise the same way.

    Raises:
        BusbenchError: If the file cannot be decoded.
    """
    img = _open(data, where)
    if img.mode == "1":
        return np.asarray(img, dtype=bool).copy()
    if img.mode in _HIGH_BIT_MODES:
        arr = np.asarray(img)
        return arr > (32767 if img.mode.startswith("I;16") else 0)
    if img.mode == "P":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 3:
        bands = img.getbands()
        colour = [i for i, b in enumerate(bands) if b != "A"] or [0]
        arr = arr[..., colour].max(axis=2)
    return arr > 127


def decode_binary_mask(data: bytes, where: str) -> np.ndarray:
    """Decode a predicted mask that must be binary: pixel values {0, 1} or {0, 255} (or {0, 65535} at 16 bits).

    Saving a boolean numpy mask as 0/1 is as common as saving it as 0/255; both mean the same mask. A mask with any
    other value (a probability or grey map) is refused rather than thresholded behind the user's back.

    Raises:
        BusbenchError: If the file cannot be decoded or holds values other than those two.
    """
    img = _open(data, where)
    if img.mode == "1":
        return np.asarray(img, dtype=bool).copy()
    if img.mode == "P":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 3:
        colour = [i for i, b in enumerate(img.getbands()) if b != "A"] or [0]
        arr = arr[..., colour].max(axis=2)
    values = {int(v) for v in np.unique(arr)}
    top = 65535 if img.mode.startswith("I;16") else 255
    for on in (1, top):
        if values <= {0, on}:
            return arr == on
    shown = ", ".join(str(v) for v in sorted(values)[:6]) + (", ..." if len(values) > 6 else "")
    raise BusbenchError(where, f"is not a binary mask: its pixels take {len(values)} values ({shown}); save 0/1 or "
                               f"0/{top} (threshold a probability map first)")


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of canonical RGB ``uint8`` pixels, as (H, W) ``uint8`` (exact for grey images)."""
    return np.asarray(Image.fromarray(rgb, mode="RGB").convert("L"), dtype=np.uint8)


def pixel_digest(image_rgb: np.ndarray, mask: np.ndarray | None) -> tuple[str, str]:
    """Fingerprints of decoded pixels: (image fingerprint, case fingerprint).

    The image fingerprint is ``sha256(b"busbench-image-v1" + shape + RGB bytes)``; the case fingerprint also covers
    the united binary mask (``b"nomask"`` for datasets without masks), so a changed mask pixel changes it too.

    Args:
        image_rgb: Canonical RGB ``uint8`` pixels (H, W, 3).
        mask: United binary mask (H, W), or ``None`` when the case has no mask.

    Returns:
        Two lowercase hex sha256 strings.
    """
    h = hashlib.sha256(b"busbench-image-v1")
    h.update(np.asarray(image_rgb.shape, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(image_rgb, dtype=np.uint8).tobytes())
    image_fp = h.hexdigest()
    c = hashlib.sha256(b"busbench-case-v1")
    c.update(image_fp.encode())
    if mask is None:
        c.update(b"nomask")
    else:
        c.update(np.asarray(mask.shape, dtype="<i8").tobytes())
        c.update(np.packbits(mask.astype(bool)).tobytes())
    return image_fp, c.hexdigest()


def resize_pair(
    image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize a grey image and its mask to ``size`` = (height, width), ignoring aspect ratio.

    The image is resampled bilinearly with antialiasing; the mask is resampled the same way as 0/255 and
    thresholded at half, so thin structures do not vanish the way nearest-neighbour would let them.
    """
    h, w = size
    img = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
    if mask is None:
        return img, None
    m = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
    return img, np.asarray(m) >= 128
