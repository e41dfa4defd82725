"""The model registry: ``register``, ``create``, ``list_models`` with wildcards, and plugin discovery.

Plugins are found in two places, loaded once on first use:

* packages under a submissions folder: ``$BUSBENCH_SUBMISSIONS`` (``os.pathsep``-separated folders) or, by default,
  ``./submissions`` and the ``submissions/`` folder of the busbench checkout; each ``<folder>/<name>/__init__.py``
  is imported as ``busbench_submissions.<name>`` and registers its models when imported;
* installed distributions exposing an entry point in the group ``busbench.submissions`` (a module, or a callable
  that registers models when called).

What discovery finds is kept in the submission catalog (:mod:`benchmark.plugins.catalog`), keyed by the plugins'
files and installed distributions: listing the models, their specs, the load errors or an unknown name's close
matches reads the catalog and imports no plugin, and :func:`get` imports only the package of the model it is asked
for. The catalog is built by importing every plugin whenever a plugin's files change (and on first use).

An unknown name or a second registration of a name is an error. Two plugins that register one name while they are
discovered (an installed plugin and a built-in one, two folders) make every later use of the registry fail, naming
both sources: which model a name means is never decided by loading order. A plugin that fails to import for any
other reason does not stop the others from loading; its error is kept (``load_errors``) and shown by ``busbench
list`` and by ``create``.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.classes import CLASSES
from benchmark.errors import BusbenchError
from benchmark.plugins.catalog import Catalog, catalog_key, read_catalog, write_catalog

if TYPE_CHECKING:  # the base class imports torch: the registry imports it only when a class registers
    from benchmark.plugins.submission import Submission

ENTRY_POINT_GROUP = "busbench.submissions"
_PACKAGE = "busbench_submissions"

_models: dict[str, type[Submission]] = {}
_origins: dict[str, str] = {}
_errors: dict[str, str] = {}
_loaded_entry_points: set[str] = set()
_discovered = False
_discovering = False
#: Names two plugins registered during discovery: name -> (the first source, the second).
_clashes: dict[str, tuple[str, str]] = {}
#: The catalog in use (read or built) until every plugin is imported: see :func:`catalog`.
_catalog: Catalog | None = None
#: The source of each model registered during discovery (a folder or an entry point), for the catalog.
_sources: dict[str, dict[str, str]] = {}
_current_source: dict[str, str] | None = None
#: Each discovered plugin's top module and its source: a model whose class lives there (or below) comes from it,
#: also when its package was imported before this discovery (then it does not register again).
_source_modules: list[tuple[str, dict[str, str]]] = []


def register(cls: type[Submission]) -> type[Submission]:
    """Class decorator: add a :class:`Submission` subclass to the registry under ``cls.spec.name``.

    Raises:
        BusbenchError: If the class has no spec or its name is registered already.
    """
    from benchmark.plugins.submission import Submission

    spec = getattr(cls, "spec", None)
    if spec is None or not isinstance(cls, type) or not issubclass(cls, Submission):
        raise BusbenchError(getattr(cls, "__name__", repr(cls)), "@register needs a Submission subclass with a spec")
    origin = f"{cls.__module__}.{cls.__qualname__}"
    if spec.name in _models:
        if _discovering:
            _clashes.setdefault(spec.name, (_source(_models[spec.name], _origins[spec.name]), _source(cls, origin)))
        raise BusbenchError(
            f"model {spec.name!r}", f"registered twice: by {_origins[spec.name]} and by {origin} (names must be unique)"
        )
    listed = _catalog.models.get(spec.name) if _catalog is not None else None
    if listed is not None and listed["origin"] != origin:  # a plugin not imported yet has the name
        raise BusbenchError(f"model {spec.name!r}", f"registered twice: by {listed['origin']} and by {origin} "
                                                    "(names must be unique)")
    _models[spec.name] = cls
    _origins[spec.name] = origin
    if _discovering and _current_source is not None:
        _sources[spec.name] = dict(_current_source)
    return cls


def _source(cls: type, origin: str) -> str:
    """Where a registered class comes from: its dotted name and file."""
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return f"{origin} ({path})" if path else origin


def _raise_clashes() -> None:
    if _clashes:
        name, (first, second) = next(iter(sorted(_clashes.items())))
        more = f" (and {len(_clashes) - 1} more name(s))" if len(_clashes) > 1 else ""
        raise BusbenchError(f"model {name!r}", f"is registered by two plugins: {first} and {second}{more}; "
                                               "rename or remove one")


def unregister(name: str) -> None:
    """Remove a model (for tests and interactive work)."""
    _models.pop(name, None)
    _origins.pop(name, None)


def submission_folders() -> list[Path]:
    """The folders searched for submission packages (see module docstring)."""
    env = os.environ.get("BUSBENCH_SUBMISSIONS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]  # missing ones are reported by discover()
    checkout = Path(__file__).resolve().parents[2] / "submissions"
    folders = [Path.cwd() / "submissions", checkout]
    unique: list[Path] = []
    for folder in folders:
        if folder.is_dir() and folder.resolve() not in [u.resolve() for u in unique]:
            unique.append(folder)
    return unique


def import_folder_package(package_dir: Path) -> None:
    """Import the submission package in ``package_dir`` as ``busbench_submissions.<name>``, once (it registers models).

    Discovery imports every package this way; a fold's plugin process imports only its own model's package.
    """
    name = f"{_PACKAGE}.{package_dir.name}"
    if name in sys.modules:
        earlier = Path(getattr(sys.modules[name], "__file__", "") or "").parent
        if earlier.resolve() == package_dir.resolve():
            return
        # Two folders holding packages of one name would shadow each other; say so instead of dropping one.
        raise BusbenchError(package_dir, f"a submission package named {package_dir.name!r} was already loaded from "
                                         f"{earlier}; rename one of them")
    if _PACKAGE not in sys.modules:  # a namespace parent so that plugins can use relative imports
        parent = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True))
        parent.__path__ = []
        sys.modules[_PACKAGE] = parent
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        del sys.modules[name]
        raise


def _record_failure(where: str) -> None:
    last = traceback.format_exc().strip().splitlines()[-1]
    _errors[where] = last.removeprefix("benchmark.errors.BusbenchError: ")


def discover() -> None:
    """Import every plugin once (folders first, then entry points)."""
    global _discovered, _discovering
    if _discovered:
        _raise_clashes()
        return
    _discovered = True
    _discovering = True
    try:
        _discover()
    finally:
        _discovering = False
    _raise_clashes()


def _plugin_entry_points() -> list:
    from importlib.metadata import entry_points  # 60 ms: only when plugins are looked for, never for --help

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(ep) -> None:  # noqa: ANN001 (an importlib.metadata.EntryPoint)
    if ep.value in _loaded_entry_points:  # importing twice is harmless, calling a registrar twice is not
        return
    _loaded_entry_points.add(ep.value)
    loaded = ep.load()
    if callable(loaded) and not isinstance(loaded, type):
        loaded()


def _discover() -> None:
    global _current_source
    try:
        for folder in submission_folders():
            if not folder.is_dir():
                _errors[str(folder)] = "submissions folder does not exist (check $BUSBENCH_SUBMISSIONS)"
                continue
            for package_dir in sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file()):
                _current_source = {"folder": str(package_dir.resolve())}
                _source_modules.append((f"{_PACKAGE}.{package_dir.name}", _current_source))
                try:
                    import_folder_package(package_dir)
                except Exception:
                    _record_failure(str(package_dir))
        for ep in _plugin_entry_points():
            _current_source = {"entry_point": ep.name, "value": ep.value}
            _source_modules.append((ep.module.split(".")[0], _current_source))
            try:
                _load_entry_point(ep)
            except Exception:
                _record_failure(f"entry point {ep.name} ({ep.value})")
    finally:
        _current_source = None


def _key() -> str:
    points = [(ep.name, ep.value, getattr(getattr(ep, "dist", None), "version", "") or "")
              for ep in _plugin_entry_points()]
    return catalog_key(submission_folders(), points)


def catalog() -> Catalog:
    """What discovery finds, without importing a plugin when the stored catalog is current (see module docstring).

    The catalog of the current key is read from the cache; without one, every plugin is imported (:func:`discover`)
    and the catalog of what registered is kept for the next process.
    """
    global _catalog
    if _catalog is not None:
        return _catalog
    key = _key()
    found = None if _discovered else read_catalog(key)
    if found is None:
        discover_all = not _discovered
        try:
            discover()
        except BusbenchError:
            if not _clashes:
                raise
        models = {}
        for name, cls in _models.items():
            source = _sources.get(name) or _source_of_module(cls.__module__)
            if source is not None:  # a model registered by code outside the plugins (a script, a test) is not listed
                models[name] = {"spec": cls.spec.to_json(), "origin": _origins[name], "source": source}
        found = Catalog(models=models, errors=dict(_errors), clashes=dict(_clashes))
        if discover_all:
            write_catalog(key, found)
    _catalog = found
    _clashes.update(found.clashes)
    for where, error in found.errors.items():
        _errors.setdefault(where, error)
    return found


def _source_of_module(module: str) -> dict[str, str] | None:
    for top, source in _source_modules:
        if module == top or module.startswith(top + "."):
            return source
    return None


def _import_source(name: str, source: dict[str, str]) -> None:
    """Import the one plugin that registers ``name`` (its package folder or its entry point)."""
    try:
        if "folder" in source:
            import_folder_package(Path(source["folder"]))
        else:
            for ep in _plugin_entry_points():
                if (ep.name, ep.value) == (source.get("entry_point"), source.get("value")):
                    _load_entry_point(ep)
    except BusbenchError:
        raise
    except Exception as exc:
        raise BusbenchError(f"model {name!r}", f"its plugin failed to load: {type(exc).__name__}: {exc}") from exc


def rediscover() -> None:
    """Forget that discovery ran, and its errors (tests that add plugin folders or distributions call this)."""
    global _discovered, _catalog
    _discovered = False
    _catalog = None
    _errors.clear()
    _clashes.clear()
    _sources.clear()
    _source_modules.clear()


def load_errors() -> dict[str, str]:
    """Plugins that failed to import: where -> last line of the error."""
    catalog()
    _raise_clashes()
    return dict(_errors)


def specs(pattern: str = "*", task: str | None = None) -> dict[str, dict]:
    """The specs (:meth:`ModelSpec.to_json`) of the registered models matching ``pattern`` and ``task``, by name.

    Read from the catalog and from models registered in this process; no plugin is imported for it.
    """
    found = {name: entry["spec"] for name, entry in catalog().models.items()}
    _raise_clashes()
    found.update({name: cls.spec.to_json() for name, cls in _models.items()})
    return {n: found[n] for n in sorted(found)
            if fnmatch.fnmatchcase(n, pattern) and task in (None, found[n].get("task"))}


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered model names matching a shell-style wildcard (``"resnet*"``), optionally of one task, sorted."""
    return list(specs(pattern, task))


