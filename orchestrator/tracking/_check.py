"""Is the tracking store usable? One check before the first trial, writing nothing to it.

MLflow finds out on its own only after minutes: it retries opening an SQLite store that cannot be
written about 2 minutes, and an unreachable server 7 times with a doubling backoff. This check
answers in seconds:

- ``sqlite:///PATH``: an existing database must open for writing and its folder take SQLite's
  journal files; a new one's nearest existing folder must take a new file (an anonymous file,
  removed at once: nothing appears there);
- ``http(s)://``: the server answers ``/health`` within :data:`REACH_TIMEOUT` (any HTTP answer
  will do: a proxy or an authenticating server is reached too);
- a database server (``postgresql://``, ``mysql://``, ...): its driver imports and a connection
  opens.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchestrator.errors import ConfigError, first_line
from orchestrator.redact import redact_text, redact_url
from orchestrator.tracking._client import bound_http_requests
from orchestrator.tracking._sqlite import sqlite_path

__all__ = ["REACH_TIMEOUT", "check_tracking_store"]

REACH_TIMEOUT = (5.0, 10.0)  # seconds to connect, then to the first byte of the answer
_DATABASES = ("postgresql", "postgres", "mysql", "mssql", "oracle")


def check_tracking_store(uri: str, *, source: str) -> None:
    """Raise :class:`ConfigError` (one line: ``source``, the URI redacted, the OS or network
    error and the fix) if the tracking store ``uri`` cannot be written or reached.

    ``source``: what the user gave, in words (``--tracking-uri``).
    """
    bound_http_requests()
    shown = redact_url(uri)
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    path = sqlite_path(uri)
    try:
        if path is not None:
            _check_sqlite(path)
        elif scheme in ("http", "https"):
            _check_http(uri)
        elif scheme in _DATABASES:
            _check_database(uri)
        else:
            return  # another kind of store (databricks, a plugin): MLflow's own checks
    except (OSError, _Unreachable) as exc:
        raise ConfigError(f"{source} {shown}: {_wording(exc, scheme, path)}") from exc
    except Exception as exc:  # a driver missing, a refused login: said by the caller too
        raise ConfigError(
            f"{source} {shown}: cannot open the MLflow tracking store "
            f"({redact_text(first_line(exc, with_type=True))}); check the URL and that the "
            "server is up"
        ) from exc


class _Unreachable(Exception):
    """The tracking server did not answer."""


def _wording(exc: BaseException, scheme: str, path: Path | None) -> str:
    error = redact_text(first_line(exc, with_type=True))
    if path is not None:
        return (
            f"cannot write the MLflow tracking store ({error}); give a file in a folder you can "
            "write to, e.g. --tracking-uri sqlite:///$HOME/mlflow.db"
        )
    if isinstance(exc, _Unreachable):
        return (
            f"the MLflow tracking server does not answer ({redact_text(str(exc))}); start it "
            "(hpo ui, or mlflow server) or fix the URL"
        )
    return f"cannot reach the MLflow tracking store ({error}); check the URL and the network"


def _writable_folder(folder: Path) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):  # Linux: O_TMPFILE, never a name in the folder
            pass
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or "cannot create a file", str(folder)) from exc


def _check_sqlite(path: Path) -> None:
    if path.exists():
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory (not a database file)", str(path))
        with open(path, "r+b"):  # opened for writing, nothing written
            pass
        _writable_folder(path.parent)  # SQLite's journal, WAL and lock files live beside it
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # MLflow creates the missing folders: the first existing one counts
    if not folder.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(folder))
    _writable_folder(folder)


def _check_http(uri: str) -> None:
    import requests

    url = uri.rstrip("/") + "/health"
    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("1", "true")
    try:
        requests.get(url, timeout=REACH_TIMEOUT, verify=not insecure, allow_redirects=False)
    except requests.exceptions.SSLError:
        return  # it answered; MLflow's own TLS settings (a CA bundle) decide the rest
    except requests.exceptions.Timeout as exc:
        raise _Unreachable(f"no answer within {sum(REACH_TIMEOUT):.0f} s") from exc
    except requests.exceptions.ConnectionError as exc:
        raise _Unreachable(_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    """The innermost reason of a failed connection (``[Errno 111] Connection refused``)."""
    while exc.__context__ is not None or (exc.args and isinstance(exc.args[0], BaseException)):
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = inner or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if "Failed to establish" in text else first_line(exc)


def _check_database(uri: str) -> None:
    import sqlalchemy

    connect_args = {"connect_timeout": 10} if uri.startswith(("postgres", "mysql")) else {}
    engine = sqlalchemy.create_engine(uri, connect_args=connect_args)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
