"""The model registry: registering, listing, errors, folder plugins and entry-point plugins of an installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from torch import nn

from benchmark.errors import BusbenchError
from benchmark.plugins import (
    ModelSpec,
    Submission,
    create,
    get,
    list_models,
    load_errors,
    register,
    registry,
    unregister,
)
from benchmark.plugins.catalog import Catalog

REPO = Path(__file__).resolve().parents[2]
BUSBENCH = Path(sys.executable).with_name("busbench")

PLUGIN = """
from torch import nn
from benchmark.plugins import ModelSpec, Submission, register

@register
class Plugin(Submission):
    spec = ModelSpec(name={name!r}, task={task!r}, authors=("Test",), description="registry test model")

    def build_model(self):
        return nn.Linear(1, 3)
"""


def write_plugin(folder: Path, package: str, name: str, task: str = "classification") -> Path:
    (folder / package).mkdir(parents=True, exist_ok=True)
    (folder / package / "__init__.py").write_text(PLUGIN.format(name=name, task=task))
    return folder / package


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch):
    """Each test sees the registry as it was, may change it freely, and leaves it exactly as it was found."""
    before = (registry.available(), dict(registry._origins), registry.load_errors(), registry._discovered)
    modules = set(sys.modules)
    monkeypatch.setattr(registry, "_models", dict(registry._models))
    monkeypatch.setattr(registry, "_origins", dict(registry._origins))
    monkeypatch.setattr(registry, "_errors", dict(registry._errors))
    monkeypatch.setattr(registry, "_discovered", registry._discovered)
    monkeypatch.setattr(registry, "_clashes", dict(registry._clashes))
    monkeypatch.setattr(registry, "_catalog", registry._catalog)
    monkeypatch.setattr(registry, "_sources", dict(registry._sources))
    monkeypatch.setattr(registry, "_source_modules", list(registry._source_modules))
    yield
    monkeypatch.undo()
    for name in set(sys.modules) - modules:  # plugin packages imported by the test
        if name.startswith("busbench_submissions.") or name.startswith("tiny_plugin"):
            del sys.modules[name]
    assert (registry.available(), dict(registry._origins), registry.load_errors(), registry._discovered) == before


def model(name: str, task: str = "classification") -> type[Submission]:
    class Plugin(Submission):
        spec = ModelSpec(name=name, task=task)  # type: ignore[arg-type]

        def build_model(self) -> nn.Module:
            return nn.Linear(1, 3)

    return Plugin


def test_register_create_and_list_with_wildcards_and_task() -> None:
    for name, task in [("zz_alpha", "classification"), ("zz_beta", "segmentation"), ("zz_alps", "classification")]:
        register(model(name, task))
    assert list_models("zz_*") == ["zz_alpha", "zz_alps", "zz_beta"]
    assert list_models("zz_al?s") == ["zz_alps"]
    assert list_models("zz_*", task="segmentation") == ["zz_beta"]
    assert list_models("zz_*", task="classification") == ["zz_alpha", "zz_alps"]
    assert list_models("ZZ_*") == []  # names are lower case; matching is case-sensitive
    made = create("zz_alpha", {"lr": 0.5})
    assert isinstance(made, get("zz_alpha")) and made.hparams["lr"] == 0.5 and made.hparams["epochs"] == 20
    with pytest.raises(BusbenchError, match="unknown hyper-parameter"):
        create("zz_alpha", {"learning_rate": 0.5})
    unregister("zz_alps")
    assert list_models("zz_*") == ["zz_alpha", "zz_beta"]


def test_baselines_are_registered_from_the_checkout() -> None:
    assert {"small_cnn", "resnet18", "efficientnet_b0", "unet_resnet18"} <= set(list_models())
    assert list_models("*", task="segmentation") == [n for n in list_models() if get(n).spec.task == "segmentation"]


def test_unknown_name_suggests_close_matches() -> None:
    register(model("zz_alpha"))
    with pytest.raises(BusbenchError) as caught:
        get("zz_alpah")
    assert caught.value.where == "model 'zz_alpah'"
    assert "is not registered (see 'busbench list'); did you mean zz_alpha?" in caught.value.problem
    with pytest.raises(BusbenchError, match="is not registered") as caught:
        create("qqqqqq")
    assert "did you mean" not in str(caught.value)


def test_duplicate_registration_names_both_origins() -> None:
    register(model("zz_twice"))
    with pytest.raises(BusbenchError) as caught:
        register(model("zz_twice"))
    origin = f"{__name__}.model.<locals>.Plugin"
    assert caught.value.problem == f"registered twice: by {origin} and by {origin} (names must be unique)"
    with pytest.raises(BusbenchError, match="registered twice: by busbench_submissions.small_cnn.SmallCNN and by"):
        register(model("small_cnn"))


def test_register_needs_a_submission_with_a_spec() -> None:
    class NoSpec(Submission):
        pass

    with pytest.raises(BusbenchError, match="needs a Submission subclass with a spec"):
        register(NoSpec)
    with pytest.raises(BusbenchError, match="needs a Submission subclass with a spec"):
        register(object)  # type: ignore[arg-type]


def test_environment_folders_and_a_broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write_plugin(first, "zz_good_pkg", "zz_good")
    (first / "zz_broken_pkg").mkdir()
    (first / "zz_broken_pkg" / "__init__.py").write_text("raise ImportError('needs a library that is not here')\n")
    write_plugin(first, "zz_clash_pkg", "small_cnn")  # takes a baseline's name
    write_plugin(second, "zz_other_pkg", "zz_other", "segmentation")
    (second / "not_a_package").mkdir()  # no __init__.py: ignored
    monkeypatch.setenv("BUSBENCH_SUBMISSIONS", os.pathsep.join([str(first), str(second)]))
    monkeypatch.setattr(registry, "_models", {})
    monkeypatch.setattr(registry, "_origins", {})
    monkeypatch.setattr(registry, "_errors", {})
    registry.rediscover()

    assert registry.submission_folders() == [first, second]
    assert list_models() == ["small_cnn", "zz_good", "zz_other"]  # the broken plugin hides nothing
    assert get("small_cnn").__module__ == "busbench_submissions.zz_clash_pkg"  # only the env folders are searched
    errors = load_errors()
    assert errors == {str(first / "zz_broken_pkg"): "ImportError: needs a library that is not here"}
    with pytest.raises(BusbenchError, match=r"1 plugin\(s\) failed to load"):
        get("zz_missing")


def test_a_plugin_taking_a_baselines_name_fails_every_use_of_the_registry(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    write_plugin(tmp_path, "zz_clash_pkg", "small_cnn")
    write_plugin(tmp_path, "zz_innocent_pkg", "zz_innocent")
    monkeypatch.setenv("BUSBENCH_SUBMISSIONS", os.pathsep.join([str(REPO / "submissions"), str(tmp_path)]))
    registry.rediscover()
    both = (f"model 'small_cnn': is registered by two plugins: busbench_submissions.small_cnn.SmallCNN "
            f"({REPO / 'submissions' / 'small_cnn' / '__init__.py'}) and busbench_submissions.zz_clash_pkg.Plugin "
            f"({tmp_path / 'zz_clash_pkg' / '__init__.py'}); rename or remove one")
    for use in (lambda: get("small_cnn"), lambda: get("zz_innocent"), list_models, load_errors, registry.available):
        with pytest.raises(BusbenchError) as info:
            use()
        assert str(info.value) == both


@pytest.mark.slow
def test_the_command_line_refuses_a_name_clash_naming_both_sources(tmp_path: Path) -> None:
    write_plugin(tmp_path, "zz_clash_pkg", "small_cnn")
    env = {**os.environ, "BUSBENCH_SUBMISSIONS": os.pathsep.join([str(REPO / "submissions"), str(tmp_path)])}
    for argv in (["list"], ["run", "small_cnn", "--dataset", "synthetic:n=45,size=48", "--splits", "x.json"]):
        done = subprocess.run([sys.executable, "-m", "benchmark", *argv], capture_output=True, text=True, env=env,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "is registered by two plugins" in done.stderr
        assert str(tmp_path / "zz_clash_pkg") in done.stderr and "submissions/small_cnn" in done.stderr


def test_same_package_name_in_two_folders_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path / "a", "plugin", "zz_from_a")
    write_plugin(tmp_path / "b", "plugin", "zz_from_b")
    monkeypatch.setenv("BUSBENCH_SUBMISSIONS", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    registry.rediscover()
    assert list_models("zz_from_*") == ["zz_from_a"]
    errors = load_errors()
    assert any("already loaded from" in e and "rename one" in e for e in errors.values()), errors


def test_missing_submissions_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSBENCH_SUBMISSIONS", str(tmp_path / "nowhere"))
    registry.rediscover()
    assert load_errors() == {str(tmp_path / "nowhere"): "submissions folder does not exist (check "
                             "$BUSBENCH_SUBMISSIONS)"}


# --- entry points of an installed distribution ----------------------------------------------------------------------
DIST = "busbench-tiny-plugin"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and pip-install a tiny plugin distribution into a private folder; return that folder.

    ``pip install --target`` keeps the shared virtual environment unchanged: the distribution (with its
    ``entry_points.txt``) is visible only to processes that put the folder on their path.
    """
    src = tmp_path_factory.mktemp("tiny-plugin-src")
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{DIST}"
        version = "0.0.1"

        [project.entry-points."busbench.submissions"]
        tiny = "tiny_plugin"
        tiny_more = "tiny_plugin.more:register_more"
        tiny_broken = "tiny_plugin.broken"

        [tool.setuptools]
        packages = ["tiny_plugin"]
    """))
    package = write_plugin(src, "tiny_plugin", "tiny_ep")
    (package / "more.py").write_text(textwrap.dedent("""
        from torch import nn
        from benchmark.plugins import ModelSpec, Submission, register

        def register_more():
            class More(Submission):
                spec = ModelSpec(name="tiny_ep_more", task="segmentation", authors=("Test",), description="more")

                def build_model(self):
                    return nn.Conv2d(1, 1, 1)

            register(More)
    """))
    (package / "broken.py").write_text("raise RuntimeError('tiny_plugin.broken cannot load')\n")
    site = tmp_path_factory.mktemp("tiny-plugin-site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--disable-pip-version-check", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"pip could not install the tiny plugin:\n{done.stdout}\n{done.stderr}")
    return site


def test_entry_point_plugin_shows_in_busbench_list(installed_plugin: Path, tmp_path: Path) -> None:
    assert list((installed_plugin).glob("busbench_tiny_plugin-0.0.1.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": str(installed_plugin), "BUSBENCH_SUBMISSIONS": str(tmp_path)}
    shown = subprocess.run([str(BUSBENCH), "list", "tiny*"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["tiny_ep", "classification"], ["tiny_ep_more", "segmentation"]]
    assert "failed to load entry point tiny_broken (tiny_plugin.broken): RuntimeError: tiny_plugin.broken cannot " \
           "load" in shown.stderr


def test_entry_point_plugin_is_invisible_without_its_folder(installed_plugin: Path) -> None:
    # The shared environment did not change: neither the distribution nor the model is visible here.
    with pytest.raises(PackageNotFoundError):
        distribution(DIST)
    assert "tiny_ep" not in list_models()


def test_entry_point_plugin_in_process(installed_plugin: Path, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(installed_plugin))
    monkeypatch.setenv("BUSBENCH_SUBMISSIONS", str(tmp_path))
    registry.rediscover()
    assert list_models("tiny*") == ["tiny_ep", "tiny_ep_more"]
    assert create("tiny_ep_more").spec.task == "segmentation"
    broken = load_errors()["entry point tiny_broken (tiny_plugin.broken)"]
    assert broken == "RuntimeError: tiny_plugin.broken cannot load"


def test_a_catalog_built_after_rediscover_lists_the_plugins_imported_before(monkeypatch, tmp_path):
    """Packages imported before a rediscovery do not register again; the catalog still lists their models."""
    registry.get("small_cnn")  # its package is imported now
    monkeypatch.setenv("BUSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    registry.rediscover()
    listed = registry.catalog().models
    assert listed["small_cnn"]["source"]["folder"].endswith("small_cnn")
    assert registry.get("small_cnn").spec.name == "small_cnn"
    assert "small_cnn" in Catalog.from_json(json.loads(next((tmp_path / "cache" / "plugins").glob("*.json"))
                                                        .read_text())).models
