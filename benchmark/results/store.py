"""The results store: an index of run folders that the leaderboard queries.

Each run folder (see :mod:`benchmark.results.rundir`) becomes one row keyed by its ``run_id``, holding the
columns the leaderboard filters and sorts on plus the full ``run.json`` and ``metrics.json`` as JSON text, so a
leaderboard can drill down without the files. The run folders stay the source of truth: the index can be deleted
and rebuilt with :meth:`ResultsStore.reindex` at any time.

The store speaks SQLAlchemy Core, so any database URL works; the default is a SQLite file next to the runs
(:func:`default_store_url`). A failed run is recorded with its error and never with scores.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    make_url,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from benchmark.errors import BusbenchError
from benchmark.results.rundir import RunDir

#: Version of the table layout below; bump it (and add a migration) whenever a column changes.
SCHEMA_VERSION = 1

#: Run statuses written by the engine.
STATUSES = ("running", "completed", "partial", "failed")

#: Statuses whose ``metrics.json`` describes the run as recorded: a running run's metrics may be stale (left by
#: an earlier invocation) and a failed run has no valid scores at all.
_SCORED_STATUSES = ("completed", "partial")

_metadata = MetaData()

runs_table = Table(
    "runs",
    _metadata,
    Column("run_id", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("task", String(32), nullable=False),
    Column("submission", String(255), nullable=False),
    Column("dataset", String(255)),
    Column("dataset_fingerprint", String(128)),
    Column("split_sha256", String(64)),
    Column("split_group", String(64)),
    Column("protocol", String(64)),
    Column("tuned", Boolean),
    Column("pretrained", Boolean),
    Column("image_size", Integer),
    Column("epochs", Integer),
    Column("seed", Integer),
    Column("device", String(64)),
    Column("device_name", String(255)),
    Column("precision", String(16)),
    Column("headline_metric", String(64)),
    Column("headline_value", Float),
    Column("headline_ci_low", Float),
    Column("headline_ci_high", Float),
    Column("error", Text),
    Column("created", String(40)),
    Column("finished", String(40)),
    Column("wall_seconds", Float),
    Column("params", Integer),
    Column("run_dir", Text),
    Column("git_commit", String(64)),
    Column("run_json", Text, nullable=False),
    Column("metrics_json", Text),
    Index("ix_runs_task_status", "task", "status"),
)

schema_version_table = Table(
    "schema_version",
    _metadata,
    Column("version", Integer, nullable=False),
)

_JSON_COLUMNS = ("run_json", "metrics_json")
# A password in a URL that SQLAlchemy cannot parse: scheme://user:PASSWORD@host
_RAW_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def default_store_url(runs_dir: Path) -> str:
    """The default store: a SQLite file ``index.sqlite`` inside the runs folder.

    Args:
        runs_dir: Folder holding the run folders.

    Returns:
        A SQLAlchemy URL such as ``sqlite:////abs/path/runs/index.sqlite``.
    """
    return f"sqlite:///{Path(runs_dir).resolve() / 'index.sqlite'}"


def headline(metrics: dict[str, Any], task: str) -> tuple[str, float | None, float | None, float | None]:
    """The headline score of a run's ``metrics.json``.

    Args:
        metrics: The parsed ``metrics.json``.
        task: ``"classification"`` or ``"segmentation"`` (named in error messages).

    Returns:
        ``(metric name, value, CI low, CI high)`` from ``metrics["headline"]``; ``("", None, None, None)`` when
        there is no headline. Non-finite numbers become ``None``.

    Raises:
        BusbenchError: When ``headline`` is present but is not ``{"metric": str, "value": number, ...}``.
    """
    entry = metrics.get("headline")
    if entry is None:
        return "", None, None, None
    where = f"{task} metrics"
    if not isinstance(entry, dict) or not isinstance(entry.get("metric"), str):
        raise BusbenchError(where, "'headline' must be an object with a 'metric' name")

    def number(key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BusbenchError(where, f"headline {key!r} must be a number, not {value!r}")
        return float(value) if math.isfinite(value) else None

    return entry["metric"], number("value"), number("ci_low"), number("ci_high")


def _mask_url(url: str) -> str:
    """The URL as it may appear in messages: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _RAW_PASSWORD.sub(r"\1***@", url)


