"""Where a study is in MLflow's UI: the UI's address for a tracking URI, the experiment of a study,
and the page of its runs table.

MLflow 3 opens an experiment of no declared kind on its GenAI overview, and a run of it on its
GenAI "Evaluations" view. A study's experiment declares itself a model-training one (the tag
``mlflow.experimentKind=custom_model_development``, what the UI's own "Model training" choice
writes), and carries a saved view of its runs table (``mlflow.sharedViewState.hpo-trials``, what
the table's "Share" button writes): the trial runs only (the parent run, which repeats the
winner's objective, left out), sorted by the objective, best first, with the objective,
``hpo.state``, the logged model and the searched parameters as columns. The link
``#/experiments/ID/runs?viewStateShareKey=hpo-trials`` opens it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from orchestrator.errors import ConfigError, first_line
from orchestrator.redact import redact_text
from orchestrator.tracking._client import (
    EXPERIMENT_KIND,
    default_tracking_uri,
    existing_experiment,
    objective_key,
)

__all__ = [
    "EXPERIMENT_KIND",
    "LOCAL_UI",
    "TRIALS_VIEW",
    "experiment_id_of",
    "has_trials_view",
    "runs_table_url",
    "study_objective",
    "trials_view_tags",
    "ui_base",
]

LOCAL_UI = "http://127.0.0.1:5000"  # where `hpo ui` and `mlflow ui` serve by default
TRIALS_VIEW = "hpo-trials"  # the share key of the saved view of a study's trial runs
VIEW_TAG = "mlflow.sharedViewState."  # + share key: the view, as JSON
VIEW_PARAMS = 12  # searched parameters shown as columns of the view, at most
VIEW_TAG_LIMIT = 5000  # characters of an experiment tag's value MLflow stores


def ui_base(tracking_uri: str) -> str:
    """The address of MLflow's UI for a tracking URI: the server itself for ``http(s)://`` (any
    user and password left out), else :data:`LOCAL_UI`."""
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return LOCAL_UI


def _column(kind: str, key: str) -> str:
    """A column of MLflow's runs table as its saved views name it: ``metrics.`val_loss```."""
    return f"{kind}.`{key}`"


def trials_view_tags(
    metrics: Sequence[str], *, minimize: bool = False, params: Sequence[str] = ()
) -> dict[str, str]:
    """The experiment tags of a study's saved runs-table view (see the module's docstring): its
    trial runs sorted by the first objective (``minimize``: smallest first), the objectives'
    keys, ``hpo.state``, the models and data set, and the first searched ``params``."""
    keys = [objective_key(m) for m in metrics]
    columns = [
        *(_column("metrics", k) for k in keys),
        _column("tags", "hpo.state"),
        _column("attributes", "Models"),
        _column("attributes", "Dataset"),
        *(_column("params", p) for p in params[:VIEW_PARAMS]),
    ]
    view: dict[str, object] = {
        "searchFilter": "tags.`hpo.role` = 'trial'",
        "orderByKey": _column("metrics", keys[0]) if keys else "attributes.start_time",
        "orderByAsc": bool(minimize) if keys else False,
        "selectedColumns": columns,
    }
    text = json.dumps(view)
    while len(text) > VIEW_TAG_LIMIT and len(columns) > len(keys) + 3:
        columns.pop()  # long parameter names: fewer of them
        text = json.dumps(view)
    return {**EXPERIMENT_KIND, f"{VIEW_TAG}{TRIALS_VIEW}": text}


def runs_table_url(
    base: str,
    experiment_id: str,
    *,
    metric: str | None = None,
    minimize: bool = False,
    view: bool = False,
) -> str:
    """The runs table of an experiment in MLflow 3's model-training view, on the UI at ``base``,
    e.g. ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning``.

    With ``view`` (the experiment carries :func:`trials_view_tags`), the study's saved view:
    its trial runs, sorted, with their objective and state. Else, with ``metric`` (a study's
    single objective), the table is sorted by its MLflow key, best first: Optuna's ranking.
    """
    url = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if view:
        return f"{url}&viewStateShareKey={TRIALS_VIEW}"
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
    found = _experiment(study_name, tracking_uri=tracking_uri)
    return None if found is None else str(found.experiment_id)


def has_trials_view(study_name: str, *, tracking_uri: str | None = None) -> bool:
    """Whether the study's experiment carries its saved runs-table view (studies run before hpo
    saved one do not, until their next run)."""
    try:  # only the link's form hangs on it
        found = _experiment(study_name, tracking_uri=tracking_uri)
    except ConfigError:
        return False
    return found is not None and f"{VIEW_TAG}{TRIALS_VIEW}" in (found.tags or {})


def _experiment(study_name: str, *, tracking_uri: str | None) -> Any:
    uri = tracking_uri or default_tracking_uri()
    try:
        uri, found = existing_experiment(study_name, uri)
    except Exception as exc:
        raise ConfigError(
            f"--tracking-uri {redact_text(uri)}: cannot read MLflow's experiments there "
            f"({redact_text(first_line(exc))}); check the URI and that the store is reachable"
        ) from exc
    return found
