"""MLflow tracking: the only package that imports mlflow.

- :mod:`._runs`: :class:`Tracker` (an experiment per study, a parent run, a nested run per
  trial);
- :mod:`._trial_run`: :class:`TrialRun` (one run's buffered metrics, its artifacts and its end);
- :mod:`._writer`: the one thread that makes every MLflow call of a tracker, in order; a trial's
  writes wait for nothing;
- :mod:`._models`: models logged with ``mlflow.pytorch``, and shipped models found and loaded;
- :mod:`._pyfunc`: hpo's bundles (one network or an ensemble) as MLflow pyfunc models
  (:func:`log_hpo_model`, imported on first use: it imports ``mlflow.pyfunc``);
- :mod:`._sqlite`: local SQLite tracking stores in WAL mode;
- :mod:`._check`: the tracking store checked before the first trial (writable, reachable);
- :mod:`._client`: MLflow's default store, values in the form MLflow stores, batched writes;
- :mod:`._links`: a study's experiment and its runs table in MLflow's UI.
"""

from __future__ import annotations

from orchestrator.tracking._check import check_tracking_store
from orchestrator.tracking._client import default_tracking_uri, objective_key
from orchestrator.tracking._links import (
    LOCAL_UI,
    TRIALS_VIEW,
    experiment_id_of,
    has_trials_view,
    runs_table_url,
    study_objective,
    trials_view_tags,
    ui_base,
)
from orchestrator.tracking._models import (
    LoggedModel,
    describe_model_version,
    download_model,
    load_pytorch_model,
    log_pytorch_model,
    pinned_requirements,
    resolve_model_uri,
)
from orchestrator.tracking._runs import Tracker
from orchestrator.tracking._trial_run import RunStatus, TrialRun
from orchestrator.tracking._writer import Writer

__all__ = [
    "LOCAL_UI",
    "TRIALS_VIEW",
    "LoggedModel",
    "RunStatus",
    "Tracker",
    "TrialRun",
    "Writer",
    "check_tracking_store",
    "default_tracking_uri",
    "describe_model_version",
    "download_model",
    "experiment_id_of",
    "has_trials_view",
    "load_pytorch_model",
    "log_hpo_model",
    "log_pytorch_model",
    "objective_key",
    "pinned_requirements",
    "resolve_model_uri",
    "runs_table_url",
    "study_objective",
    "trials_view_tags",
    "ui_base",
]


def __getattr__(name: str) -> object:
    # imported on first use: it imports mlflow.pyfunc, which the trials never need
    if name == "log_hpo_model":
        from orchestrator.tracking._pyfunc import log_hpo_model

        return log_hpo_model
    if name == "HpoModel":
        from orchestrator.tracking._pyfunc import HpoModel

        return HpoModel
    raise AttributeError(f"module 'orchestrator.tracking' has no attribute {name!r}")
