"""The process a fold's plugin code runs in: it is given training cases and bare test images, never test truth.

Every hook of a submission that trains or predicts (``build_model``, ``configure_optimizers``, ``augment``,
``loss``, the model's forward and ``predict``) runs in a child process started for one fold (or, in ``busbench
tune``, for one outer fold's study and then its final training). The parent, which opened the dataset and owns
the ground truth, sends the child what the fold may see: the training and selection cases with their labels and
masks, and later the test images as a bare uint8 tensor, without case ids. The child sends back epoch scores,
the selected epoch and the test probabilities; the parent writes the predictions and scores them. So no object the
plugin can reach (the call stack, the garbage collector, module globals, ``sys.argv``, the environment, the working
folder) holds a test label, a test mask or the dataset's location:

* the child is a fresh interpreter (not a fork of the parent), started with no arguments but two pipe numbers, or
  on Linux a fork of a zygote that is such an interpreter and has only imported modules, never held data
  (:mod:`benchmark.engine.zygote`: it saves each fold the seconds of importing torch);
* its environment is the parent's without busbench's own variables (``BUSBENCH_BUSI``, ``BUSBENCH_CACHE_DIR``...);
* it works in an empty scratch folder, deleted when it ends;
* it imports the submission's own module (not every plugin) and checks that its source files are those the run's
  identity hashed.

This prevents accidental leakage by construction. It is not a sandbox: a plugin written to cheat can still look for
BUSI on disk (it is public) or read another process's memory; that is out of scope and shows only when the run is
repeated with other code (README, "What busbench guarantees").

Messages are length-prefixed ``torch.save`` payloads read with ``weights_only=True`` in both directions, so a
message holds tensors and plain data only and unpickling one cannot run code. The child exits when the parent's end
of its pipe closes, so a killed parent never leaves it training.
"""

from __future__ import annotations

import io
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

from benchmark.engine.device import ComputeSetup
from benchmark.engine.loop import PluginError, TrainSettings
from benchmark.engine.tensors import LabelledImages
from benchmark.engine.zygote import ForkedChild, ZygoteError, plugin_environment, shared_zygote
from benchmark.errors import BusbenchError
from benchmark.plugins.submission import Submission

_HEADER = struct.Struct("<Q")
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from benchmark.engine.plugin_process import child_main; child_main()")


@dataclass(frozen=True)
class TrainedFold:
    """What training in the plugin process returns.

    Attributes:
        best_epoch: The selected epoch (1-based).
        history: One record per epoch (``epoch``, ``train_loss``, ``val_score``, ``seconds``).
        params: The model's parameter count.
    """

    best_epoch: int
    history: list[dict[str, float]]
    params: int


class StopTraining(Exception):
    """Raised in the plugin process by the epoch callback when the parent asks it to stop (a pruned trial)."""


# --- framing ---------------------------------------------------------------------------------------------------------


