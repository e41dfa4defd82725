"""The package's layers: no module of ``benchmark`` imports from a layer above its own.

Every module under ``benchmark/`` is parsed with ``ast``, never imported, and every import statement counts: at
module level, inside functions and under ``if TYPE_CHECKING:``. A *unit* is a sub-package (``benchmark.data``) or a
top-level module (``benchmark.errors``) of ``benchmark``; imports between the modules of one unit are free. Imports
by name (``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"

# The layers, lowest first: a unit imports only from units of rows *below* its own, so the units of one row are
# independent of one another. Measured from the code, not wished: e.g. ``engine`` imports ``evaluation`` and
# ``results`` (to score and record folds), so both sit below it; ``reports`` reads the audit's protocol table.
# ``benchmark`` is the package's ``__init__`` (``__version__``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("benchmark", "errors", "classes", "compat"),  # import nothing of busbench
    ("fileio", "pretrained"),  # file writing, the cache folder; ImageNet weight files
    ("data", "metrics", "results", "training", "pretrained_lite"),  # datasets (and their duplicates), metric
    # functions, run folders and the results store, augmentation and recipe blocks, the bundled weights
    ("splits", "plugins"),  # split files; the plugin API (its default hooks use ``training``)
    ("evaluation", "models"),  # scoring predictions on a split; the blocks submissions are built from
    ("engine",),  # training and predicting folds
    ("audit", "explain", "testing", "tuning"),  # what drives the engine
    ("reports",),  # the published-results ledger and the README blocks
    ("cli",),  # the ``busbench`` command
    ("__main__",),  # ``python -m benchmark``
)
RANK = {unit: rank for rank, row in enumerate(LAYERS) for unit in row}

# Upward imports that exist and are accepted for now: (importing unit, imported unit) -> why. Empty: fix the
# layering rather than add to it.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    """``benchmark/data/manifest.py`` -> ``benchmark.data.manifest``; a package's ``__init__`` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The unit a ``benchmark`` module belongs to: its sub-package or top-level module (``benchmark`` itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``benchmark`` module that ``source`` (the code of ``module``) imports, anywhere.

    ``from benchmark import x`` names the sub-module ``benchmark.x`` when there is one, else the package itself;
    relative imports are resolved against ``module`` (a package's ``__init__`` when ``is_package``).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = ".".join(package[: len(package) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            if base != "benchmark":
                found.append((node.lineno, base))
                continue
            for alias in node.names:  # from benchmark import data, __version__
                is_module = (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()
                found.append((node.lineno, f"benchmark.{alias.name}" if is_module else base))
    return [(line, name) for line, name in found if name == "benchmark" or name.startswith("benchmark.")]


def upward_imports(path: Path, source: str) -> list[tuple[str, str, str]]:
    """``(where, importing unit, imported unit)`` of every import in ``source`` (the file ``path``) that goes up."""
    module = module_name(path)
    unit = unit_of(module)
    out = []
    for line, target in imported_modules(source, module, path.name == "__init__.py"):
        other = unit_of(target)
        if other != unit and RANK[other] >= RANK[unit]:
            out.append((f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}", unit, other))
    return out


def all_upward_imports() -> list[tuple[str, str, str]]:
    return [found for path in sorted(PACKAGE.rglob("*.py"))
            for found in upward_imports(path, path.read_text(encoding="utf-8"))]


def test_every_unit_is_in_exactly_one_layer():
    listed = [unit for row in LAYERS for unit in row]
    assert len(listed) == len(set(listed))
    on_disk = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert on_disk - set(listed) == set(), "a new package or top-level module: give it a row in LAYERS"
    assert set(listed) - on_disk == set(), "LAYERS names a unit that no longer exists"


def test_no_import_goes_up_a_layer():
    found = [f"{where} ({unit} -> {other})" for where, unit, other in all_upward_imports()
             if (unit, other) not in KNOWN_EXCEPTIONS]
    assert found == [], "imports from a layer above (see LAYERS):\n" + "\n".join(found)


def test_known_exceptions_still_exist():
    pairs = {(unit, other) for _, unit, other in all_upward_imports()}
    assert set(KNOWN_EXCEPTIONS) <= pairs, "an exception was fixed: remove it from KNOWN_EXCEPTIONS"


def test_the_check_sees_every_kind_of_import():
    """A data module importing the command line in each way the parser must see (the check itself is tested)."""
    source = '''
from typing import TYPE_CHECKING

import benchmark.cli
from benchmark import reports, errors
from benchmark.fileio import cache_root
from ..engine import runner

if TYPE_CHECKING:
    from benchmark.tuning.nested import NestedResult


def later():
    from benchmark.audit import report
'''
    found = upward_imports(PACKAGE / "data" / "example.py", source)
    assert sorted(other for _, _, other in found) == ["audit", "cli", "engine", "reports", "tuning"]
    assert all(unit == "data" for _, unit, _ in found)
