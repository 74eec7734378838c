"""Links from the report to MLflow's UI: a run's page, on the tracking server the study logs to,
or, for a store on disk or a database, on the UI that ``hpo ui`` (``mlflow ui``) serves locally."""

from __future__ import annotations

from urllib.parse import urlsplit

from orchestrator.redact import redact_text
from orchestrator.tracking import LOCAL_UI, ui_base


def is_served(tracking_uri: str) -> bool:
    """Whether the tracking URI is a server (its links open as they are)."""
    return urlsplit(tracking_uri).scheme in ("http", "https")


def run_url(tracking_uri: str, *, experiment_id: str, run_id: str) -> str:
    """The page of one run in MLflow's UI."""
    return f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}/runs/{run_id}"


def links_note(tracking_uri: str) -> str:
    """What the run links of a report point at, in one sentence."""
    if is_served(tracking_uri):
        return f"Trial numbers link to their MLflow runs on {ui_base(tracking_uri)}."
    uri = redact_text(tracking_uri)
    return (
        f"Trial numbers link to their MLflow runs as MLflow's UI shows them at {LOCAL_UI} once "
        f"it runs over this store: hpo ui --tracking-uri {uri} "
        f"(or mlflow ui --backend-store-uri {uri})."
    )
