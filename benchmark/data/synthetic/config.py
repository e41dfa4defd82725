"""What phantom set to generate: the configuration, its spec text, its cache key and its class counts."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from benchmark.data.busi import BUSI_CLASSES
from benchmark.errors import BusbenchError

#: Bump whenever a change alters generated pixels, so cached phantom sets are regenerated.
GENERATOR_VERSION = "2"

#: BUSI's class counts (780 images); phantom sets keep these proportions.
BUSI_COUNTS = {"benign": 437, "malignant": 210, "normal": 133}

#: Kinds of planted duplicates, in the order they are dealt out (so any set with six or more has all of them).
DUPLICATE_KINDS = ("exact", "flipped", "resized", "cropped", "brightness", "reencoded")

#: Spec options, in the order a spec writes them.
OPTIONS = ("n", "seed", "size", "site")
SITE_NAMES = ("a", "b")

_MIN_N, _MAX_N = 3, 20000
_MIN_SIZE, _MAX_SIZE = 32, 4096


@dataclass(frozen=True)
class SyntheticConfig:
    """What phantom set to generate.

    Attributes:
        n: Number of images, duplicates included (class counts follow BUSI's 437/210/133 proportions).
        seed: Random seed; the same configuration always gives the same pixels.
        size: ``None`` for BUSI-like sizes (about 400-640 px wide, 300-560 px high, varying); an int ``S`` for
            small images whose longer side varies in about ``[0.75 * S, S]``.
        site: The scanner that images the breasts: ``a`` imitates BUSI; ``b`` is another scanner (stronger depth
            fall-off, coarser and smoother speckle, flatter contrast, more gain) imaging other breasts, for
            external validation (``benchmark.data.synthetic.tissue.SITES``).
    """

    n: int = 780
    seed: int = 0
    size: int | None = None
    site: str = "a"


def synthetic_spec(config: SyntheticConfig) -> str:
    """The dataset spec (and dataset name) of a configuration: ``"synthetic"`` for the default, else with options.

    Only options that differ from the default are written, e.g. ``"synthetic:n=60,seed=1,size=96"``; parsing the
    result with :func:`parse_synthetic_spec` gives ``config`` back.
    """
    default = SyntheticConfig()
    parts = [f"{k}={getattr(config, k)}" for k in OPTIONS if getattr(config, k) != getattr(default, k)]
    return "synthetic" + (":" + ",".join(parts) if parts else "")


def parse_synthetic_spec(text: str) -> SyntheticConfig:
    """Parse ``"synthetic"`` or ``"synthetic:n=60,seed=1,size=96"`` into a configuration.

    Args:
        text: The spec; options are comma-separated ``key=value`` with keys ``n`` (3-20000), ``seed`` (>= 0),
            ``size`` (32-4096, or ``none`` for BUSI-like sizes) and ``site`` (``a`` or ``b``).

    Returns:
        The configuration, defaults filled in.

    Raises:
        BusbenchError: On a text that is not a synthetic spec, an unknown or repeated key, or a bad value.
    """
    head, sep, options = text.partition(":")
    if head != "synthetic":
        raise BusbenchError(text, "not a synthetic dataset spec (expected 'synthetic' or 'synthetic:n=...,seed=...')")
    values: dict[str, int | str | None] = {}
    if sep and not options.strip():
        raise BusbenchError(text, "no options after 'synthetic:' (give e.g. synthetic:n=60,seed=1,size=96)")
    for item in options.split(",") if options.strip() else []:
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq or not key:
            raise BusbenchError(text, f"option {item.strip()!r} is not key=value")
        if key not in OPTIONS:
            raise BusbenchError(text, f"unknown option {key!r} (known: {', '.join(OPTIONS)})")
        if key in values:
            raise BusbenchError(text, f"option {key!r} is given twice")
        if key == "site":
            if raw.lower() not in SITE_NAMES:
                raise BusbenchError(text, f"option site={raw!r} is not a site (known: {', '.join(SITE_NAMES)})")
            values[key] = raw.lower()
            continue
        if key == "size" and raw.lower() == "none":
            values[key] = None
            continue
        try:
            value = int(raw)
        except ValueError:
            raise BusbenchError(text, f"option {key}={raw!r} is not a whole number") from None
        low, high = {"n": (_MIN_N, _MAX_N), "seed": (0, 2**63 - 1), "size": (_MIN_SIZE, _MAX_SIZE)}[key]
        if not low <= value <= high:
            raise BusbenchError(text, f"option {key}={value} is out of range ({low} to {high})")
        values[key] = value
    return SyntheticConfig(**values)  # type: ignore[arg-type]


def check_config(config: SyntheticConfig) -> None:
    """Refuse a configuration built in code (not parsed) whose values are out of range.

    Raises:
        BusbenchError: Naming the configuration's spec and the value out of range.
    """
    spec = synthetic_spec(config)
    if not _MIN_N <= config.n <= _MAX_N:
        raise BusbenchError(spec, f"n={config.n} is out of range ({_MIN_N} to {_MAX_N})")
    if config.seed < 0:
        raise BusbenchError(spec, f"seed={config.seed} must not be negative")
    if config.size is not None and not _MIN_SIZE <= config.size <= _MAX_SIZE:
        raise BusbenchError(spec, f"size={config.size} is out of range ({_MIN_SIZE} to {_MAX_SIZE})")
    if config.site not in SITE_NAMES:
        raise BusbenchError(spec, f"site={config.site!r} is not a site (known: {', '.join(SITE_NAMES)})")


def config_digest(config: SyntheticConfig) -> str:
    """Cache key of a configuration under this generator version (16 hex digits)."""
    fields = asdict(config)
    if config.site == "a":  # the default site draws what sets drew before sites existed: their caches stay valid
        del fields["site"]
    text = json.dumps({"config": fields, "version": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def class_counts_for(n: int) -> dict[str, int]:
    """Images per class for a set of ``n``: BUSI proportions by largest remainder, every class at least one.

    Args:
        n: Set size (at least 3).

    Returns:
        Counts keyed by class in BUSI's order (normal, benign, malignant), summing to ``n``.
    """
    total = sum(BUSI_COUNTS.values())
    exact = {c: n * BUSI_COUNTS[c] / total for c in BUSI_CLASSES}
    counts = {c: max(1, math.floor(v)) for c, v in exact.items()}
    # Hand out (or take back) the remainder by largest (smallest) fractional part; ties by BUSI order.
    while sum(counts.values()) < n:
        best = max(BUSI_CLASSES, key=lambda c: exact[c] - counts[c])
        counts[best] += 1
    while sum(counts.values()) > n:
        worst = min((c for c in BUSI_CLASSES if counts[c] > 1), key=lambda c: exact[c] - counts[c])
        counts[worst] -= 1
    return counts
