"""What every MLflow call of hpo shares: the default store, and values in the form MLflow stores.

Parameter and tag values are JSON text, with secrets redacted, cut to MLflow's length limit;
non-finite metrics are left out (MLflow stores NaN, but no chart or comparison can use it); a
batch of entities is split into as few ``log_batch`` calls as MLflow's limits allow.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.redact import redact_text

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, Metric, Param, RunTag

__all__ = [
    "EXPERIMENT_KIND",
    "HTTP_BOUNDS",
    "OBJECTIVE_PREFIX",
    "bound_http_requests",
    "context_tags",
    "dataset_input",
    "default_tracking_uri",
    "existing_experiment",
    "finite_metrics",
    "log_params",
    "now_ms",
    "objective_key",
    "param_value",
    "quiet_artifact_downloads",
    "run_tags",
    "write_batch",
]

MAX_PARAM_LENGTH = 6000  # MLflow's param value limit, in characters
MAX_PARAMS_PER_BATCH = 100  # MLflow's log_batch limits
MAX_METRICS_PER_BATCH = 1000  # metrics and tags together
MAX_TAGS_PER_BATCH = 100
OBJECTIVE_PREFIX = "best_"  # the objective's key: ``best_val_accuracy`` for ``val_accuracy``

# the experiment's kind, as MLflow 3's UI reads it: its model-training view (see _links)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def objective_key(metric: str) -> str:
    """The MLflow metric key of an objective, the same on the parent run and on every trial
    run: the value Optuna was told (a trial's best epoch; on the parent, the study's best), so
    sorting the runs table by it gives Optuna's ranking. Per-epoch histories keep the plain
    name (``val_accuracy``)."""
    return f"{OBJECTIVE_PREFIX}{metric}"


def context_tags(source: str) -> dict[str, str]:
    """The tags MLflow's fluent API would set and the runs table shows: who ran it, from what."""
    import contextlib
    import getpass

    tags = {"mlflow.source.name": source, "mlflow.source.type": "LOCAL"}
    with contextlib.suppress(Exception):  # no user name in the environment or password database
        tags["mlflow.user"] = getpass.getuser()
    return tags


def dataset_input(
    name: str,
    *,
    digest: str,
    source: str | None,
    sizes: Mapping[str, int],
    context: str = "training",
    profile: Mapping[str, Any] = (),
) -> DatasetInput:
    """A data set as MLflow's dataset tracking records it: its name, digest and source, the
    split sizes as its profile; no data is copied. ``source``: a file or folder (recorded as a
    local source), or None for a set bundled with hpo (a code source)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    if source is None:
        source_type, source_json = "code", {"tags": {"hpo.data": name}}
    else:
        source_type, source_json = "local", {"uri": redact_text(source)}
    dataset = Dataset(
        name=name,
        digest=digest,
        source_type=source_type,
        source=json.dumps(source_json),
        profile=json.dumps({**{f"{k}_rows": v for k, v in sizes.items()}, **dict(profile)}),
    )
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])


# MLflow's HTTP requests, as hpo bounds them (a user's own values of these variables win). By
# MLflow's defaults a server that is down costs 7 retries with a doubling backoff of 2 s and 120 s
# per request: minutes. Here a request gives up after 3 retries 1, 2 and 4 s apart (plus up to 1 s
# of jitter each) and 20 s without an answer, so a refused connection fails in about 10 s.
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",  # seconds
}


def default_tracking_uri() -> str:
    """Where MLflow itself would log: MLFLOW_TRACKING_URI, else its own default store."""
    import mlflow

    return mlflow.get_tracking_uri()


def existing_experiment(name: str, tracking_uri: str | None) -> tuple[str, Any]:
    """The resolved tracking URI and the live experiment ``name`` there, or None; creates
    nothing (a SQLite store that does not exist is not created). MLflow's errors propagate."""
    from mlflow import MlflowClient

    from orchestrator.tracking._sqlite import sqlite_path

    uri = tracking_uri or default_tracking_uri()
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        return uri, None
    found = MlflowClient(tracking_uri=uri).get_experiment_by_name(name)
    return uri, None if found is None or found.lifecycle_stage == "deleted" else found


def quiet_artifact_downloads() -> None:
    """No progress bar on artifact downloads (it goes to stderr: per-trial output, cron mail);
    MLflow's HTTP retries and timeouts bounded (:func:`bound_http_requests`)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    bound_http_requests()


def bound_http_requests() -> None:
    """Bound MLflow's HTTP retries and timeouts (:data:`HTTP_BOUNDS`), unless the user set them."""
    for name, value in HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)


def param_value(value: Any) -> str:
    """A parameter or tag value as MLflow stores it: JSON unless text, redacted, cut to length."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return redact_text(text)[:MAX_PARAM_LENGTH]


def now_ms() -> int:
    """MLflow's timestamp of now: milliseconds since the epoch."""
    return int(time.time() * 1000)


def finite_metrics(values: Mapping[str, Any], *, timestamp: int, step: int) -> list[Metric]:
    """MLflow metrics of ``values`` at ``step``; None and non-finite values are left out."""
    from mlflow.entities import Metric

    return [
        Metric(key, float(value), timestamp, step)
        for key, value in values.items()
        if value is not None and math.isfinite(float(value))
    ]


def run_tags(tags: Mapping[str, Any]) -> list[RunTag]:
    """MLflow tags of ``tags``, each value as :func:`param_value` writes it."""
    from mlflow.entities import RunTag

    return [RunTag(key, param_value(value)) for key, value in tags.items()]


def write_batch(
    client: MlflowClient,
    run_id: str,
    *,
    metrics: Sequence[Metric] = (),
    tags: Sequence[RunTag] = (),
) -> None:
    """Write metrics and tags of one run in as few ``log_batch`` calls as MLflow allows."""
    metrics, tags = list(metrics), list(tags)
    while metrics or tags:
        tag_part = tags[:MAX_TAGS_PER_BATCH]
        metric_part = metrics[: MAX_METRICS_PER_BATCH - len(tag_part)]
        client.log_batch(run_id, metrics=metric_part, tags=tag_part)
        metrics, tags = metrics[len(metric_part) :], tags[len(tag_part) :]


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Log the parameters of a run, in batches of MLflow's limit."""
    from mlflow.entities import Param

    items: list[Param] = [Param(k, param_value(v)) for k, v in dict(params).items()]
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])