def _encode(message: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def _decode(payload: bytes) -> dict[str, Any]:
    message = torch.load(io.BytesIO(payload), weights_only=True)
    if not isinstance(message, dict):
        raise ValueError("a message is not a dictionary")
    return message


def _write(stream: BinaryIO, message: dict[str, Any]) -> None:
    payload = _encode(message)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read(fd: int) -> dict[str, Any] | None:
    """The next message on ``fd``, or ``None`` when the other end closed."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if payload is None else _decode(payload)


def _images(data: LabelledImages) -> dict[str, Any]:
    """Training-side cases as a message part: pixels, labels, masks and class names; case ids stay with the parent."""
    return {"images": data.images.cpu(), "labels": data.labels.cpu(),
            "masks": None if data.masks is None else data.masks.cpu(), "classes": list(data.classes)}


def _labelled(part: dict[str, Any]) -> LabelledImages:
    n = part["images"].shape[0]
    return LabelledImages(tuple(f"case-{i}" for i in range(n)), part["images"], part["labels"], part["masks"],
                          tuple(part["classes"]))


# --- the parent's side -------------------------------------------------------------------------------------------


def _importable(cls: type[Submission]) -> dict[str, Any]:
    """Where the plugin process finds ``cls``: its module, qualified name and (folder plugins) package folder.

    Raises:
        BusbenchError: For a class the plugin process could not import (defined in ``__main__`` or in a function).
    """
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        where = "__main__" if module == "__main__" else "a function"
        raise BusbenchError(f"model {cls.spec.name!r}", f"is defined in {where}; busbench trains each fold in a "
                            "separate process that imports the model's module, so define the class at the top level "
                            "of a plugin package or an importable module")
    package_dir = None
    top = module.split(".")[:2]
    if top[0] == "busbench_submissions" and len(top) == 2:  # a submissions-folder plugin (benchmark.plugins.registry)
        package_dir = str(Path(sys.modules[".".join(top)].__file__ or "").parent)
    return {"module": module, "qualname": qualname, "package_dir": package_dir}


class PluginProcess:
    """A child process that runs one submission's code on the data the parent gives it (see module docstring).

    Use as a context manager. The process starts on the first :meth:`train`, so a command that finds nothing to
    train starts none; :meth:`load` sends it the training-side data once, and each :meth:`train` may be followed by
    one :meth:`predict`.

    Args:
        cls: The registered submission class.
        code_sha256: The hash of its source files that the run's identity recorded
            (:func:`benchmark.results.identity.source_fingerprint`); the process refuses other code.
        compute: Device, precision and threads (applied in the process).
    """

    def __init__(self, cls: type[Submission], code_sha256: str, compute: ComputeSetup):
        self._opening = {"op": "open", **_importable(cls), "name": cls.spec.name, "code": code_sha256,
                         "compute": asdict(compute), "sys_path": [os.path.abspath(p) for p in sys.path]}
        self._data: dict[str, Any] | None = None
        self._proc: subprocess.Popen[bytes] | ForkedChild | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._to_child: BinaryIO | None = None
        self._from_child = -1

    def __enter__(self) -> PluginProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, train: LabelledImages, select: LabelledImages) -> None:
        """The cases the plugin trains on and selects its epoch on (sent when the process starts)."""
        self._data = {"op": "load", "train": _images(train), "select": _images(select)}
        if self._proc is not None:
            self._request(self._data, "loaded")

    def train(self, hparams: dict[str, Any], settings: TrainSettings, checkpoint: Path | None,
              on_epoch: Callable[[int, float], None] | None = None) -> TrainedFold:
        """Train a fresh model on the loaded cases, as :func:`benchmark.engine.loop.train_fold` does.

        Args:
            hparams: The submission's hyper-parameters.
            settings: Epochs, batch size, seed and fold.
            checkpoint: Where each epoch's state is kept and resumed from; ``None``: no checkpoint (a tuning trial or
                another fold that is not resumable: nothing resumes them).
            on_epoch: Called in this process as ``on_epoch(epoch, val_score)`` after each epoch; an exception it
                raises stops the training in the plugin process and propagates from here.

        Raises:
            PluginError: If the submission's code fails, or its process dies.
        """
        self.start()
        message = {"op": "train", "hparams": hparams, "settings": asdict(settings),
                   "checkpoint": None if checkpoint is None else str(checkpoint), "report": on_epoch is not None}
        self._send(message)
        while True:
            reply = self._receive()
            if reply.get("event") != "epoch":
                break
            try:
                assert on_epoch is not None
                on_epoch(int(reply["epoch"]), float(reply["score"]))
            except Exception:  # a pruned trial: the process stops training and waits for the next request
                self._send({"op": "stop"})
                self._expect(self._receive(), "stopped")
                raise
            self._send({"op": "continue"})
        self._expect(reply, "trained")
        return TrainedFold(int(reply["best_epoch"]), list(reply["history"]), int(reply["params"]))

    def predict(self, images: torch.Tensor, batch_size: int, weights: Path | None) -> tuple[torch.Tensor,
                                                                                             dict[str, Any]]:
        """Probabilities of the trained model for uint8 images (N, 1, S, S); its weights are written to ``weights``.

        Returns:
            The probabilities (on the CPU) and the plugin process's peak memory since the training started.

        Raises:
            PluginError: If the submission's code fails, or its process dies.
        """
        reply = self._request({"op": "predict", "images": images.cpu(), "batch_size": batch_size,
                               "weights": None if weights is None else str(weights)}, "predicted")
        return reply["probs"], dict(reply["memory"])

    def close(self) -> None:
        """End the process (closing its pipe ends it) and delete its scratch folder."""
        if self._to_child is not None:
            try:
                self._to_child.close()
            except OSError:
                pass
            self._to_child = None
        if self._from_child >= 0:
            os.close(self._from_child)
            self._from_child = -1
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    # --- internals ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process now (the first :meth:`train` does it otherwise): it imports the model and gets the cases.

        Raises:
            BusbenchError: If the process cannot import the model, or its source files differ from the run's.
        """
        if self._proc is not None:
            return
        if self._data is None:
            raise RuntimeError("PluginProcess.load must come before train")
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        self._scratch = tempfile.TemporaryDirectory(prefix="busbench-plugin-")
        try:
            self._proc = self._launch(child_read, child_write, self._scratch.name)
        finally:
            os.close(child_read)
            os.close(child_write)
        self._to_child = os.fdopen(parent_write, "wb")
        self._from_child = parent_read
        self._request(self._opening, "opened")
        self._request(self._data, "loaded")

    @staticmethod
    def _launch(read_fd: int, write_fd: int, cwd: str) -> subprocess.Popen[bytes] | ForkedChild:
        """Start the child on these pipe ends: forked by the zygote where there is one, else a new interpreter."""
        env = plugin_environment()
        zygote = shared_zygote(env)
        if zygote is not None:
            try:
                return ForkedChild(zygote, zygote.spawn(read_fd, write_fd, cwd, env))
            except ZygoteError as exc:
                print(f"busbench: {exc}; starting the plugin process on its own", file=sys.stderr)
        root = str(Path(__file__).resolve().parents[2])
        # stdout goes to stderr: a plugin's prints never mix with a command's output.
        return subprocess.Popen([sys.executable, "-c", _BOOT.format(root=root), str(read_fd), str(write_fd)],
                                pass_fds=(read_fd, write_fd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=2, close_fds=True)

    def _send(self, message: dict[str, Any]) -> None:
        assert self._to_child is not None
        try:
            _write(self._to_child, message)
        except BrokenPipeError:
            raise self._died() from None

    def _receive(self) -> dict[str, Any]:
        reply = _read(self._from_child)
        if reply is None:
            raise self._died()
        return reply

    def _request(self, message: dict[str, Any], expected: str) -> dict[str, Any]:
        self._send(message)
        return self._expect(self._receive(), expected)

    @staticmethod
    def _expect(reply: dict[str, Any], expected: str) -> dict[str, Any]:
        event = reply.get("event")
        if event == expected:
            return reply
        if event == "failed":
            raise PluginError(str(reply["error"]))
        if event == "refused":
            raise BusbenchError(str(reply["where"]), str(reply["problem"]))
        if event == "crashed":
            print(reply["traceback"], file=sys.stderr, end="")
            raise RuntimeError(f"the plugin process failed: {reply['error']}")
        raise RuntimeError(f"the plugin process answered {event!r}, expected {expected!r}")

    def _died(self) -> PluginError:
        assert self._proc is not None
        code = self._proc.wait()
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return PluginError(f"the plugin's process ended unexpectedly ({how}; out of memory, or the plugin exited?)")


# --- the child's side --------------------------------------------------------------------------------------------


class _Child:
    """The plugin process's state: the submission class, the compute setup, the loaded cases, the trained model."""

    def __init__(self, inbox: queue.Queue[dict[str, Any]], outbox: BinaryIO):
        self.inbox, self.outbox = inbox, outbox
        self.cls: type[Submission] | None = None
        self.compute: ComputeSetup | None = None
        self.train: LabelledImages | None = None
        self.select: LabelledImages | None = None
        self.submission: Submission | None = None
        self.model: torch.nn.Module | None = None
        self.peak: Any = None

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "open":
            return self._open(message)
        if op == "load":
            self.train, self.select = _labelled(message["train"]), _labelled(message["select"])
            return {"event": "loaded"}
        if op == "train":
            return self._train(message)
        if op == "predict":
            return self._predict(message)
        raise ValueError(f"unknown request {op!r}")

    def _open(self, message: dict[str, Any]) -> dict[str, Any]:
        import importlib

        from benchmark.engine.host_memory import keep_freed_memory
        from benchmark.plugins.registry import import_folder_package
        from benchmark.results.identity import source_fingerprint

        for entry in reversed(message["sys_path"]):
            if entry not in sys.path:
                sys.path.insert(1, entry)
        try:
            if message["package_dir"] is not None:
                import_folder_package(Path(message["package_dir"]))
            found: Any = importlib.import_module(message["module"])
            for part in message["qualname"].split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            raise BusbenchError(f"model {message['name']!r}", f"the plugin process cannot import "
                                f"{message['module']}.{message['qualname']}: {exc}") from exc
        spec = getattr(found, "spec", None)
        if getattr(spec, "name", None) != message["name"]:
            raise BusbenchError(f"model {message['name']!r}", f"{message['module']}.{message['qualname']} is another "
                                                              "model in the plugin process")
        if source_fingerprint(found)["sha256"] != message["code"]:
            raise BusbenchError(f"model {message['name']!r}", "its source files changed while the run was starting "
                                                              "(the run's identity hashed other code); run again")
        self.cls = found
        self.compute = ComputeSetup(**message["compute"])
        torch.set_num_threads(max(1, self.compute.threads))
        if self.compute.keep_freed_memory:
            keep_freed_memory()
        return {"event": "opened"}

    def _train(self, message: dict[str, Any]) -> dict[str, Any]:
        from benchmark.engine.device import seed_everything
        from benchmark.engine.loop import train_fold
        from benchmark.engine.peak_memory import PeakMemory

        assert self.cls is not None and self.compute is not None and self.train is not None
        assert self.select is not None
        self.model = None
        self.peak = PeakMemory(self.compute.device)
        settings = TrainSettings(**message["settings"])
        seed_everything(settings.seed)
        self.submission = self.cls(message["hparams"], classes=self.train.classes)
        on_epoch = self._report if message["report"] else None
        train, select = self.train.to(self.compute.device), self.select.to(self.compute.device)
        checkpoint = None if message["checkpoint"] is None else Path(message["checkpoint"])
        try:
            model, best_epoch, history = train_fold(self.submission, train, select, settings, self.compute,
                                                    checkpoint, on_epoch=on_epoch)
        except StopTraining:
            return {"event": "stopped"}
        self.model = model
        return {"event": "trained", "best_epoch": best_epoch, "history": history,
                "params": sum(p.numel() for p in model.parameters())}

    def _report(self, epoch: int, score: float) -> None:
        _write(self.outbox, {"event": "epoch", "epoch": epoch, "score": score})
        answer = self.inbox.get()
        if answer.get("op") != "continue":
            raise StopTraining

    def _predict(self, message: dict[str, Any]) -> dict[str, Any]:
        from benchmark.engine.loop import predict_probabilities, save_weights

        assert self.submission is not None and self.model is not None and self.compute is not None
        probs = predict_probabilities(self.submission, self.model, message["images"], self.compute,
                                      int(message["batch_size"]))
        if message["weights"] is not None:
            save_weights(self.model, Path(message["weights"]))  # for busbench explain
        return {"event": "predicted", "probs": probs, "memory": self.peak.to_json()}


def _read_forever(fd: int, inbox: queue.Queue[dict[str, Any]]) -> None:
    """Pass the parent's messages to the main thread; end the process when the parent's end closes."""
    while True:
        try:
            message = _read(fd)
        except Exception:
            message = None
        if message is None:
            os._exit(0)  # the parent is gone (or done): nothing may go on training without it
        inbox.put(message)


def child_main(read_fd: int | None = None, write_fd: int | None = None) -> None:
    """The plugin process: answer the parent's requests until it closes the pipe (see :class:`PluginProcess`).

    Args:
        read_fd: The pipe end the parent's requests arrive on; ``None``: the first argument of the command line
            (a plugin process started as its own interpreter).
        write_fd: The pipe end the replies go to; ``None``: the second argument.
    """
    if read_fd is None or write_fd is None:
        read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
        sys.argv = [sys.argv[0]]
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=_read_forever, args=(read_fd, inbox), daemon=True).start()
    outbox = os.fdopen(write_fd, "wb")
    child = _Child(inbox, outbox)
    try:
        while True:
            message = inbox.get()
            try:
                reply = child.handle(message)
            except PluginError as exc:
                reply = {"event": "failed", "error": str(exc)}
            except BusbenchError as exc:
                reply = {"event": "refused", "where": str(exc.where), "problem": exc.problem}
            except Exception as exc:
                reply = {"event": "crashed", "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()}
            _write(outbox, reply)
    except (KeyboardInterrupt, BrokenPipeError):
        os._exit(130)
