"""The results store: an index of run folders that the leaderboard queries.

Each run folder (see :mod:`benchmark.results.rundir`) becomes one row keyed by its ``run_id``
(:mod:`benchmark.results.store_rows` reads the folder into a row; :mod:`benchmark.results.store_tables` holds the
table). The run folders stay the source of truth: the index can be deleted and rebuilt with
:meth:`ResultsStore.reindex` at any time.

The store speaks SQLAlchemy Core, so any database URL works; the default is a SQLite file next to the runs
(:func:`default_store_url`). A failed run is recorded with its error and never with scores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, insert, make_url, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.sql.expression import BindParameter

from benchmark.errors import BusbenchError
from benchmark.results.identity import identity_of
from benchmark.results.store_rows import STATUSES, _build_row, headline
from benchmark.results.store_tables import SCHEMA_VERSION, _metadata, runs_table, schema_version_table

# The store's public names, importable from here as before the split into sibling modules.
__all__ = ["SCHEMA_VERSION", "STATUSES", "ResultsStore", "default_store_url", "headline", "runs_table",
           "schema_version_table"]

_JSON_COLUMNS = ("run_json", "metrics_json")
_CHUNK = 500  # run ids per ``IN (...)`` query: below every database's limit on bound parameters
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


def _mask_url(url: str) -> str:
    """The URL as it may appear in messages: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _RAW_PASSWORD.sub(r"\1***@", url)


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
        """A connection inside one transaction (committed on success, rolled back on any error).

        The first use checks (and creates) the schema in a writing transaction of its own, even for a reader: a
        reading transaction that turned into a writing one could not wait for another process's lock, and several
        first readers of a fresh index would fail at once with "database is locked".
        """
        try:
            if not self._ready:
                with self._engine.connect() as conn:
                    with conn.execution_options(busbench_write=True).begin():
                        self._ensure_schema(conn)
                self._ready = True
            with self._engine.connect() as conn:
                conn = conn.execution_options(busbench_write=write)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise self._error(f"database error ({type(exc).__name__}: {getattr(exc, 'orig', None) or exc})") from exc

    def check(self) -> None:
        """Open the database and check its schema now (commands call it before they train anything).

        Raises:
            BusbenchError: When the database cannot be reached or holds another schema version.
        """
        with self._transaction(write=False):
            pass

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

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert the rows, or replace the existing rows of the same runs, inside ``conn``'s transaction.

        The indexed rows of these run ids are read in one query per chunk; a row equal to the indexed one is not
        written again, and the rest are written as one statement executed over all of them (compiled once), which is
        what keeps indexing 1,000 run folders well under a second.

        Raises:
            BusbenchError: When a run id is indexed already for a different run (:func:`_other_run`); nothing of
                ``rows`` is written then.
        """
        existing: dict[str, dict[str, Any]] = {}
        ids = [row["run_id"] for row in rows]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            for found in conn.execute(select(runs_table).where(runs_table.c.run_id.in_(chunk))):
                existing[found.run_id] = found._asdict()
        indexed = set(existing)
        changed: dict[str, dict[str, Any]] = {}
        for row in rows:  # a later folder of the same run id is checked against the earlier one, as if indexed
            old = existing.get(row["run_id"])
            if old is not None:
                differs = _other_run(old, row)
                if differs:
                    raise BusbenchError(row["run_dir"], f"run {row['run_id']} is indexed in {self.shown_url} already "
                                        f"from {old['run_dir']}, with {differs}; a different run never replaces it: "
                                        "index this one into another store (--results), or move one folder away and "
                                        "reindex")
                if all(old.get(key) == value for key, value in row.items()):
                    continue
            changed[row["run_id"]] = existing[row["run_id"]] = row
        if not changed:
            return
        dialect = conn.dialect.name
        columns = [c for c in runs_table.c if c.name != "run_id"]
        if dialect in ("sqlite", "postgresql"):
            dialect_insert: Callable[..., Any]  # either dialect's insert: the same on_conflict_do_update
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            stmt = dialect_insert(runs_table)
            stmt = stmt.on_conflict_do_update(index_elements=[runs_table.c.run_id],
                                              set_={c.name: stmt.excluded[c.name] for c in columns})
            conn.execute(stmt, [_complete(row) for row in changed.values()])
            return
        # Other databases: update the indexed runs, insert the others (the transaction keeps them atomic).
        updates = [_complete(row) for run, row in changed.items() if run in indexed]
        inserts = [_complete(row) for run, row in changed.items() if run not in indexed]
        if updates:
            key: BindParameter[Any] = bindparam("key_run_id")
            conn.execute(update(runs_table).where(runs_table.c.run_id == key)
                         .values({c.name: bindparam(c.name) for c in columns}),
                         [{**row, "key_run_id": row["run_id"]} for row in updates])
        if inserts:
            conn.execute(insert(runs_table), inserts)

    def index_run(self, run_dir: Path) -> None:
        """Read a run folder's ``run.json`` (and ``metrics.json``) and insert or update its row.

        The row holds the filter and sort columns, the headline score (only for completed and partial runs: a
        failed run is recorded with its first error and no scores), the total fold wall time, and the full
        ``run.json`` and ``metrics.json`` as JSON text. Re-indexing an unchanged run leaves the row unchanged; a run
        that progressed (or a copy of it) updates its row; a different run with the same id is refused.

        Args:
            run_dir: A run folder (``<runs>/<run_id>/``).

        Raises:
            BusbenchError: When ``run.json`` is missing or malformed (naming the file), the run id is indexed for a
                different run, or the database cannot be written; in each case the previous row, if any, is kept.
        """
        row = _build_row(Path(run_dir))
        with self._transaction(write=True) as conn:
            self._upsert(conn, [row])

    def reindex(self, runs_dir: Path) -> int:
        """Index every run folder directly below ``runs_dir`` (every ``*/run.json``), in one transaction.

        Rows of runs whose folders are gone are kept; delete the index file to start afresh.

        Args:
            runs_dir: Folder of run folders (e.g. ``runs/`` or ``leaderboard/results/``).

        Returns:
            The number of run folders indexed.

        Raises:
            BusbenchError: When ``runs_dir`` is not a folder, any ``run.json`` is malformed (naming the file) or a run
                id is indexed for a different run; nothing is written then.
        """
        runs_dir = Path(runs_dir)
        if not runs_dir.is_dir():
            raise BusbenchError(runs_dir, "is not a folder of runs")
        # Every file is checked before anything is written, so a bad file leaves the index as it was.
        rows = [_build_row(path.parent) for path in sorted(runs_dir.glob("*/run.json"))]
        with self._transaction(write=True) as conn:
            self._upsert(conn, rows)
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


def _other_run(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """How an indexed row shows another run than a new row of the same run id, or ``None`` when it is the same run.

    The same run is the same folder as it progresses (same place, same creation time), or a copy of it (a published
    run, a folder moved, the same command run again elsewhere): same identity, status and scores. Anything else is
    a different run that happens to share the id, and must not silently replace the indexed one.
    """
    if (old["run_dir"], old["created"]) == (new["run_dir"], new["created"]):
        return None
    if identity_of(json.loads(old["run_json"])) != identity_of(json.loads(new["run_json"])):
        return "another identity"
    scores = ("status", "headline_metric", "headline_value", "headline_ci_low", "headline_ci_high")
    changed = [column for column in scores if old[column] != new[column]]
    return f"other {', '.join(changed)}" if changed else None


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every column of the table (``None`` where it has none): one statement over many rows needs them."""
    return {c.name: row.get(c.name) for c in runs_table.c}


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS:
        if row[key] is not None:
            row[key] = json.loads(row[key])
    return row
