"""Where ``busbench run`` trains: here, one fold after another (``local``), or one task per fold on Dask (``dask``).

A run on Dask is the local run cut along its folds. The run is opened here (:func:`~benchmark.engine.runner.open_run`)
and each task opens it again for one fold and trains it (:func:`~benchmark.engine.runner.train_folds`), so the fold
trains exactly as it does locally (its seeds derive from seed, fold and epoch)
and writes ``<out>/<run>/fold-<k>/`` atomically; when every fold task of a run has returned, this process scores
the run (:func:`~benchmark.engine.runner.finish_run`) and indexes it in the results store once, as a local run is.
The grid of several submissions and seeds is submitted at once, so its folds share the cluster's workers.

What a cluster of several machines needs:

* one shared filesystem, mounted at the same place everywhere, holding the dataset, the split file and ``--out``;
* every worker started in the folder ``busbench run`` is started from (relative paths and ``./submissions`` then
  mean the same files; checked before anything trains), with the same busbench, plugins and package versions;
* workers that resolve ``--device``/``--precision``/``--threads`` alike, to one GPU model on CUDA (these are part of
  the run's identity, :func:`benchmark.results.identity.compute_identity`; checked too).

Dask was chosen over Ray by measurement (BENCHMARKS.md, "Distributed executor"): +32 MB installed and a 0.7 s local
cluster, against +244 MB and 2.8-3.6 s. Dask sends no telemetry; the local cluster listens on 127.0.0.1 only and starts
no dashboard.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmark.data.open import open_dataset
from benchmark.engine.device import resolve_compute
from benchmark.engine.fold import fold_entry
from benchmark.engine.runner import RunOutcome, RunRequest, finish_run, index_run, open_run, run_submission, train_folds
from benchmark.errors import BusbenchError
from benchmark.results.identity import compute_identity
from benchmark.results.rundir import RunDir
from benchmark.splits.verify import load_split

EXECUTORS = ("local", "dask")

#: Seconds to wait for a scheduler to answer, and for a remote cluster to have a worker.
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the runs of one ``busbench run`` train.

    Attributes:
        kind: ``local`` (this machine, ``workers`` folds at a time, each in its own plugin process) or ``dask``
            (one task per fold).
        scheduler: Address of a running Dask scheduler (``tcp://host:8786``); ``None`` starts a local cluster.
        workers: Local: folds trained at once (default 1), each with CPU cores divided by ``workers`` threads
            unless ``--threads`` says otherwise. Dask: worker processes of the local cluster (one task at a time
            each); default: CPU cores divided by ``--threads`` (1 when not given).
    """

    kind: str = "local"
    scheduler: str | None = None
    workers: int | None = None


