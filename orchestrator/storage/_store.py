"""Where studies live: the Optuna storage URL, resolved and validated once into a
:class:`StudyStore` that is passed down; retries of transient database errors.

The default store is an Optuna journal file under ``mlruns/`` (fast and safe for several
processes on one machine); a database URL gives an RDB storage (PostgreSQL for studies shared by
many machines) with pooled, pre-pinged connections; ``grpc://host:port`` reaches Optuna's storage
proxy (``hpo storage-proxy``), which lets many workers share a few database connections. Reading
a study never creates a store.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from orchestrator.errors import ConfigError, HpoError, first_line
from orchestrator.redact import redact_text, redact_url
from orchestrator.storage._drivers import NO_DATABASE, createdb_command, missing_driver

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "StudyStore",
    "open_storage",
    "with_retries",
]

logger = logging.getLogger(__name__)

STORAGE_ENV = "HPO_STORAGE"
DEFAULT_STORAGE = "mlruns/optuna.journal"
RETRIES = 4  # attempts for a storage call that fails with a transient (connection) error
RETRY_BASE_SECONDS = 0.5  # then 1 s, 2 s: exponential backoff
SCHEMA_RACE_ATTEMPTS = 5  # opening a new database that other workers are creating tables in
ACCEPTED_FORMS = (
    "a journal file path (mlruns/optuna.journal), sqlite:///studies.db, "
    "postgresql://user@host/db, mysql://user@host/db or grpc://host:13000 (hpo storage-proxy)"
)
# SQLAlchemy's database names (before any +driver) that hpo opens as Optuna RDB storages
_DATABASES = ("sqlite", "postgresql", "mysql")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")

StoreKind = Literal["journal", "sqlite", "rdb", "grpc"]
# PostgreSQL's words for a database that does not exist (psycopg and psycopg2 alike)
T = TypeVar("T")


class StudyStore:
    """An Optuna storage URL, validated once; opens the storage on first use, at most once.

    Args:
        url: as the user gave it (it may hold a password: never print it; use ``display``).
        kind: ``journal`` (a file path), ``sqlite``, ``rdb`` (a database server) or ``grpc``
            (Optuna's storage proxy in front of one).
        source: what the user gave it as (``--storage`` or ``HPO_STORAGE``), for messages.
    """

    __slots__ = ("_channel", "_engine", "_storage", "kind", "source", "url")

    def __init__(self, url: str, kind: StoreKind, source: str = "--storage") -> None:
        self.url = url
        self.kind = kind
        self.source = source
        self._storage: optuna.storages.BaseStorage | None = None
        self._engine: Any = None
        self._channel: Any = None

    @classmethod
    def resolve(cls, url: str | None = None, *, source: str | None = None) -> StudyStore:
        """The store in force: ``url``, else $HPO_STORAGE, else the default journal file.

        Raises:
            ConfigError: an unknown scheme or a malformed URL, naming the accepted forms.
        """
        if url:
            given, where = url, source or "--storage"
        elif os.environ.get(STORAGE_ENV):
            given, where = os.environ[STORAGE_ENV], source or STORAGE_ENV
        else:
            given, where = DEFAULT_STORAGE, "the default storage"
        return cls(_normalise(given), _kind(given, where), where)

    @classmethod
    def of(cls, value: StudyStore | str | None) -> StudyStore:
        """``value`` if it is a store already, else :meth:`resolve` it (Python API callers)."""
        return value if isinstance(value, StudyStore) else cls.resolve(value)

    def __reduce__(self) -> tuple[Any, ...]:  # worker processes get the URL, not open handles
        return (StudyStore, (self.url, self.kind, self.source))

    def __repr__(self) -> str:
        return f"StudyStore({self.display!r})"

    @property
    def display(self) -> str:
        """The URL with any password redacted: for output, tags and logs."""
        return redact_url(self.url) or self.url

    @property
    def is_server(self) -> bool:
        """True for a database server (PostgreSQL, MySQL) or its proxy: shared by many hosts."""
        return self.kind in ("rdb", "grpc")

    def _path(self) -> Path:
        if self.kind == "sqlite":
            return Path(self.url.split(":///", 1)[1])
        return Path(self.url.removeprefix("journal:").removeprefix("//"))

    def exists(self) -> bool:
        """Whether this store holds Optuna's data yet (a journal or SQLite file, or Optuna's
        tables on a database server; a storage proxy answering). Never creates anything."""
        if self.kind == "grpc":
            self.open()  # the proxy's storage exists once the proxy runs
            return True
        if self.kind != "rdb":
            return self._path().exists()
        import sqlalchemy

        try:
            with self.engine().connect() as conn:
                return sqlalchemy.inspect(conn).has_table("studies")
        except Exception as exc:
            raise self._error("cannot reach the database", exc) from exc

    def open(self) -> optuna.storages.BaseStorage:
        """The Optuna storage, created where it does not exist yet; opened once per process.

        Raises:
            ConfigError: it cannot be opened (a missing driver, an unreachable server), redacted.
        """
        if self._storage is None:
            self._storage = self._open()
        return self._storage

    def _open(self) -> optuna.storages.BaseStorage:
        import optuna

        if self.kind == "grpc":
            from orchestrator.storage._grpc import open_grpc_storage

            return open_grpc_storage(self.url, self.source, what=f"{self.source} {self.display}")
        try:
            if self.kind == "journal":
                path = self._path()
                path.parent.mkdir(parents=True, exist_ok=True)
                backend = optuna.storages.journal.JournalFileBackend(str(path))
                return optuna.storages.JournalStorage(backend)
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if self.kind == "sqlite":
                self._path().parent.mkdir(parents=True, exist_ok=True)
                # a lock timeout of 5 s (the default) fails under contention of a few workers
                kwargs["connect_args"] = {"timeout": 30}
            else:
                kwargs.update(pool_size=2, max_overflow=4, pool_recycle=1800)
            return with_retries(lambda: _new_rdb_storage(self.url, kwargs))
        except HpoError:
            raise
        except Exception as exc:  # a bad URL, a missing driver or an unreachable server
            raise self._error("cannot open the Optuna storage", exc) from exc

    def study_names(self) -> list[str]:
        """The names of the studies in this store; none (and nothing created) if it is empty."""
        import optuna

        if not self.exists():
            return []
        storage = self.open()
        return with_retries(lambda: optuna.get_all_study_names(storage))

    def engine(self) -> Any:
        """A small SQLAlchemy engine of this database server, for hpo's own locks and checks."""
        if self._engine is None:
            import sqlalchemy

            try:
                # autocommit: its locks are the session's, and its checks only read, so none
                # of its statements needs a transaction (two round trips fewer per lock)
                self._engine = sqlalchemy.create_engine(
                    self.url,
                    pool_pre_ping=True,
                    pool_size=1,
                    max_overflow=1,
                    isolation_level="AUTOCOMMIT",
                )
            except Exception as exc:
                raise self._error("cannot open the database", exc) from exc
        return self._engine

    @contextlib.contextmanager
    def budget_lock(self, study_name: str) -> Iterator[None]:
        """Serialise "count the trials, then ask for one" across every worker of a study.

        With it the study's total of trials is reached exactly, never overshot by workers that
        counted at the same moment. PostgreSQL: an advisory lock; MySQL: GET_LOCK; a journal file
        or SQLite: an exclusive file lock beside the file; the storage proxy: its own lock
        service, which also takes the database's lock (workers behind it and workers on the
        database directly share one budget).
        """
        if self.kind == "grpc":
            from orchestrator.storage._grpc import grpc_channel, grpc_lock

            self._channel = self._channel or grpc_channel(self.url, self.source)
            with grpc_lock(self._channel, study_name, what=f"{self.source} {self.display}"):
                yield
            return
        key = zlib.crc32(f"hpo-budget:{study_name}".encode())
        if self.kind == "rdb":
            try:
                lock = _db_lock(self.engine(), key)
                lock.__enter__()
            except HpoError:
                raise
            except Exception as exc:
                raise self._error("cannot reach the database", exc) from exc
            try:
                yield
            finally:
                lock.__exit__(None, None, None)
            return
        path = Path(str(self._path()) + ".hpo-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _error(self, what: str, exc: BaseException) -> ConfigError:
        absent = NO_DATABASE.search(str(exc))
        if absent is not None:
            return ConfigError(
                f"{self.source} {self.display}: the database '{absent['name']}' does not exist "
                f"on that server; create it with: {createdb_command(self.url, absent['name'])}"
            )
        missing = missing_driver(exc)
        if missing is not None:
            return ConfigError(f"{self.source} {self.display}: {what}: {missing}")
        return ConfigError(
            f"{self.source} {self.display}: {what} ({type(exc).__name__}: "
            f"{redact_text(first_line(exc))}); check the URL and that the server is up "
            "(a password goes in PGPASSWORD or ~/.pgpass, not in the URL)"
        )


def _normalise(url: str) -> str:
    # postgres:// is Heroku's spelling; SQLAlchemy 2 knows the dialect only as postgresql
    if url.startswith("postgres://"):
        return "postgresql://" + url.removeprefix("postgres://")
    return url


def _kind(url: str, source: str) -> StoreKind:
    """What kind of store a URL names; an unknown scheme or a malformed URL is bad input."""
    match = _SCHEME.match(url)
    if match is None or url.startswith("journal:"):
        if not url.removeprefix("journal:").removeprefix("//").strip():
            raise ConfigError(f"{source} {url!r}: an empty path; give {ACCEPTED_FORMS}")
        return "journal"
    scheme = match.group("scheme").lower()
    if scheme == "grpc":
        from orchestrator.storage._grpc import parse_grpc_url

        parse_grpc_url(url, source)
        return "grpc"
    database = scheme.split("+", 1)[0]
    if database == "postgres":
        database = "postgresql"
    shown = redact_url(url)
    if database not in _DATABASES:
        raise ConfigError(
            f"{source} {shown}: unknown storage scheme '{scheme}://'; give {ACCEPTED_FORMS}"
        )
    if database == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path == ":memory:" or path.startswith("?"):
            raise ConfigError(
                f"{source} {shown}: a SQLite URL names a file after three slashes: "
                "sqlite:///studies.db (relative) or sqlite:////abs/path/studies.db"
            )
        return "sqlite"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(_normalise(url))
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"{source} {shown}: not a valid database URL ({first_line(exc)}); give {ACCEPTED_FORMS}"
        ) from exc
    if not parsed.host or not parsed.database:
        raise ConfigError(
            f"{source} {shown}: a {database} URL needs a host and a database: "
            f"{database}://user@host/db (the password in PGPASSWORD or ~/.pgpass)"
        )
    return "rdb"


def open_storage(url: StudyStore | str | None = None) -> optuna.storages.BaseStorage:
    """The Optuna storage of a URL, $HPO_STORAGE or the default journal file (created if needed).

    A convenience for scripts and tests; hpo itself resolves a :class:`StudyStore` once.
    """
    return StudyStore.of(url).open()


def _new_rdb_storage(url: str, engine_kwargs: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage of ``url``. On a new database it creates Optuna's tables, and workers
    started together race to do so: the losers see "already exists" (a duplicate type or table),
    and are let in once the winner's tables are there."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(SCHEMA_RACE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (IntegrityError, ProgrammingError) as exc:
            text = str(exc)
            if attempt + 1 == SCHEMA_RACE_ATTEMPTS or not (
                "already exists" in text or "duplicate key" in text
            ):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_transient(exc: BaseException | None) -> bool:
    """A lost or refused database connection, also where Optuna re-raised it as its own
    ``StorageInternalError`` (its RDB storage wraps every SQLAlchemy error of a session)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "code", None)  # a gRPC error: the storage proxy unreachable a moment
        if callable(code) and getattr(code(), "name", None) == "UNAVAILABLE":
            return True
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
def _db_lock(engine: Any, key: int) -> Iterator[None]:
    import sqlalchemy

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
