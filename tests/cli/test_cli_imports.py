"""The command line imports only what a command needs: its parser, ``--help`` and ``--version`` nothing heavy, and
``busbench list`` or a misspelled model name no plugin (they read the submission catalog).

Each check runs in a fresh interpreter (what a user's shell starts) and lists the heavy packages it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "timm", "numpy", "scipy", "sklearn", "pandas", "PIL", "cv2", "sqlalchemy",
         "optuna", "streamlit", "importlib.metadata")

_PROBE = """
import sys
from benchmark.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("\\nIMPORTED", " ".join(m for m in {heavy!r} if m in sys.modules))
"""


def imported(argv: list[str]) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running ``busbench ARGV``."""
    out = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True,
                         text=True, check=True).stdout
    return set(out.rsplit("IMPORTED", 1)[1].split())


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["run", "--help"], ["evaluate", "--help"],
                                  ["audit", "--help"], ["splits", "make", "--help"], ["results", "list", "--help"],
                                  ["explain", "--help"], ["tune", "--help"], ["leaderboard", "--help"]])
def test_help_and_version_import_nothing_heavy(argv):
    assert imported(argv) == set()


def test_the_parser_is_the_whole_command_line():
    """Every command is registered although none of their modules is imported before the parser is built."""
    from benchmark.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"data", "splits", "list", "run", "results", "evaluate", "compare", "external", "quickstart", "audit",
            "report", "explain", "tune", "leaderboard"} <= set(commands)


def _run(code: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout


def test_list_and_a_misspelled_name_read_the_catalog_and_import_no_plugin():
    imported(["list"])  # builds the catalog of this checkout's submissions if the cache has none yet
    assert imported(["list"]) <= {"importlib.metadata"}  # the entry points are part of the catalog's key
    assert imported(["list", "small_*", "--json"]) <= {"importlib.metadata"}
    assert imported(["run", "small_cnnn", "--dataset", "x", "--splits", "y"]) <= {"importlib.metadata"}
    out = _run("from benchmark.cli import main; main(['run', 'small_cnnn', '--dataset', 'x', '--splits', 'y'])")
    assert out == ""  # (the error goes to stderr; exit status tested in test_registry)


def test_get_imports_only_the_package_of_its_model():
    imported(["list"])
    out = _run("import sys; from benchmark.plugins import registry; registry.get('small_cnn'); "
               "print(sorted(m for m in sys.modules if m.startswith('busbench_submissions.')), 'timm' in sys.modules)")
    assert out.split() == ["['busbench_submissions.small_cnn']", "False"]


PLUGIN = '''
from torch import nn
from benchmark.plugins import ModelSpec, Submission, register

@register
class Tiny(Submission):
    spec = ModelSpec(name="{name}", task="classification", input_size=32)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
'''


@pytest.mark.slow
def test_the_catalog_follows_a_plugins_files_and_survives_a_corrupt_cache(tmp_path):
    folder = tmp_path / "subs"
    (folder / "tiny").mkdir(parents=True)
    init = folder / "tiny" / "__init__.py"
    init.write_text(PLUGIN.format(name="tiny_first"))
    env = {"BUSBENCH_SUBMISSIONS": str(folder), "BUSBENCH_CACHE_DIR": str(tmp_path / "cache")}
    names = "from benchmark.plugins import registry; print(' '.join(registry.list_models()))"
    assert _run(names, env).split() == ["tiny_first"]
    init.write_text(PLUGIN.format(name="tiny_renamed"))  # an edited plugin: another key, the catalog is rebuilt
    assert _run(names, env).split() == ["tiny_renamed"]
    catalogs = list((tmp_path / "cache" / "plugins").glob("catalog-*.json"))
    assert len(catalogs) == 2
    for path in catalogs:
        path.write_text("{not json")
    assert _run(names, env).split() == ["tiny_renamed"]  # an unreadable catalog is built again
    assert json.loads(max(catalogs, key=lambda p: p.stat().st_mtime_ns).read_text())["models"]
