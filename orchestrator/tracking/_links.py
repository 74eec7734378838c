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
from orchestrator.tracking._client import (
    default_tracking_uri,
    existing_experiment,
    objective_key,
)

__all__ = ["LOCAL_UI", "experiment_id_of", "runs_table_url", "study_objective", "ui_base"]

LOCAL_UI = "http://127.0.0.1:5000"  # where `hpo ui` and `mlflow ui` serve by default


def ui_base(tracking_uri: str) -> str:
    """The address of MLflow's UI for a tracking URI: the server itself for ``http(s)://`` (any
    user and password left out), else :data:`LOCAL_UI`."""
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return LOCAL_UI


def runs_table_url(
    base: str, experiment_id: str, *, metric: str | None = None, minimize: bool = False
) -> str:
    """The runs table of an experiment in MLflow 3's model-training view, on the UI at ``base``,
    e.g. ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning``.

    With ``metric`` (a study's single objective), the table is sorted by its MLflow key, best
    first: Optuna's ranking. MLflow lists a sorted table flat, so the trial runs show without
    unfolding their parent (which carries the study's best under the same key).
    """
    url = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if metric is None:
        return url
    from urllib.parse import quote

    key = quote(f"metrics.`{objective_key(metric)}`", safe="")
    return f"{url}&orderByKey={key}&orderByAsc={'true' if minimize else 'false'}"


def study_objective(study_name: str, *, tracking_uri: str | None = None) -> tuple[str, bool] | None:
    """A study's single objective and whether it is minimized, as its parent run's tags say
    (``hpo.metric``, ``hpo.direction``); None for several objectives or no parent run."""
    from orchestrator.tracking._runs import Tracker

    try:  # only the order of a table hangs on it: a store that cannot say leaves it unsorted
        tracker = Tracker.open_existing(study_name, tracking_uri=tracking_uri)
        run_id = tracker.find_parent_run(study_name) if tracker is not None else None
        if tracker is None or run_id is None:
            return None
        tags = tracker.client.get_run(run_id).data.tags
    except Exception:
        return None
    metric, direction = tags.get("hpo.metric", ""), tags.get("hpo.direction", "")
    if not metric or "," in metric:
        return None
    return metric, direction == "minimize"


def experiment_id_of(study_name: str, *, tracking_uri: str | None = None) -> str | None:
    """The id of the MLflow experiment of a study (hpo names it after the study); None when the
    tracking store or the experiment does not exist, or the experiment was deleted.

    Creates nothing: a SQLite store that does not exist is not created.

    Raises:
        ConfigError: the tracking store cannot be read.
    """
    uri = tracking_uri or default_tracking_uri()
    try:
        uri, found = existing_experiment(study_name, uri)
    except Exception as exc:
        raise ConfigError(
            f"--tracking-uri {redact_text(uri)}: cannot read MLflow's experiments there "
            f"({redact_text(first_line(exc))}); check the URI and that the store is reachable"
        ) from exc
    return None if found is None else str(found.experiment_id)
