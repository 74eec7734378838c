"""``hpo storage-proxy``'s server: Optuna's gRPC storage proxy over a study store, with hpo's
budget lock (:mod:`._grpc` builds the server, :mod:`._store` opens the database)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError
from orchestrator.storage._grpc import _target, make_proxy_server
from orchestrator.storage._store import StudyStore

if TYPE_CHECKING:
    import grpc

__all__ = ["start_storage_proxy"]

logger = logging.getLogger(__name__)


def start_storage_proxy(store: StudyStore, *, host: str, port: int) -> grpc.Server:
    """Serve ``store`` (a database) to workers on ``host:port``: Optuna's proxy over Optuna's
    cached RDB storage (as Optuna advises) and hpo's budget lock; started, not waited on.

    Raises:
        ConfigError: ``store`` is not a database (a journal file, another proxy), it cannot be
            opened, or the address cannot be bound.
    """
    import optuna

    if store.kind not in ("rdb", "sqlite"):
        what = "another storage proxy" if store.kind == "grpc" else "a journal file"
        raise ConfigError(
            f"{store.source} {store.display}: the storage proxy serves a database, not {what}; "
            "give the database the workers would use: --storage postgresql://user@host/db"
        )
    storage = optuna.storages.get_storage(store.open())  # caches the study's trials
    server = make_proxy_server(storage, host=host, port=port, backend_lock=store.budget_lock)
    server.start()
    logger.info("storage proxy for %s listening on %s", store.display, _target(host, port))
    return server
