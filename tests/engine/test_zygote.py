"""Plugin processes forked from one warm zygote (``benchmark.engine.zygote``): fresh, reaped, replaced if it dies."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from benchmark.engine import zygote as zygote_module
from benchmark.engine.device import resolve_compute
from benchmark.engine.loop import PluginError, TrainSettings
from benchmark.engine.plugin_process import PluginProcess
from benchmark.engine.tensors import LabelledImages
from benchmark.engine.zygote import PRELOADABLE, ForkedChild, Zygote, shared_zygote, stop_shared_zygote
from benchmark.plugins import registry
from benchmark.plugins.registry import get
from benchmark.results.identity import source_fingerprint

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the zygote forks on Linux only")


def _started(name: str = "small_cnn") -> PluginProcess:
    cls = get(name)
    images = torch.zeros((6, 1, 32, 32), dtype=torch.uint8)
    data = LabelledImages(tuple(f"c{i}" for i in range(6)), images, torch.tensor([0, 1, 2] * 2), None,
                          ("normal", "benign", "malignant"))
    plugin = PluginProcess(cls, source_fingerprint(cls)["sha256"], resolve_compute("cpu", "fp32", 1))
    plugin.load(data, data)
    plugin.start()
    return plugin


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_plugin_processes_are_forked_by_one_zygote_that_never_trained() -> None:
    with _started() as first, _started() as second:
        procs = [first._proc, second._proc]
        assert all(isinstance(p, ForkedChild) for p in procs)
        zygote = shared_zygote({})
        assert zygote is not None and {_parent(p.pid) for p in procs} == {zygote._proc.pid}
        assert procs[0].pid != procs[1].pid
        trained = first.train({**get("small_cnn").spec.defaults, "width": 0.5}, TrainSettings(1, 4, 0, 0), None)
        assert trained.best_epoch == 1
    # closing the pipes ends the children; the zygote reaps them and reports how they ended
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    assert [p.wait() for p in procs] == [0, 0]  # the code is kept by its process handle, not by the zygote
    zygote = shared_zygote({})
    assert zygote is not None and not zygote._pids and not zygote._exits  # nothing piles up per fold


def test_a_killed_plugin_process_is_reported_with_its_signal() -> None:
    with _started() as plugin:
        proc = plugin._proc
        assert isinstance(proc, ForkedChild)
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(PluginError, match=r"ended unexpectedly \(killed by signal 9"):
            plugin.train(get("small_cnn").spec.defaults, TrainSettings(1, 4, 0, 0), None)


def test_a_dead_zygote_is_replaced_by_a_new_one() -> None:
    with _started():
        pass
    old = shared_zygote({})
    assert old is not None
    folder = Path(os.readlink(f"/proc/{old._proc.pid}/cwd"))
    old._proc.kill()  # a zygote killed outright leaves its folder behind (nothing can clean up after SIGKILL)
    deadline = time.time() + 30
    while old.usable and time.time() < deadline:
        time.sleep(0.05)
    with _started() as plugin:
        new = shared_zygote({})
        assert new is not old and isinstance(plugin._proc, ForkedChild) and _parent(plugin._proc.pid) == new._proc.pid
    if folder.name.startswith("busbench-zygote-"):
        shutil.rmtree(folder, ignore_errors=True)


def test_the_zygote_works_in_an_empty_folder_of_its_own_and_removes_it_when_its_parent_is_gone() -> None:
    zygote = Zygote({})
    try:
        deadline = time.monotonic() + 30
        while (folder := Path(os.readlink(f"/proc/{zygote._proc.pid}/cwd"))) == Path(tempfile.gettempdir()):
            assert time.monotonic() < deadline, "the zygote never moved into a folder of its own"
            time.sleep(0.01)
        assert folder.name.startswith("busbench-zygote-") and list(folder.iterdir()) == []
    finally:
        zygote._sock.shutdown(socket.SHUT_RDWR)  # what the kernel does when the busbench process dies, however it dies
    assert zygote._proc.wait(timeout=30) == 0
    assert not folder.exists()
    zygote.close()


# A plugin that records, before it imports anything of its own, which model libraries its process already has.
_PROBE = """
import os, sys
from pathlib import Path
Path(os.environ["PRELOAD_PROBE"], str(os.getpid())).write_text(
    ",".join(m for m in ("timm", "torchvision") if m in sys.modules))
from torch import nn
from benchmark.plugins import ModelSpec, Submission, register

@register
class PreloadProbe(Submission):
    spec = ModelSpec(name="preload_probe", task="classification", authors=("busbench tests",), input_size=32,
                     description="records the libraries imported before it")

    def build_model(self):
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
"""


def test_the_zygote_imports_the_model_libraries_its_parent_has_imported(tmp_path, monkeypatch) -> None:
    import benchmark.models.backbones  # noqa: F401  (timm and torchvision, as a run of a timm model has them)

    (tmp_path / "preload_probe.py").write_text(_PROBE)
    monkeypatch.setenv("PRELOAD_PROBE", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("preload_probe")
    try:
        seen = {}
        for asked in ((), PRELOADABLE):
            monkeypatch.setattr(zygote_module, "PRELOADABLE", asked)
            stop_shared_zygote()  # a new zygote: it has imported torch and nothing else
            with _started("preload_probe") as plugin:
                seen[asked] = (tmp_path / str(plugin._proc.pid)).read_text()
    finally:
        registry.unregister("preload_probe")
        sys.modules.pop("preload_probe", None)
        stop_shared_zygote()
    assert seen == {(): "", PRELOADABLE: "timm,torchvision"}
