"""Small helpers shared by the sub-command modules."""

from __future__ import annotations

import json
import sys
from typing import Any


def show_progress() -> bool:
    """Progress bars only when a person watches (stderr is a terminal), never in logs or pipes."""
    return sys.stderr.isatty()


def print_json(obj: Any) -> None:
    """Print an object as indented JSON on stdout."""
    print(json.dumps(obj, indent=2))
