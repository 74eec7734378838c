"""MLflow's failures, as hpo reports them: every call of a tracker's MLflow client that fails
becomes a :class:`StoreError` (``MLflow: MlflowException: (sqlite3.OperationalError) disk I/O
error``): one line and exit 1 wherever it happens, and in a trial a store fault that queues the
trial again (see ``orchestrator.study``'s failure classes), never "a bug in hpo".
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from orchestrator.errors import HpoError, StoreError
from orchestrator.tracking._writer import Writer

__all__ = ["MLFLOW", "GuardedClient"]

MLFLOW = "MLflow"
# MLflow logs each database error with its traceback before raising it: the StoreError says it
_MLFLOW_DB_LOGGER = "mlflow.store.db.utils"


class _DropDatabaseErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SQLAlchemy database error")


_DROP = _DropDatabaseErrors()


class GuardedClient:
    """An ``MlflowClient`` whose failing calls raise :class:`StoreError` (the cause kept), each
    made on ``writer``'s thread after every call queued before it (see :mod:`._writer`)."""

    def __init__(self, client: Any, writer: Writer) -> None:
        self._client = client
        self.writer = writer
        logger = logging.getLogger(_MLFLOW_DB_LOGGER)
        if _DROP not in logger.filters:
            logger.addFilter(_DROP)

    def __getattr__(self, name: str) -> Any:
        # copy, pickle: no wrapped client yet
        if name.startswith("__") or name in ("_client", "writer"):
            raise AttributeError(name)
        value = getattr(self._client, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.writer.call(guarded, *args, **kwargs)

        @functools.wraps(value)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except HpoError:
                raise
            except Exception as exc:
                raise StoreError.of(MLFLOW, exc) from exc

        return call
