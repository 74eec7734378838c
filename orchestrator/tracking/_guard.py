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

__all__ = ["MLFLOW", "GuardedClient"]

MLFLOW = "MLflow"
# MLflow logs each database error with its traceback before raising it: the StoreError says it
_MLFLOW_DB_LOGGER = "mlflow.store.db.utils"


class _DropDatabaseErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SQLAlchemy database error")


_DROP = _DropDatabaseErrors()


class GuardedClient:
    """An ``MlflowClient`` whose failing calls raise :class:`StoreError` (the cause kept)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        logger = logging.getLogger(_MLFLOW_DB_LOGGER)
        if _DROP not in logger.filters:
            logger.addFilter(_DROP)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_client":  # copy, pickle: no wrapped client yet
            raise AttributeError(name)
        value = getattr(self._client, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except HpoError:
                raise
            except Exception as exc:
                raise StoreError.of(MLFLOW, exc) from exc

        return call
