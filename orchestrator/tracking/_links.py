"""Where a study is in MLflow's UI: the UI's address for a tracking URI, the experiment of a study,
and the page of its runs table.

MLflow 3 opens an experiment on its GenAI overview; the table of a training study's runs is the
experiment's ``runs`` tab in the model-training view, ``workflowType=machine_learning`` in the
page's query (the parameter MLflow's own UI sets when one picks "Model training").
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from orchestrator.errors import ConfigError, first_line
from orchestrator.redact import redact_text
from orchestrator.tracking._client import default_tracking_uri
from orchestrator.tracking._sqlite import sqlite_path

__all__ = ["LOCAL_UI", "experiment_id_of", "runs_table_url", "ui_base"]

LOCAL_UI = "http://127.0.0.1:5000"  # where `hpo ui` and `mlflow ui` serve by default


def ui_base(tracking_uri: str) -> str:
    """The address of MLflow's UI for a tracking URI: the server itself for ``http(s)://`` (any
    user and password left out), else :data:`LOCAL_UI`."""
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return LOCAL_UI


def runs_table_url(base: str, experiment_id: str) -> str:
    """The runs table of an experiment in MLflow 3's model-training view, on the UI at ``base``,
    e.g. ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning``."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def experiment_id_of(study_name: str, *, tracking_uri: str | None = None) -> str | None:
    """The id of the MLflow experiment of a study (hpo names it after the study); None when the
    tracking store or the experiment does not exist, or the experiment was deleted.

    Creates nothing: a SQLite store that does not exist is not created.

    Raises:
        ConfigError: the tracking store cannot be read.
    """
    from mlflow import MlflowClient

    uri = tracking_uri or default_tracking_uri()
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        return None
    try:
        found = MlflowClient(tracking_uri=uri).get_experiment_by_name(study_name)
    except Exception as exc:
        raise ConfigError(
            f"--tracking-uri {redact_text(uri)}: cannot read MLflow's experiments there "
            f"({redact_text(first_line(exc))}); check the URI and that the store is reachable"
        ) from exc
    if found is None or found.lifecycle_stage == "deleted":
        return None
    return str(found.experiment_id)
