"""The embedded default dataset: deterministic breast-ultrasound-like phantoms in the BUSI on-disk layout.

``generate`` writes ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` with ``_mask.png`` (and ``_mask_1.png`` for
some two-lesion cases), so the BUSI loader reads it unchanged, plus three ground-truth files beside that folder:

* ``duplicates.csv``: the planted duplicate pairs (``case_a`` original, ``case_b`` copy, ``kind``, both labels and
  a ``detail`` with the transform's parameters);
* ``phantom_facts.csv``: per case the burnt-in extras (colour overlay, calipers/text) and lesion facts;
* ``synthetic.json``: the configuration and generator version.

The phantoms imitate the content of BUSI, not its pixels: multiplicative Rayleigh speckle on layered tissue (skin,
subcutaneous fat with Cooper's ligaments, glandular layer, pectoral muscle, chest wall) with wavy boundaries, depth
attenuation and log compression; hypoechoic lesions that are mostly oval, circumscribed, wider-than-tall and
sometimes enhanced behind when benign, and mostly irregular or spiculated, taller-than-wide, heterogeneous and
shadowing when malignant. The classes overlap on purpose (some benign lesions irregular, some malignant ones oval,
hypoechoic fat lobules with empty masks in normal images), so a classifier learns something but not everything.
Like BUSI, about 8% of the images are copies of others (exact, resized, cropped, flipped, brightness-shifted,
re-encoded), a few of them filed under the other class.

Every image is drawn from its own seed, so the same configuration gives pixel-identical files whatever the number
of worker threads.

Modules: ``config`` (what to generate, spec text, cache key), ``plan`` (which file is which), ``tissue`` and
``lesions`` (echogenicity and speckle), ``phantom`` (one image with its burnt-in extras), ``copies`` (the planted
duplicates' transforms), ``generation`` (writing the files), ``dataset`` (the cached set and its ground truth).
"""

from benchmark.data.synthetic.config import (
    DUPLICATE_KINDS,
    GENERATOR_VERSION,
    SyntheticConfig,
    class_counts_for,
    config_digest,
    parse_synthetic_spec,
    synthetic_spec,
)
from benchmark.data.synthetic.dataset import open_synthetic, phantom_facts, planted_pairs, synthetic_root
from benchmark.data.synthetic.generation import generate
from benchmark.data.synthetic.phantom import render_phantom

__all__ = [
    "DUPLICATE_KINDS",
    "GENERATOR_VERSION",
    "SyntheticConfig",
    "class_counts_for",
    "config_digest",
    "generate",
    "open_synthetic",
    "parse_synthetic_spec",
    "phantom_facts",
    "planted_pairs",
    "render_phantom",
    "synthetic_root",
    "synthetic_spec",
]