def run_grid(requests: Sequence[RunRequest], options: ExecutorOptions | None = None) -> list[RunOutcome]:
    """Run every request (one per submission and seed) with the chosen executor.

    Returns:
        One outcome per request, in request order.

    Raises:
        BusbenchError: On bad input (as :func:`run_submission`), or a cluster that cannot be reached or does not
            fit the runs; all are found before any fold trains.
    """
    options = options or ExecutorOptions()
    if options.kind not in EXECUTORS:
        raise BusbenchError("--executor", f"unknown executor {options.kind!r} (expected {', '.join(EXECUTORS)})")
    if options.workers is not None and options.workers < 1:
        raise BusbenchError("--workers", f"must be at least 1, got {options.workers}")
    if options.kind == "local":
        if options.scheduler is not None:
            raise BusbenchError("--scheduler", "applies to --executor dask only")
        jobs = options.workers or 1
        if jobs > 1:  # folds at once, each plugin process with its share of the cores
            per_job = max(1, (os.cpu_count() or 1) // jobs)
            requests = [replace(r, jobs=jobs, threads=r.threads or per_job) for r in requests]
        return [run_submission(req) for req in requests]
    if options.scheduler is not None and options.workers is not None:
        raise BusbenchError("--workers", "sizes the local cluster; with --scheduler the cluster's own workers train")
    if options.scheduler is None:
        # One task per worker process: give each its share of the cores unless --threads says otherwise, so that
        # N workers do not each start a thread per core.
        threads = max(r.threads or 1 for r in requests)
        workers = options.workers or max(1, (os.cpu_count() or 1) // threads)
        per_worker = max(1, (os.cpu_count() or 1) // workers)
        requests = [r if r.threads is not None else replace(r, threads=per_worker) for r in requests]
        options = replace(options, workers=workers)
    with _dask_client(options) as (client, executor):
        return _run_on_dask(client, executor, list(requests))


@contextmanager
def _dask_client(options: ExecutorOptions) -> Iterator[tuple[Any, dict[str, Any]]]:
    try:
        import distributed
    except ImportError as exc:
        raise BusbenchError("--executor dask", "needs Dask: pip install -c constraints.txt -e '.[distributed]'") \
            from exc
    info: dict[str, Any] = {"kind": "dask", "dask": distributed.__version__}
    if options.scheduler is None:
        # 127.0.0.1 only and no dashboard: nothing listens beyond this machine. No memory limit: Dask's nanny would
        # otherwise restart a worker whose training outgrows 1/N of the memory, mid-fold.
        cluster = distributed.LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None, memory_limit=0,
                                           silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster, set_as_default=False) as client:
                yield client, {**info, "scheduler": "local cluster", "workers": options.workers}
        finally:
            cluster.close()
        return
    address = str(options.scheduler)
    _check_reachable(address)
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as exc:
        raise BusbenchError("--scheduler", f"cannot connect to a Dask scheduler at {address}: {exc}") from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError as exc:
            raise BusbenchError("--scheduler", f"{address} has no workers; start 'dask worker {address}' on the "
                                               "machines, in this folder") from exc
        workers = len(client.scheduler_info()["workers"])
        yield client, {**info, "scheduler": address, "workers": workers}


def _check_reachable(address: str) -> None:
    """Fail at once on an address nothing listens on (Dask's client would retry until its timeout, then fail)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme != "tcp":  # tls:// would need certificates that busbench has no option for
            raise ValueError(f"expected tcp://HOST:PORT, got scheme {scheme!r}")
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise BusbenchError("--scheduler", f"cannot reach a Dask scheduler at {address}: {exc}") from exc


def _run_on_dask(client: Any, executor: dict[str, Any], requests: list[RunRequest]) -> list[RunOutcome]:
    from distributed import as_completed

    _check_workers(client, requests)
    opened = _gather(client, [client.submit(_on_worker, _open_run, r, pure=False) for r in requests])
    for req, (run_dir, folds) in zip(requests, opened, strict=True):
        print(f"run {run_dir.name}: {req.submission} seed {req.seed}, fold(s) {','.join(map(str, folds))} on "
              f"Dask ({executor['scheduler']}, {executor['workers']} workers) -> {run_dir}", file=sys.stderr)
    tasks = {client.submit(_on_worker, _train_fold, req, k, run_dir.name, pure=False): (i, k)
             for i, (req, (run_dir, folds)) in enumerate(zip(requests, opened, strict=True)) for k in folds}
    failed: list[dict[int, str]] = [{} for _ in requests]
    placed: list[dict[str, str]] = [{} for _ in requests]
    for future in as_completed(tasks, loop=client.loop):
        i, k = tasks[future]
        error, worker = _unwrap(future.result())
        placed[i][str(k)] = worker
        if error is not None:
            failed[i][k] = error
        print(f"{opened[i][0].name} fold {k}: {'FAILED: ' + error if error else 'done'} on {worker}", file=sys.stderr)
    return [_finish(req, run_dir, failed[i], {**executor, "folds": dict(sorted(placed[i].items()))})
            for i, (req, (run_dir, _)) in enumerate(zip(requests, opened, strict=True))]


def _check_workers(client: Any, requests: list[RunRequest]) -> None:
    """Every worker must see this folder and resolve each run's compute identity as the others do."""
    settings = sorted({(r.device, r.precision, r.threads) for r in requests}, key=repr)
    facts = {w: _unwrap(f) for w, f in client.run(_on_worker, _worker_facts, settings).items()}
    here = os.getcwd()
    for worker, (cwd, _) in sorted(facts.items()):
        if cwd != here:
            raise BusbenchError(f"Dask worker {worker}", f"runs in {cwd}, not in {here}; start the workers in the "
                                                         "folder busbench runs from, on a shared filesystem")
    resolved = {repr(r) for _, r in facts.values()}
    if len(resolved) > 1:
        seen = ", ".join(f"{w}: {r}" for w, (_, r) in sorted(facts.items()))
        raise BusbenchError("--device/--precision/--threads", f"the workers resolve them differently ({seen}), "
                            "which would split each run into several; pass them explicitly (and use one GPU model)")


@dataclass(frozen=True)
class _Refused:
    """A :class:`BusbenchError` raised on a worker, carried back as a value.

    The exception itself would not survive the trip: unpickling calls its two-argument ``__init__`` with one.
    """

    where: str
    problem: str


def _on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except BusbenchError as exc:
        return _Refused(exc.where, exc.problem)


def _unwrap(result: Any) -> Any:
    if isinstance(result, _Refused):
        raise BusbenchError(result.where, result.problem)
    return result


def _gather(client: Any, futures: list[Any]) -> list[Any]:
    return [_unwrap(r) for r in client.gather(futures)]


def _worker_facts(settings: list[tuple[str, str, int | None]]) -> tuple[str, list[list[tuple[str, Any]]]]:
    """(working folder, the compute identity each (device, precision, threads) of ``settings`` resolves to)."""
    resolved = []
    for device, precision, threads in settings:
        resolved.append(sorted(compute_identity(resolve_compute(device, precision, threads)).items()))
    return os.getcwd(), resolved


def _open_run(req: RunRequest) -> tuple[Path, tuple[int, ...]]:
    """Check the request and create its run folder, training nothing; return the folder and the folds to train."""
    run = open_run(req)
    return run.rd.path, tuple(run.folds)


def _train_fold(req: RunRequest, fold: int, run_id: str) -> tuple[str | None, str]:
    """Train one fold (skipped when complete already); return (its error or ``None``, the worker's address)."""
    from distributed import get_worker

    run = open_run(replace(req, folds=(fold,)))
    if run.rd.path.name != run_id:
        raise BusbenchError(f"Dask worker {get_worker().address}",
                            f"made run {run.rd.path.name}, not {run_id} (other plugin code, device, precision, "
                            "threads or busbench?)")
    return train_folds(run).get(fold), get_worker().address


def _finish(req: RunRequest, run_dir: Path, failed: dict[int, str], executor: dict[str, Any]) -> RunOutcome:
    """Score and index a run whose fold tasks have all returned, as the end of a local run does."""
    dataset = open_dataset(req.dataset)
    split = load_split(req.splits, dataset)
    rd = RunDir(run_dir)
    doc = rd.read_run()
    if doc is None:
        raise BusbenchError(rd.run_json, "is missing; is --out on a filesystem every worker shares?")
    # The fold tasks wrote run.json concurrently, each with the fold table it read when it started: rebuild the
    # table from the fold results, which each task wrote alone.
    results = {k: rd.fold_result(k) for k in range(split.k)}
    doc["folds"] = {str(k): fold_entry(r)
                    for k, r in results.items() if r is not None and r.get("status") == "completed"}
    doc["executor"] = executor
    outcome = finish_run(rd, doc, split, dataset, failed)
    index_run(req, rd.path)
    return outcome