class _RowBuilder:
    """Checks the fields of one ``run.json`` and turns them into a row, naming the file on any problem."""

    def __init__(self, path: Path, doc: dict[str, Any]):
        self.path = path
        self.doc = doc

    def fail(self, problem: str) -> BusbenchError:
        return BusbenchError(self.path, problem)

    def section(self, key: str) -> dict[str, Any]:
        value = self.doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{key!r} must be an object, not {type(value).__name__}")
        return value

    def text(self, value: Any, name: str, *, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise self.fail(f"{name!r} must be a {'non-empty ' if required else ''}string, not {value!r}")
        return value

    def integer(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{name!r} must be an integer, not {value!r}")
        return value

    def flag(self, value: Any, name: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{name!r} must be true or false, not {value!r}")
        return value

    def submission_name(self) -> str:
        value = self.doc.get("submission")
        if isinstance(value, dict):
            return self.text(value.get("name"), "submission.name", required=True)  # type: ignore[return-value]
        return self.text(value, "submission", required=True)  # type: ignore[return-value]

    def wall_seconds(self) -> float | None:
        total, seen = 0.0, False
        for fold, record in self.section("folds").items():
            seconds = record.get("seconds") if isinstance(record, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise self.fail(f"fold {fold} has no number of 'seconds'")
            total, seen = total + float(seconds), True
        return total if seen else None

    def first_error(self) -> str | None:
        errors = self.section("errors")

        def fold_order(key: str) -> tuple[int, str]:
            return (int(key), key) if key.lstrip("-").isdigit() else (1 << 30, key)

        for key in sorted(errors, key=fold_order):
            return f"fold {key}: {errors[key]}"
        message = self.doc.get("error")
        return str(message) if message else None


def _build_row(run_dir: Path) -> dict[str, Any]:
    """Read one run folder and return its index row (see :meth:`ResultsStore.index_run`)."""
    rd = RunDir(run_dir)
    path = rd.run_json
    doc = rd.read_run()
    if doc is None:
        raise BusbenchError(path, "does not exist (not a run folder)")
    if not isinstance(doc, dict):
        raise BusbenchError(path, f"must hold a JSON object, not {type(doc).__name__}")
    b = _RowBuilder(path, doc)
    status = b.text(doc.get("status"), "status", required=True)
    if status not in STATUSES:
        raise b.fail(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    task = b.text(doc.get("task"), "task", required=True)
    dataset, split, compute = b.section("dataset"), b.section("split"), b.section("compute")

    metrics: dict[str, Any] | None = None
    name, value, low, high = None, None, None, None
    # A failed run never carries scores, whatever metrics file an earlier invocation left behind.
    if status in _SCORED_STATUSES and rd.metrics_json.exists():
        try:
            metrics = json.loads(rd.metrics_json.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BusbenchError(rd.metrics_json, f"is not valid JSON ({exc})") from exc
        if not isinstance(metrics, dict):
            raise BusbenchError(rd.metrics_json, f"must hold a JSON object, not {type(metrics).__name__}")
        try:
            name, value, low, high = headline(metrics, task)  # type: ignore[arg-type]
        except BusbenchError as exc:
            raise BusbenchError(rd.metrics_json, exc.problem) from exc

    return {
        "run_id": b.text(doc.get("run_id"), "run_id", required=True),
        "kind": b.text(doc.get("kind"), "kind", required=True),
        "status": status,
        "task": task,
        "submission": b.submission_name(),
        "dataset": b.text(dataset.get("name"), "dataset.name"),
        "dataset_fingerprint": b.text(dataset.get("fingerprint"), "dataset.fingerprint"),
        "split_sha256": b.text(split.get("sha256"), "split.sha256"),
        "split_group": b.text(split.get("group"), "split.group"),
        "protocol": b.text(split.get("protocol"), "split.protocol"),
        "tuned": b.flag(doc.get("tuned"), "tuned"),
        "pretrained": b.flag(doc.get("pretrained"), "pretrained"),
        "image_size": b.integer(doc.get("image_size"), "image_size"),
        "epochs": b.integer(doc.get("epochs"), "epochs"),
        "seed": b.integer(doc.get("seed"), "seed"),
        "device": b.text(compute.get("device"), "compute.device"),
        "device_name": b.text(compute.get("device_name"), "compute.device_name"),
        "precision": b.text(compute.get("precision"), "compute.precision"),
        "headline_metric": name or None,
        "headline_value": value,
        "headline_ci_low": low,
        "headline_ci_high": high,
        "error": b.first_error() if status == "failed" else None,
        "created": b.text(doc.get("created"), "created"),
        "finished": b.text(doc.get("finished"), "finished"),
        "wall_seconds": b.wall_seconds(),
        "params": b.integer(doc.get("params"), "params"),
        "run_dir": str(Path(run_dir).resolve()),
        "git_commit": b.text(doc.get("git_commit"), "git_commit"),
        "run_json": json.dumps(doc, sort_keys=True),
        "metrics_json": json.dumps(metrics, sort_keys=True) if metrics is not None else None,
    }


class ResultsStore:
    """An index of run folders in a SQL database (SQLite by default, any SQLAlchemy URL works).

    The URL is checked when the store is made; the database is opened, and its tables created, on first use.

    Args:
        url: A SQLAlchemy database URL, e.g. ``sqlite:///runs/index.sqlite`` or
            ``postgresql://user:password@host/db``.

    Raises:
        BusbenchError: When the URL cannot be parsed or its database driver is not installed (the message shows
            the URL with its password hidden).
    """

    def __init__(self, url: str):
        self.url = url
        self.shown_url = _mask_url(url)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise self._error(f"is not a valid database URL ({exc})") from exc
        self._password = parsed.password
        try:
            self._engine = self._make_engine(parsed)
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error(f"cannot use this database ({type(exc).__name__}: {exc})") from exc
        self._ready = False

    def _error(self, problem: str) -> BusbenchError:
        """A BusbenchError naming the URL, with any password scrubbed from the problem text as well."""
        password = getattr(self, "_password", None)
        if password:
            problem = problem.replace(str(password), "***")
        return BusbenchError(f"results store {self.shown_url}", problem)

    def _make_engine(self, url: URL) -> Engine:
        if url.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error(f"cannot create the folder for the database file ({exc})") from exc
        # Wait for another process's write instead of failing at once with "database is locked".
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
            # The sqlite3 driver's own transaction handling skips BEGIN before DDL and SELECT; take it over so
            # schema creation and upserts are real transactions (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the write lock up front: two processes that both read-then-write would otherwise
            # deadlock on lock upgrade, and one of them would fail instead of waiting.
            immediate = conn.get_execution_options().get("busbench_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        """A connection inside one transaction (committed on success, rolled back on any error)."""
        try:
            with self._engine.connect() as conn:
                conn = conn.execution_options(busbench_write=write)
                with conn.begin():
                    if not self._ready:
                        self._ensure_schema(conn)
                    yield conn
        except SQLAlchemyError as exc:
            raise self._error(f"database error ({type(exc).__name__}: {getattr(exc, 'orig', None) or exc})") from exc
        self._ready = True

    def _ensure_schema(self, conn: Connection) -> None:
        """Create the tables on first use, and refuse a database written with another schema version."""
        _metadata.create_all(conn, checkfirst=True)
        versions = [row[0] for row in conn.execute(select(schema_version_table.c.version))]
        if not versions:
            conn.execute(insert(schema_version_table).values(version=SCHEMA_VERSION))
        elif versions != [SCHEMA_VERSION]:
            # No migrations exist yet: the index is derived data, so rebuilding it is always possible.
            raise self._error(f"has schema version {max(versions)}, this busbench uses {SCHEMA_VERSION}; "
                              "delete the index and rebuild it from the run folders (reindex)")

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _upsert(self, conn: Connection, row: dict[str, Any]) -> None:
        """Insert the row, or replace the existing row with the same run id, inside ``conn``'s transaction."""
        values = {k: v for k, v in row.items() if k != "run_id"}
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            stmt = dialect_insert(runs_table).values(**row)
            conn.execute(stmt.on_conflict_do_update(index_elements=[runs_table.c.run_id], set_=values))
            return
        # Other databases: update, else insert (the surrounding transaction keeps the pair atomic).
        done = conn.execute(update(runs_table).where(runs_table.c.run_id == row["run_id"]).values(**values))
        if done.rowcount == 0:
            conn.execute(insert(runs_table).values(**row))

    def index_run(self, run_dir: Path) -> None:
        """Read a run folder's ``run.json`` (and ``metrics.json``) and insert or replace its row.

        The row holds the filter and sort columns, the headline score (only for completed and partial runs: a
        failed run is recorded with its first error and no scores), the total fold wall time, and the full
        ``run.json`` and ``metrics.json`` as JSON text. Re-indexing an unchanged run leaves the row unchanged.

        Args:
            run_dir: A run folder (``<runs>/<run_id>/``).

        Raises:
            BusbenchError: When ``run.json`` is missing or malformed (naming the file), or the database cannot be
                written; in both cases the previous row, if any, is kept.
        """
        row = _build_row(Path(run_dir))
        with self._transaction(write=True) as conn:
            self._upsert(conn, row)

    def reindex(self, runs_dir: Path) -> int:
        """Index every run folder directly below ``runs_dir`` (every ``*/run.json``), in one transaction.

        Rows of runs whose folders are gone are kept; delete the index file to start afresh.

        Args:
            runs_dir: Folder of run folders (e.g. ``runs/`` or ``leaderboard/results/``).

        Returns:
            The number of run folders indexed.

        Raises:
            BusbenchError: When ``runs_dir`` is not a folder or any ``run.json`` is malformed (naming the file);
                nothing is written then.
        """
        runs_dir = Path(runs_dir)
        if not runs_dir.is_dir():
            raise BusbenchError(runs_dir, "is not a folder of runs")
        # Every file is checked before anything is written, so a bad file leaves the index as it was.
        rows = [_build_row(path.parent) for path in sorted(runs_dir.glob("*/run.json"))]
        with self._transaction(write=True) as conn:
            for row in rows:
                self._upsert(conn, row)
        return len(rows)

    def list_runs(self, *, task: str | None = None, status: str | None = None, protocol: str | None = None,
                  dataset: str | None = None) -> list[dict[str, Any]]:
        """Indexed runs, oldest first, optionally filtered (filters combine with AND).

        Args:
            task: Only this task (``"classification"`` or ``"segmentation"``).
            status: Only this status (``"completed"``, ``"partial"``, ``"failed"``, ``"running"``).
            protocol: Only this split protocol (``"clean"``, ``"naive-split"``, ...).
            dataset: Only this dataset name.

        Returns:
            One dict per run with every column; ``run_json`` and ``metrics_json`` are decoded to dicts (or
            ``None``).
        """
        stmt = select(runs_table).order_by(runs_table.c.created, runs_table.c.run_id)
        for column, wanted in (("task", task), ("status", status), ("protocol", protocol), ("dataset", dataset)):
            if wanted is not None:
                stmt = stmt.where(runs_table.c[column] == wanted)
        with self._transaction(write=False) as conn:
            return [_decode(row._asdict()) for row in conn.execute(stmt)]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One indexed run as :meth:`list_runs` returns it, or ``None`` when the id is not indexed."""
        with self._transaction(write=False) as conn:
            row = conn.execute(select(runs_table).where(runs_table.c.run_id == run_id)).first()
        return _decode(row._asdict()) if row is not None else None


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS:
        if row[key] is not None:
            row[key] = json.loads(row[key])
    return row