def available() -> dict[str, type[Submission]]:
    """All registered models, name -> class."""
    discover()
    return dict(_models)


def get(name: str) -> type[Submission]:
    """The submission class registered as ``name``.

    Raises:
        BusbenchError: For an unknown name, with close matches and any plugin that failed to load.
    """
    known = catalog()
    _raise_clashes()
    if name in _models:
        return _models[name]
    entry = known.models.get(name)
    if entry is not None:
        _import_source(name, entry["source"])
        if name in _models:
            return _models[name]
    hint = difflib.get_close_matches(name, list(specs()), n=3)
    extra = f"; did you mean {', '.join(hint)}?" if hint else ""
    broken = f"; {len(_errors)} plugin(s) failed to load (see 'busbench list')" if _errors else ""
    raise BusbenchError(f"model {name!r}", f"is not registered (see 'busbench list'){extra}{broken}")


def create(name: str, hparams: dict | None = None, *, classes: Sequence[str] = CLASSES) -> Submission:
    """Instantiate a registered submission with hyper-parameters over its defaults.

    Args:
        name: The registered name.
        hparams: Hyper-parameters over the spec's defaults.
        classes: Classification: the classes of the head (the split's); one of the spec's ``class_sets()``.
    """
    return get(name)(hparams, classes=classes)
