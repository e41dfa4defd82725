"""The repository's promises: the README's two commands are what CI runs, and the code is ruff clean."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import durations

REPO = Path(__file__).resolve().parents[1]
SETUP = (
    'python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[test]" && .venv/bin/busbench quickstart'
)
TESTS = ".venv/bin/python -m pytest -q"


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_quick_start_has_exactly_the_two_commands():
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert _bash_blocks(quick) == [SETUP, TESTS]


def test_ci_runs_the_readme_commands():
    ci = (REPO / ".ci" / "run").read_text()
    assert 'python3 -m venv .venv' in ci and '-c constraints.txt -e ".[test]"' in ci
    assert TESTS in ci


def test_constraints_pin_every_runtime_dependency():
    def norm(name: str) -> str:  # PEP 503 name normalisation
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = {norm(line.split("==")[0]) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    pyproject = (REPO / "pyproject.toml").read_text()
    deps = re.findall(r'^\s+"([A-Za-z0-9_.-]+)[<>=!~ ]', pyproject.split("dependencies = [", 1)[1].split("]", 1)[0],
                      flags=re.M)
    assert deps and {norm(d) for d in deps} <= pins


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed (pip install -e '.[test]')")
def test_tests_mirror_the_package_layout():
    # tests/<folder>/ for each layer of benchmark/ (and the submissions and the leaderboard); only repository-wide
    # checks sit at the top, beside the shared helpers and fixtures.
    layers = {p.name for p in (REPO / "benchmark").iterdir() if p.is_dir() and any(p.glob("*.py"))}
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - {"fixture_plugins"} <= layers | {"submissions", "leaderboard"}
    top = {p.name for p in (REPO / "tests").glob("test_*.py")}
    assert top == {"test_repo.py", "test_layers.py", "test_run_all.py", "test_fileio.py"}


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    paths = ["benchmark", "tests", "benchmarks", "leaderboard", "submissions"]
    proc = subprocess.run([ruff, "check", *paths], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[test]')")
def test_mypy_clean():
    # pyproject.toml's [tool.mypy] names what is checked (benchmark and leaderboard) and how; the cache
    # (.mypy_cache, ignored by git) makes a rerun take seconds instead of most of a minute.
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_readme_plugin_example_registers_runs_and_conforms(tmp_path):
    text = (REPO / "README.md").read_text()
    section = text.split("## Write a plugin", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    assert len(code.strip().splitlines()) < 30  # "a complete plugin in under 30 lines"
    package = tmp_path / "plugins" / "my_cnn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code)
    env = {**__import__("os").environ, "BUSBENCH_SUBMISSIONS": str(tmp_path / "plugins")}
    busbench = [sys.executable, "-m", "benchmark"]
    listed = subprocess.run([*busbench, "list", "my_*"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("my_cnn"), listed.stderr
    split = tmp_path / "split.json"
    made = subprocess.run([*busbench, "splits", "make", "synthetic:n=30,size=48", "--k", "3", "--val-fraction",
                           "0.5", "--out", str(split)], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    run = subprocess.run([*busbench, "run", "my_cnn", "--dataset", "synthetic:n=30,size=48", "--splits", str(split),
                          "--epochs", "1", "--image-size", "32", "--out", str(tmp_path / "runs")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0 and "balanced_accuracy" in run.stdout, run.stderr
    check = subprocess.run([sys.executable, "-c", "from benchmark.testing import check_submission; "
                            "check_submission('my_cnn')"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stderr


# --- the test files' stored durations (tests/durations.py) and the longest-first order they give the suite ---
REPORT = """\
============================= slowest durations ==============================
12.50s call     tests/engine/test_fault_injection.py::test_a_killed_run[loss:17]
2.00s setup    tests/engine/test_fault_injection.py::test_a_killed_run[loss:17]
0.30s call     tests/metrics/test_metrics_classification.py::test_auc[case 1]
0.01s teardown tests/metrics/test_metrics_classification.py::test_auc[case 1]
(2866 durations < 0.005s hidden.  Use -vv to show these durations.)
1576 passed in 636.57s (0:10:36)
"""


def test_a_durations_report_gives_the_seconds_of_each_file():
    assert durations.file_seconds(REPORT) == {"tests/engine/test_fault_injection.py": 14.5,
                                              "tests/metrics/test_metrics_classification.py": 0.3}


def test_the_stored_figures_name_test_files_that_exist():
    stored = durations.load()
    assert stored, "tests/durations.json is missing or unreadable"
    root = durations.FILE.parents[1]
    assert all((root / name).is_file() for name in stored), [n for n in stored if not (root / n).is_file()]


def test_the_longest_files_are_collected_first(request):
    stored = durations.load()
    order = list(dict.fromkeys(item.path.relative_to(durations.FILE.parents[1]).as_posix()
                               for item in request.session.items))
    weights = [stored.get(name, 0.0) for name in order]
    assert weights == sorted(weights, reverse=True)
