"""Small helpers shared by the sub-command modules."""

from __future__ import annotations

import json
import sys
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
