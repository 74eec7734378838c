"""Local SQLite tracking stores: opened in WAL mode, through a SQLAlchemy connect hook.

MLflow opens its database itself; the hook set here changes how every later SQLite connection to
a store registered with :func:`use_wal` is configured, the first (creation) included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["open_sqlite_store", "sqlite_path", "use_wal"]

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

        seed_schema(path)
    use_wal(uri)


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
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        event.listen(Pool, "connect", _on_sqlite_connect)
    _WAL_STORES.add(os.path.realpath(path))


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    if row and row[2] and os.path.realpath(row[2]) in _WAL_STORES:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
