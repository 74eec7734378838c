"""Where studies live: the Optuna storage, resolved and validated once, and what hpo adds to it.

- :mod:`._store`: :class:`StudyStore`, a storage URL or path resolved once (journal file,
  SQLite, PostgreSQL, MySQL, ``grpc://``), retries of transient faults, the budget lock;
- :mod:`._drivers`: the database driver a URL needs, named with its install command;
- :mod:`._grpc`: Optuna's gRPC storage proxy and hpo's budget lock served beside it;
- :mod:`._proxy`: ``hpo storage-proxy``'s server;
- :mod:`._batch`: :class:`BatchingStorage`, a trial's writes gathered into a few;
- :mod:`._rdb`: a trial's writes to a database in one transaction each, and the reader of what
  changed;
- :mod:`._optuna`: the Optuna internals hpo relies on, in one place.

Imports nothing of :mod:`orchestrator.study`: the study package uses this one.
"""

from __future__ import annotations

from orchestrator.storage._optuna import study_attr, trial_attr
from orchestrator.storage._proxy import start_storage_proxy
from orchestrator.storage._store import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    StudyStore,
    open_storage,
    with_retries,
)

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "BatchingStorage",
    "StudyStore",
    "open_storage",
    "start_storage_proxy",
    "study_attr",
    "trial_attr",
    "with_retries",
]


def __getattr__(name: str) -> object:
    # imported on first use: it subclasses Optuna's storage, and importing Optuna costs 0.4 s
    if name == "BatchingStorage":
        from orchestrator.storage._batch import BatchingStorage

        return BatchingStorage
    raise AttributeError(f"module 'orchestrator.storage' has no attribute {name!r}")
