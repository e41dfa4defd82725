"""A warm starter for plugin processes: a fresh interpreter that imports torch once, then forks one child per fold.

A plugin process spends seconds before it trains: the interpreter, ``import torch`` (1.8 s of CPU on a 2-core AMD
EPYC, torch 2.13) and TorchDynamo, which torch's optimizers import when the first one is built (1.4 s more). A tiny
fold trains in less than that. The zygote is started the way a plugin process is (a fresh interpreter, not a fork of
the busbench process; busbench's variables left out of its environment; an empty working folder), imports those
modules and then does nothing but fork. Each fork is one plugin process: it gets the fold's pipes, working folder and
environment from the request, and runs :func:`benchmark.engine.plugin_process.child_main` as a freshly started one
would. The zygote never receives data, so a child holds nothing of another fold; it never runs a torch operation, so
no thread pool or GPU context is forked.

Model libraries are imported in the zygote too, once, when a request asks for them: a fold of a timm or torchvision
model otherwise spends about 3 s of CPU importing them (on the 2-core AMD EPYC) before it trains, in every fold.
The parent asks for those of :data:`PRELOADABLE` that it has imported itself (it imports the submission's module
to read its spec), so a run of a plain torch model does not pay for them. Only these libraries are ever imported
there, never a submission's own code: a plugin's import-time code runs in its own plugin process, where it cannot
reach the next fold's.

The zygote reaps its children and reports each exit status (negative for a signal, as ``subprocess`` does), so the
parent learns that a plugin process was killed (out of memory) as it would for its own child. It exits when the
busbench process that started it closes its end of the socket (or dies); its children end when their pipes close.

Linux only (``os.fork``, ``SOCK_SEQPACKET``, descriptor passing); elsewhere :func:`shared_zygote` returns ``None``
and each plugin process starts its own interpreter.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections import deque
from pathlib import Path

# The zygote makes its own empty working folder before it imports anything, and removes it when it exits: the folder
# outlives neither the zygote nor a busbench process killed before it could clean up.
_BOOT = (
    "import os, sys, tempfile; scratch = tempfile.mkdtemp(prefix='busbench-zygote-'); os.chdir(scratch); "
    "sys.path.insert(0, {root!r}); from benchmark.engine.zygote import zygote_main; zygote_main(scratch)"
)
_MAX_MESSAGE = 1 << 20

#: Libraries the zygote imports before a fork when the requesting process has imported them (trusted code only).
PRELOADABLE = ("torchvision", "timm", "segmentation_models_pytorch")


class ZygoteError(RuntimeError):
    """The zygote is gone (it died or could not start); the caller starts a plugin process of its own instead."""


class Zygote:
    """The parent's handle on a zygote process (see the module docstring); safe to use from several threads."""

    def __init__(self, env: dict[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(Path(__file__).resolve().parents[2])
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", _BOOT.format(root=root), str(theirs.fileno())],
                                          pass_fds=(theirs.fileno(),), cwd=tempfile.gettempdir(), env=env,
                                          stdin=subprocess.DEVNULL, stdout=2, close_fds=True)
        finally:
            theirs.close()
        self._sock = ours
        self._owner = os.getpid()
        self._spawning = threading.Lock()  # one fork request at a time: its answer is the next pid
        self._changed = threading.Condition()
        self._pids: deque[int] = deque()  # forked, not yet handed to spawn's caller
        self._exits: dict[int, int] = {}
        self._alive = True
        threading.Thread(target=self._listen, name="busbench-zygote", daemon=True).start()

    @property
    def usable(self) -> bool:
        """Whether this process started the zygote and it still answers."""
        return self._alive and os.getpid() == self._owner

    def spawn(self, read_fd: int, write_fd: int, cwd: str, env: dict[str, str]) -> int:
        """Fork a plugin process that runs ``child_main`` on these pipe ends, in ``cwd`` with ``env``; its pid.

        Its standard output and error go where this process's standard error goes now (a plugin's prints never mix
        with a command's output), as for a plugin process started on its own.

        Raises:
            ZygoteError: If the zygote is gone.
        """
        preload = [name for name in PRELOADABLE if name in sys.modules]
        request = json.dumps({"cwd": cwd, "env": env, "preload": preload}).encode()
        with self._spawning:  # one request at a time, so the next pid the zygote reports is this request's
            try:
                socket.send_fds(self._sock, [request], [read_fd, write_fd, 2])
            except OSError as exc:
                self._alive = False
                raise ZygoteError(f"the plugin-process zygote is gone ({exc})") from None
            with self._changed:
                while not self._pids and self._alive:
                    self._changed.wait()
                if not self._pids:
                    raise ZygoteError("the plugin-process zygote ended while forking")
                return self._pids.popleft()

    def wait(self, pid: int, timeout: float | None = None) -> int | None:
        """Child ``pid``'s exit code (``-N`` for signal ``N``), waiting up to ``timeout`` s; ``None``: running.

        The code is handed out once (the caller keeps it, as :class:`ForkedChild` does), so a long-lived process
        holds no record of the children it has finished with.
        """
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or not self._alive, timeout)
            if pid in self._exits:
                return self._exits.pop(pid)
        if not self._alive and not Path(f"/proc/{pid}").exists():
            return -signal.SIGKILL  # the zygote died first and cannot tell; the child is gone
        return None

    def close(self) -> None:
        """End the zygote (its children end with their pipes)."""
        try:
            # shutdown, not just close: the listening thread's recv holds the socket open until it returns
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _listen(self) -> None:
        while True:
            try:
                data = self._sock.recv(_MAX_MESSAGE)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self._alive = False
                    self._changed.notify_all()
                    return
                message = json.loads(data)
                if "pid" in message:
                    self._pids.append(int(message["pid"]))
                else:
                    self._exits[int(message["exit"])] = int(message["code"])
                self._changed.notify_all()


