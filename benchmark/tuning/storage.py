"""Where studies live: an Optuna RDB storage behind any SQLAlchemy URL, and the study-identity check.

The default is one SQLite file, ``<out>/tuning.sqlite``, beside the run folders. For several machines, give every
worker the same ``--storage postgresql://user:password@host/db`` (any SQLAlchemy URL works; Optuna advises a server
database for parallel work). Every storage has Optuna's heartbeat on: a trial whose worker died (even by SIGKILL)
stops beating, is marked failed after the grace period by the next worker that looks, and is retried with the same
parameters (``RetryHeartbeatStaleTrialCallback``).

Optuna's journal file is deliberately not offered: it has no heartbeat, so a trial running when its worker dies
stays RUNNING for good, and a resumed study could neither retry it nor know it will never finish.

Each busbench study records what it tunes in its user attribute ``busbench`` (submission, task, search space, split
sha256, dataset fingerprint, outer fold, image size, base hyper-parameters, seed). Opening an existing study with
other values is an error naming what differs, so a study is never continued under another search space or split.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from benchmark.errors import BusbenchError

#: The study user attribute holding a busbench study's identity.
IDENTITY_ATTR = "busbench"

#: How often a failed-then-retried trial is retried again before busbench gives up on its parameters.
MAX_RETRY = 3

#: Words for the identity fields in mismatch messages.
_FIELD_WORDS = {
    "search_space": "another search space",
    "split_sha256": "another split file",
    "dataset_fingerprint": "other data (dataset fingerprint)",
    "submission": "another submission",
    "task": "another task",
    "outer_fold": "another outer fold",
    "image_size": "another image size",
    "hparams": "other base hyper-parameters",
    "seed": "another seed",
    "code": "other submission code (its source files changed)",
    "format": "an identity of an older busbench (no code hash)",
}


def default_storage_url(out: Path) -> str:
    """The default storage: ``sqlite:////abs/<out>/tuning.sqlite``."""
    return f"sqlite:///{Path(out).resolve() / 'tuning.sqlite'}"


def shown_url(url: str) -> str:
    """The URL as messages and records show it: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@", 1)[-1] if "@" in url else url


def _problem(exc: BaseException, password: str | None) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first.replace(password, "***") if password else first


def open_storage(url: str, heartbeat: int = 60) -> RDBStorage:
    """Connect to a storage (creating Optuna's tables when they are missing), with heartbeat and retry on.

    Args:
        url: A SQLAlchemy URL (``sqlite:///path``, ``postgresql://user:password@host/db``, ...).
        heartbeat: Seconds between a running trial's heartbeats; a trial silent for twice that is failed and
            retried.

    Returns:
        The storage, reachable and ready.

    Raises:
        BusbenchError: When the URL is not a SQLAlchemy URL, its driver is missing, or the database cannot be
            reached (one line; the password never appears).
    """
    where = f"storage {shown_url(url)}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise BusbenchError(where, "is not a database URL (give a SQLAlchemy URL such as sqlite:///runs/tuning.sqlite "
                            "or postgresql://user:password@host/db)") from exc
    if heartbeat < 1:
        raise BusbenchError("--heartbeat", f"must be at least 1 second, not {heartbeat}")
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BusbenchError(where, "an in-memory database cannot be shared or resumed; give a file")
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BusbenchError(where, f"cannot create the folder for the database file ({exc})") from exc
        # Wait for another worker's write instead of failing at once with "database is locked".
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif backend == "postgresql":
        # An address that swallows packets must fail in seconds, not after the operating system's TCP timeout.
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        for attempt in range(3):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                      grace_period=2 * heartbeat, heartbeat_stale_trial_callback=(
                                          RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)))
            except SQLAlchemyError as exc:
                # Workers started together on a fresh database race to create Optuna's tables; the loser finds
                # them made a moment later.
                if attempt == 2 or not (isinstance(exc, IntegrityError) or "already exists" in str(exc)):
                    raise
                time.sleep(1.0 + attempt)
        raise AssertionError("unreachable")
    except ImportError as exc:
        raise BusbenchError(where, f"its database driver is not installed ({exc}); for PostgreSQL: "
                            "pip install 'busbench[postgres]'") from exc
    except (SQLAlchemyError, OSError, RuntimeError, ValueError) as exc:
        raise BusbenchError(where, f"cannot be reached ({type(exc).__name__}: "
                            f"{_problem(exc, parsed.password)})") from exc


def close_storage(storage: RDBStorage) -> None:
    """Release the storage's database connections."""
    storage.remove_session()
    storage.engine.dispose()


def _mismatch(recorded: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    keys = sorted(set(recorded) | set(identity))
    return [_FIELD_WORDS.get(k, k) for k in keys if recorded.get(k) != identity.get(k)]


def open_study(storage: RDBStorage, name: str, identity: dict[str, Any], sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner, *, wait: float = 30.0) -> optuna.Study:
    """Create the study, or load it and check it tunes exactly ``identity``.

    Several workers may call this at once: one creates the study, the others load it (and wait up to ``wait``
    seconds for the creator to record the identity).

    Raises:
        BusbenchError: When the study exists with another identity (naming what differs), is not a busbench
            study, or does not maximise.
    """
    where = f"study {name!r}"
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", sampler=sampler,
                                    pruner=pruner)
        study.set_user_attr(IDENTITY_ATTR, identity)
        return study
    except DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    deadline = time.monotonic() + wait
    while IDENTITY_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.2)  # another worker created it a moment ago and is about to record its identity
    recorded = study.user_attrs.get(IDENTITY_ATTR)
    if not isinstance(recorded, dict):
        raise BusbenchError(where, "exists in this storage but was not made by busbench tune; pick another --study")
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise BusbenchError(where, "exists but minimises; busbench studies maximise the validation score")
    differs = _mismatch(recorded, identity)
    if differs:
        raise BusbenchError(where, f"exists with {', '.join(differs)}; continue it with the settings it was made "
                            "with, or pick another --study name")
    return study


def open_existing_storage(url: str) -> RDBStorage:
    """Open a storage that must exist already (for reading studies): a missing SQLite file is an error.

    Raises:
        BusbenchError: When the storage cannot be reached, or is a SQLite file that does not exist.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise BusbenchError(f"storage {shown_url(url)}", "is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        raise BusbenchError(f"storage {shown_url(url)}", "does not exist (no study has been run with it; give the "
                            "--storage the study was run with)")
    return open_storage(url)
