"""Small helpers shared by the sub-command modules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmark.errors import BusbenchError
from benchmark.plugins import registry


def show_progress() -> bool:
    """Progress bars only when a person watches (stderr is a terminal), never in logs or pipes."""
    return sys.stderr.isatty()


def print_json(obj: Any) -> None:
    """Print an object as indented JSON on stdout."""
    print(json.dumps(obj, indent=2))


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings (``--set``) -> dict; VALUE parsed as JSON when it is JSON, else kept as a string."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BusbenchError("--set", f"expected NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def training_hparams(name: str, sets: list[str], pretrained: bool | None) -> dict[str, Any]:
    """The hyper-parameters a command's ``--set`` and ``--pretrained/--no-pretrained`` override for model ``name``.

    Raises:
        BusbenchError: On a malformed ``--set``, an unknown model, or ``--pretrained`` for a model without weights.
    """
    hparams = parse_assignments(sets)
    if pretrained is not None:
        if "pretrained" in registry.get(name).spec.hparams():
            hparams["pretrained"] = pretrained
        elif pretrained:
            raise BusbenchError(f"model {name!r}", "has no pretrained weights; drop --pretrained")
    return hparams


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that trains a model shares: budget, hyper-parameters, compute and output.

    ``--epochs``, ``--image-size``, ``--set``, ``--pretrained/--no-pretrained``, ``--device``, ``--precision``,
    ``--threads``, ``--out`` and ``--results`` (see ``busbench run --help``).
    """
    parser.add_argument("--epochs", type=int, help="override the submission's epoch budget")
    parser.add_argument("--image-size", type=int, help="override the submission's input size (square, pixels)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a hyper-parameter (repeatable; VALUE is JSON or a string)")
    parser.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                        help="start from pretrained weights found locally (never downloaded); default: the model's")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    parser.add_argument("--results", metavar="URL", help="results store (SQLAlchemy URL; default sqlite in --out)")


def fold_list(text: str) -> tuple[int, ...]:
    """``--folds``: comma-separated fold numbers."""
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated fold numbers, got {text!r}") from exc