class ForkedChild:
    """A plugin process forked by the zygote, with the part of ``subprocess.Popen`` that the parent uses."""

    def __init__(self, zygote: Zygote, pid: int):
        self._zygote, self.pid = zygote, pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; its exit code.

        Raises:
            subprocess.TimeoutExpired: If it is still running after ``timeout`` seconds.
        """
        if self.returncode is None:
            code = self._zygote.wait(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(f"plugin process {self.pid}", timeout or 0.0)
            self.returncode = code
        return self.returncode

    def kill(self) -> None:
        """Kill the process (SIGKILL) unless it has ended."""
        if self.returncode is None:
            self.returncode = self._zygote.wait(self.pid, 0)
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


_lock = threading.Lock()
_shared: Zygote | None = None


def shared_zygote(env: dict[str, str]) -> Zygote | None:
    """This process's zygote, started on first use (``env`` is its environment); ``None`` where forking is not used."""
    global _shared
    if not sys.platform.startswith("linux"):
        return None
    with _lock:
        if _shared is None or not _shared.usable:
            _shared = Zygote(env)
        return _shared


#: The only busbench variables a plugin process inherits (dataset and cache locations and the like are left out).
KEPT_BUSBENCH_VARIABLES = frozenset({"BUSBENCH_KEEP_FREED_MEMORY"})


def plugin_environment() -> dict[str, str]:
    """The plugin process's environment: this one without busbench's variables (see :data:`KEPT_BUSBENCH_VARIABLES`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BUSBENCH_") or k in KEPT_BUSBENCH_VARIABLES}


def warm_up() -> None:
    """Start the zygote that forks plugin processes now, so that it imports torch while this process works on.

    This module imports no torch, so a command can call it first thing, before its own heavy imports and its data
    preparation; a later call (each training starts with one) finds the zygote already running.
    """
    shared_zygote(plugin_environment())


def stop_shared_zygote() -> None:
    """End this process's zygote, if it has one; the next plugin process starts a new one (a benchmark's cold start)."""
    global _shared
    with _lock:
        if _shared is not None and _shared.usable:
            _shared.close()
        _shared = None


# --- the zygote's side -------------------------------------------------------------------------------------------


def _child(read_fd: int, write_fd: int, output_fd: int, cwd: str, env: dict[str, str]) -> None:
    """In the fork: become a plugin process and never return (``os._exit``)."""
    code = 1
    try:
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        from benchmark.engine.plugin_process import child_main

        child_main(read_fd, write_fd)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def zygote_main(scratch: str) -> None:
    """The zygote: import what every plugin process needs, then fork one per request until the parent closes.

    Args:
        scratch: The empty folder it works in; removed when it exits.
    """
    sock = socket.socket(fileno=int(sys.argv[1]))
    sys.argv = [sys.argv[0]]
    import torch  # noqa: F401  (what every plugin process imports)
    import torch._dynamo  # noqa: F401  (what torch's optimizers import when the first one is built)

    import benchmark.engine.plugin_process  # noqa: F401

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        readable, _, _ = select.select([sock.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
            _reap(sock)
        if sock.fileno() not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 3)
        except OSError:
            data, fds = b"", []
        if not data:  # the busbench process is gone or done
            os.chdir("/")
            shutil.rmtree(scratch, ignore_errors=True)
            os._exit(0)
        request = json.loads(data)
        _preload(request.get("preload", ()))
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(wake_read)
            os.close(wake_write)
            _child(fds[0], fds[1], fds[2], request["cwd"], request["env"])
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


def _preload(names: list[str]) -> None:
    """Import the requested model libraries of :data:`PRELOADABLE` that are not imported yet (others are ignored).

    A library that fails to import is left out: the plugin process imports it again and reports the error as a
    plugin process started on its own would.
    """
    from benchmark.compat import ensure_torchvision_importable

    for name in names:
        if name not in PRELOADABLE or name in sys.modules:
            continue
        try:
            ensure_torchvision_importable()  # torchvision (and with it timm and smp) next to a CPU torch
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the child meets the same error and reports it
            pass


def _reap(sock: socket.socket) -> None:
    """Report every child that has ended: ``{"exit": pid, "code": exit code}``."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            sock.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            return
