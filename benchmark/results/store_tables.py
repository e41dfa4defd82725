"""The results store's tables (SQLAlchemy Core): one row per run, and the version of this layout.

The ``runs`` table holds the columns the leaderboard filters and sorts on plus the full ``run.json`` and
``metrics.json`` as JSON text (:mod:`benchmark.results.store_rows` builds its rows); ``schema_version`` holds
:data:`SCHEMA_VERSION`, which :class:`benchmark.results.store.ResultsStore` checks on first use.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

#: Version of the table layout below; bump it (and add a migration) whenever a column changes.
SCHEMA_VERSION = 1

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
