"""Optuna storages: opening them, a cross-process budget lock, and retries of transient errors.

The default storage is an Optuna journal file under ``mlruns/`` (fast and safe for several
processes on one machine); any SQLAlchemy URL gives an RDB storage (PostgreSQL for studies shared
by many machines) with pooled, pre-pinged connections.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.errors import ConfigError, HpoError
from orchestrator.redact import redact_url

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "budget_lock",
    "describe_storage",
    "is_rdb",
    "open_storage",
    "resolve_storage_url",
    "with_retries",
]

logger = logging.getLogger(__name__)

STORAGE_ENV = "HPO_STORAGE"
DEFAULT_STORAGE = "mlruns/optuna.journal"
RETRIES = 4  # attempts for a storage call that fails with a transient (connection) error
RETRY_BASE_SECONDS = 0.5  # then 1 s, 2 s: exponential backoff

T = TypeVar("T")


def resolve_storage_url(url: str | None) -> str:
    """The storage URL in force: the argument, else HPO_STORAGE, else the default journal file."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def is_rdb(url: str) -> bool:
    """True for a SQLAlchemy URL (sqlite, postgresql, mysql); False for a journal file path."""
    return url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres", "mysql")


def _driver_url(url: str) -> str:
    """A plain ``postgresql://`` URL names the driver hpo installs (psycopg2): SQLAlchemy 2.1
    would otherwise pick psycopg 3, which is not a dependency."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def describe_storage(url: str | None) -> str:
    """The storage in use, for output and tags, with any password redacted."""
    return redact_url(resolve_storage_url(url)) or DEFAULT_STORAGE


def _journal_path(url: str) -> Path:
    return Path(url.removeprefix("journal:").removeprefix("//"))


def open_storage(url: str | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL, HPO_STORAGE, or the default journal file under ``mlruns/``.

    Raises:
        ConfigError: a URL that cannot be opened (bad scheme, unreachable server), redacted.
    """
    import optuna

    url = resolve_storage_url(url)
    try:
        if is_rdb(url):
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite"):
                # FACTS.md: the default 5 s lock timeout fails under contention
                kwargs["connect_args"] = {"timeout": 30}
            else:
                kwargs.update(pool_size=2, max_overflow=4, pool_recycle=1800)
            return with_retries(
                lambda: optuna.storages.RDBStorage(_driver_url(url), engine_kwargs=kwargs)
            )
        path = _journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except HpoError:
        raise
    except Exception as exc:  # a bad URL or an unreachable server: bad input, one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(
            f"--storage {redact_url(url)}: cannot open the Optuna storage "
            f"({type(exc).__name__}: {first}); give a journal file path or a database URL "
            "such as postgresql://user@host/db (password via PGPASSWORD)"
        ) from exc


def _is_transient(exc: BaseException | None) -> bool:
    """A lost or refused database connection, also where Optuna re-raised it as its own
    ``StorageInternalError`` (its RDB storage wraps every SQLAlchemy error of a session)."""
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy comes with optuna
        return False
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OperationalError):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def with_retries(call: Callable[[], T], *, attempts: int = RETRIES, what: str = "storage") -> T:
    """Run ``call``, retrying a bounded number of times on transient database errors."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == attempts or not _is_transient(exc):
                raise
            delay = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
            logger.warning(
                "%s call failed (%s), retry %d/%d in %.1fs",
                what,
                type(exc).__name__,
                attempt,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def budget_lock(url: str | None, study_name: str) -> Iterator[None]:
    """Serialise "count the trials, then ask for one" across every worker of a study.

    With it the study's total of trials is reached exactly, never overshot by workers that
    counted at the same moment. PostgreSQL: an advisory lock; MySQL: GET_LOCK; a journal file or
    SQLite: an exclusive file lock beside the file.
    """
    url = resolve_storage_url(url)
    key = zlib.crc32(f"hpo-budget:{study_name}".encode())
    if is_rdb(url) and not url.startswith("sqlite"):
        try:
            lock = _db_lock(_driver_url(url), key)
            lock.__enter__()
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(
                f"--storage {redact_url(url)}: cannot reach the database "
                f"({type(exc).__name__}: {redact_url(first)}); check the URL and that the "
                "server is up"
            ) from exc
        try:
            yield
        finally:
            lock.__exit__(None, None, None)
        return
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[-1] + ".hpo-lock")
    else:
        path = Path(str(_journal_path(url)) + ".hpo-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_ENGINES: dict[str, Any] = {}


@contextlib.contextmanager
def _db_lock(url: str, key: int) -> Iterator[None]:
    import sqlalchemy

    engine = _ENGINES.get(url)
    if engine is None:
        engine = sqlalchemy.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=1)
        _ENGINES[url] = engine
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if postgres:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        else:
            conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, 60)"), {"k": str(key)})
        try:
            yield
        finally:
            if postgres:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            else:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:k)"), {"k": str(key)})
            conn.commit()
