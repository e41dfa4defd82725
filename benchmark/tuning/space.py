"""The search space: a submission's ``SearchParam`` dimensions, checked, as JSON and as Optuna distributions.

A space comes from the submission's ``spec.search_space`` or, with ``busbench tune --space FILE``, from a JSON file
of the same shape::

    {"lr": {"kind": "float", "low": 1e-4, "high": 1e-2, "log": true},
     "width": {"kind": "categorical", "choices": [0.5, 1.0]}}

Every problem (no dimensions, an unknown hyper-parameter, bounds the wrong way round, choices Optuna cannot store)
is a :class:`~benchmark.errors.BusbenchError` raised before anything trains.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from benchmark.errors import BusbenchError
from benchmark.fileio import read_json
from benchmark.plugins.spec import SearchParam

_KEYS = {"kind", "low", "high", "log", "choices"}


def param_to_json(param: SearchParam) -> dict[str, Any]:
    """One dimension as JSON (the form ``--space`` files use and studies record)."""
    if param.kind == "categorical":
        return {"kind": "categorical", "choices": list(param.choices)}
    return {"kind": param.kind, "low": param.low, "high": param.high, "log": bool(param.log)}


def space_to_json(space: Mapping[str, SearchParam]) -> dict[str, dict[str, Any]]:
    """The whole space as JSON, names sorted (so equal spaces give equal documents)."""
    return {name: param_to_json(space[name]) for name in sorted(space)}


def _param_from_json(name: str, doc: Any, where: str) -> SearchParam:
    if not isinstance(doc, dict):
        raise BusbenchError(where, f"parameter {name!r} must be an object with a 'kind', not {doc!r}")
    unknown = set(doc) - _KEYS
    if unknown:
        raise BusbenchError(where, f"parameter {name!r} has unknown key(s) {sorted(unknown)} (allowed: "
                            f"{', '.join(sorted(_KEYS))})")
    for key in ("low", "high"):
        value = doc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise BusbenchError(where, f"parameter {name!r}: {key!r} must be a number, not {value!r}")
    if not isinstance(doc.get("log", False), bool):
        raise BusbenchError(where, f"parameter {name!r}: 'log' must be true or false")
    choices = doc.get("choices", [])
    if not isinstance(choices, list):
        raise BusbenchError(where, f"parameter {name!r}: 'choices' must be a list")
    try:
        # an unknown or missing kind is SearchParam's to reject (a BusbenchError, reworded below)
        return SearchParam(doc.get("kind"),  # type: ignore[arg-type]
                           doc.get("low"), doc.get("high"), doc.get("log", False), tuple(choices))
    except BusbenchError as exc:
        raise BusbenchError(where, f"parameter {name!r}: {exc.problem}") from exc


def read_space_file(path: Path) -> dict[str, SearchParam]:
    """A search space from a JSON file (see module docstring); checked only for its own shape here.

    Raises:
        BusbenchError: If the file is missing, not JSON, or a dimension is malformed.
    """
    doc = read_json(path, missing="search-space file does not exist",
                    invalid="cannot read the search space as JSON")
    if not isinstance(doc, dict):
        raise BusbenchError(path, "a search space must be a JSON object: hyper-parameter name -> dimension")
    return {str(name): _param_from_json(str(name), value, str(path)) for name, value in doc.items()}


def check_space(space: Mapping[str, SearchParam], hparams: Mapping[str, Any], where: str) -> None:
    """Check that a space can be tuned for a submission whose hyper-parameters are ``hparams``.

    Args:
        space: The dimensions.
        hparams: The submission's full hyper-parameters (the names a space may vary).
        where: What to name in messages (the model or the ``--space`` file).

    Raises:
        BusbenchError: For an empty space, unknown names, non-finite bounds, integer dimensions with fractional
            bounds, or categorical choices Optuna cannot store (anything but None, bool, int, float, str).
    """
    if not space:
        raise BusbenchError(where, "the search space is empty: nothing to tune (give dimensions with --space FILE)")
    unknown = sorted(set(space) - set(hparams))
    if unknown:
        raise BusbenchError(where, f"search space names unknown hyper-parameter(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(hparams))}")
    for name, p in space.items():
        if p.kind == "categorical":
            bad = [c for c in p.choices if c is not None and not isinstance(c, (bool, int, float, str))]
            if bad:
                raise BusbenchError(where, f"parameter {name!r}: choices must be numbers, strings, booleans or null, "
                                    f"not {bad[0]!r}")
            if len(set(map(json.dumps, p.choices))) != len(p.choices):
                raise BusbenchError(where, f"parameter {name!r}: choices repeat")
            continue
        if not (math.isfinite(float(p.low)) and math.isfinite(float(p.high))):  # type: ignore[arg-type]
            raise BusbenchError(where, f"parameter {name!r}: bounds must be finite numbers")
        if p.kind == "int" and (float(p.low) != int(p.low) or float(p.high) != int(p.high)):  # type: ignore[arg-type]
            raise BusbenchError(where, f"parameter {name!r}: an int dimension needs whole-number bounds")
        if name in ("epochs", "batch_size") and p.kind != "categorical" and float(p.low) < 1:  # type: ignore[arg-type]
            raise BusbenchError(where, f"parameter {name!r}: must be at least 1")


def suggest(trial: optuna.Trial, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """Ask the trial for a value of every dimension (names in sorted order, so sampling is reproducible)."""
    values: dict[str, Any] = {}
    for name in sorted(space):
        p = space[name]
        if p.kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(p.choices))
        elif p.kind == "int":
            values[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            values[name] = trial.suggest_float(name, float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
    return values
