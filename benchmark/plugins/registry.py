"""The model registry: ``register``, ``create``, ``list_models`` with wildcards, and plugin discovery.

Plugins are found in two places, loaded once on first use:

* packages under a submissions folder: ``$BUSBENCH_SUBMISSIONS`` (``os.pathsep``-separated folders) or, by default,
  ``./submissions`` and the ``submissions/`` folder of the busbench checkout; each ``<folder>/<name>/__init__.py``
  is imported as ``busbench_submissions.<name>`` and registers its models when imported;
* installed distributions exposing an entry point in the group ``busbench.submissions`` (a module, or a callable
  that registers models when called).

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
from importlib.metadata import entry_points
from pathlib import Path

from benchmark.classes import CLASSES
from benchmark.errors import BusbenchError
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


def register(cls: type[Submission]) -> type[Submission]:
    """Class decorator: add a :class:`Submission` subclass to the registry under ``cls.spec.name``.

    Raises:
        BusbenchError: If the class has no spec or its name is registered already.
    """
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
    _models[spec.name] = cls
    _origins[spec.name] = origin
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


def _discover() -> None:
    for folder in submission_folders():
        if not folder.is_dir():
            _errors[str(folder)] = "submissions folder does not exist (check $BUSBENCH_SUBMISSIONS)"
            continue
        for package_dir in sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file()):
            try:
                import_folder_package(package_dir)
            except Exception:
                _record_failure(str(package_dir))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _loaded_entry_points:  # importing twice is harmless, calling a registrar twice is not
            continue
        _loaded_entry_points.add(ep.value)
        try:
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
        except Exception:
            _record_failure(f"entry point {ep.name} ({ep.value})")


def rediscover() -> None:
    """Forget that discovery ran, and its errors (tests that add plugin folders or distributions call this)."""
    global _discovered
    _discovered = False
    _errors.clear()
    _clashes.clear()


def load_errors() -> dict[str, str]:
    """Plugins that failed to import: where -> last line of the error."""
    discover()
    return dict(_errors)


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered model names matching a shell-style wildcard (``"resnet*"``), optionally of one task, sorted."""
    discover()
    return sorted(n for n, cls in _models.items() if fnmatch.fnmatchcase(n, pattern) and task in (None, cls.spec.task))


def available() -> dict[str, type[Submission]]:
    """All registered models, name -> class."""
    discover()
    return dict(_models)


def get(name: str) -> type[Submission]:
    """The submission class registered as ``name``.

    Raises:
        BusbenchError: For an unknown name, with close matches and any plugin that failed to load.
    """
    discover()
    if name in _models:
        return _models[name]
    hint = difflib.get_close_matches(name, list(_models), n=3)
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
