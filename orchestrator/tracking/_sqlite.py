"""Local SQLite tracking stores: opened in WAL mode, through a SQLAlchemy connect hook, and whole
again when hpo exits.

MLflow opens its database itself; the hook set here changes how every later SQLite connection to
a store registered with :func:`use_wal` is configured, the first (creation) included. In WAL mode
commits land in ``mlflow.db-wal`` first; SQLite folds them into ``mlflow.db`` when its last
connection closes, which a process that exits with MLflow's pool open never does. So at exit (a
normal one, an error, SIGINT or SIGTERM handled) every such store is checkpointed
(:func:`checkpoint`): ``mlflow.db`` alone then holds every run, for a user who copies it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

__all__ = ["checkpoint", "open_sqlite_store", "sqlite_path", "use_wal"]

_WAL_STORES: set[str] = set()  # SQLite tracking stores of this process in WAL mode (real paths)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def open_sqlite_store(uri: str) -> None:
    """Before MLflow opens a local SQLite tracking store: a new one is created from the cached
    schema (:func:`seed_schema`, instead of MLflow's migrations), and every one opens in WAL
    mode (:func:`use_wal`). Any other URI: nothing."""
    path = sqlite_path(uri)
    if path is None:
        return
    if not path.exists():
        from orchestrator.tracking._schema import seed_schema

        if seed_schema(path):
            _as_umask_says(path)
    use_wal(uri)


def _as_umask_says(path: Path) -> None:
    """Give a file hpo created the permissions the user's umask gives new files (0644 under the
    usual 022), as MLflow's own creation would, not a temporary file's 0600."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def use_wal(uri: str) -> None:
    """Open a local SQLite tracking store in WAL mode with ``synchronous=NORMAL``.

    MLflow commits once per call, and in SQLite's default mode every commit waits for the disk
    twice; in WAL mode with ``synchronous=NORMAL`` it waits for none, and several processes (the
    workers of ``hpo run --jobs``, ``hpo ui``) still read and write the file safely. A power cut
    can lose the last commits but leaves the database consistent. WAL needs the file on a local
    disk (not NFS). Applies to connections opened from now on, the first (creation) included.
    """
    path = sqlite_path(uri)
    if path is None:
        return
    if not _WAL_STORES:
        import atexit

        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        event.listen(Pool, "connect", _on_sqlite_connect)
        atexit.register(checkpoint)
    _WAL_STORES.add(os.path.realpath(path))


def checkpoint() -> list[str]:
    """Fold the write-ahead log of every WAL store of this process into its database and empty
    it (``PRAGMA wal_checkpoint(TRUNCATE)``): the database file alone is then whole. A store
    that is busy elsewhere (another process reading) keeps what it cannot fold yet: SQLite folds
    it later, nothing is lost. Returns the stores checkpointed."""
    import logging
    import sqlite3

    done = []
    for path in sorted(_WAL_STORES):
        if not os.path.exists(path):
            continue
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            done.append(path)
        except sqlite3.Error as exc:
            logging.getLogger(__name__).debug("checkpoint of %s: %s", path, exc)
    return done


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    if row and row[2] and os.path.realpath(row[2]) in _WAL_STORES:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
