"""MLflow tracking: the only package that imports mlflow.

- :mod:`._runs`: :class:`Tracker` (an experiment per study, a parent run, a nested run per
  trial) and :class:`TrialRun` (one run's buffered metrics, its artifacts and its end);
- :mod:`._models`: models logged with ``mlflow.pytorch``, and shipped models found and loaded;
- :mod:`._sqlite`: local SQLite tracking stores in WAL mode;
- :mod:`._client`: MLflow's default store, values in the form MLflow stores, batched writes.
"""

from __future__ import annotations

from orchestrator.tracking._client import default_tracking_uri, objective_key
from orchestrator.tracking._models import (
    LoggedModel,
    describe_model_version,
    download_model,
    load_pytorch_model,
    log_pytorch_model,
    pinned_requirements,
    resolve_model_uri,
)
from orchestrator.tracking._runs import RunStatus, Tracker, TrialRun

__all__ = [
    "LoggedModel",
    "RunStatus",
    "Tracker",
    "TrialRun",
    "default_tracking_uri",
    "describe_model_version",
    "download_model",
    "load_pytorch_model",
    "log_pytorch_model",
    "objective_key",
    "pinned_requirements",
    "resolve_model_uri",
]
