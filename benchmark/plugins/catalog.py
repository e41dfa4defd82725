"""The submission catalog: every discoverable model's spec and source, known without importing any plugin.

``busbench list``, a misspelled model name and a command that trains one model need the plugins' *specs* (name,
task, input size, weights, authors), and at most the one package whose model runs; importing every submission
package imports torch, timm and torchvision several seconds before anything happens. So discovery's result is
kept in a small JSON file in the busbench cache (``<cache>/plugins/catalog-<key>.json``, see
:func:`benchmark.fileio.cache_root`):

* per model: its spec (:meth:`ModelSpec.to_json`), the class it is (``module.QualName``) and its *source*: the
  submission package folder or the entry point that registered it;
* the plugins that failed to import, with their errors, and any name two plugins registered (a clash).

The key is a hash of everything discovery reads: each submissions folder and, in it, every file of every package
(relative path, size, modification time in nanoseconds), the entry points of the ``busbench.submissions`` group
(name, value and their distribution's version), the busbench version and the Python version. Any change to a
plugin's files, an installed or removed plugin distribution, or another busbench gives another key: the catalog
is then built again by importing every plugin, as discovery always did. Nothing is trusted that the key does not
cover, and a catalog that cannot be read is built again; one that cannot be written is only kept in memory.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchmark
from benchmark.errors import BusbenchError
from benchmark.fileio import atomic_write_json, cache_root

FORMAT = "busbench-catalog/1"


@dataclass
class Catalog:
    """What discovery found, as data.

    Attributes:
        models: Model name -> ``{"spec": ..., "origin": "module.QualName", "source": {"folder": path} or
            {"entry_point": "name", "value": "module:attr"}}``.
        errors: Plugins that failed to import: where -> the last line of the error.
        clashes: Names two plugins registered: name -> (the first source, the second), as the registry words them.
    """

    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    clashes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The catalog as a JSON-ready dict (with its format)."""
        return {"format": FORMAT, "models": self.models, "errors": self.errors,
                "clashes": {k: list(v) for k, v in self.clashes.items()}}

    @classmethod
    def from_json(cls, doc: Any) -> Catalog:
        """Read :meth:`to_json`'s dict back.

        Raises:
            ValueError: If ``doc`` is not a catalog of this format.
        """
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a busbench catalog of format " + FORMAT)
        models, errors, clashes = doc.get("models"), doc.get("errors"), doc.get("clashes")
        if not isinstance(models, dict) or not isinstance(errors, dict) or not isinstance(clashes, dict):
            raise ValueError("a catalog needs 'models', 'errors' and 'clashes' objects")
        for name, entry in models.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("spec"), dict) or \
                    not isinstance(entry.get("source"), dict):
                raise ValueError(f"model {name!r} has no spec or source")
        return cls(dict(models), {str(k): str(v) for k, v in errors.items()},
                   {str(k): (str(v[0]), str(v[1])) for k, v in clashes.items()})


def _folder_state(folder: Path) -> list[Any]:
    """What the key covers of one submissions folder: every package file's path, size and mtime (ns)."""
    if not folder.is_dir():
        return [str(folder), None]
    files = []
    for package in sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file()):
        for path in sorted(package.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            stat = path.stat()
            files.append([str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns])
    return [str(folder.resolve()), files]


def catalog_key(folders: list[Path], entry_points: list[tuple[str, str, str]]) -> str:
    """The hash that names a catalog: the folders' files, the entry points, busbench's and Python's versions.

    Args:
        folders: The submissions folders, in discovery order.
        entry_points: ``(name, value, distribution version)`` of each entry point of the plugin group.
    """
    state = {"busbench": benchmark.__version__, "python": platform.python_version(),
             "folders": [_folder_state(f) for f in folders], "entry_points": sorted(entry_points)}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def catalog_path(key: str) -> Path:
    """Where the catalog of ``key`` is kept."""
    return cache_root() / "plugins" / f"catalog-{key}.json"


def read_catalog(key: str) -> Catalog | None:
    """The stored catalog of ``key``, or ``None`` when there is none or it cannot be read (it is built again)."""
    try:
        return Catalog.from_json(json.loads(catalog_path(key).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def write_catalog(key: str, catalog: Catalog) -> None:
    """Keep the catalog of ``key`` (atomically); a cache that cannot be written is left alone."""
    try:
        atomic_write_json(catalog_path(key), catalog.to_json())
    except (OSError, BusbenchError):
        pass
