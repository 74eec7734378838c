"""Links from the report to MLflow's UI: a run's page, on the UI the user named (``hpo report
--ui-url``), else on the tracking server the study logs to, else, for a store on disk or a
database, on the UI that ``hpo ui`` (``mlflow ui``) serves locally."""

from __future__ import annotations

from urllib.parse import urlsplit

from orchestrator.redact import redact_text, redact_url
from orchestrator.tracking import LOCAL_UI, ui_base

__all__ = ["is_served", "links_note", "run_url", "ui_address"]


def is_served(tracking_uri: str) -> bool:
    """Whether the tracking URI is a server (its links open as they are)."""
    return urlsplit(tracking_uri).scheme in ("http", "https")


def ui_address(tracking_uri: str, ui_url: str | None = None) -> str:
    """The address of MLflow's UI the links open: ``ui_url`` when given (its user and password
    left out), else the tracking server's own, else :data:`LOCAL_UI`."""
    if ui_url:
        return ui_base(redact_url(ui_url)) if is_served(ui_url) else ui_url.rstrip("/")
    return ui_base(tracking_uri)


def run_url(base: str, *, experiment_id: str, run_id: str) -> str:
    """The page of one run in MLflow's UI at ``base`` (see :func:`ui_address`), in its
    model-training view: without ``workflowType``, MLflow 3 opens a run in its GenAI view."""
    return (
        f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        "?workflowType=machine_learning"
    )


def links_note(base: str, *, served: bool, tracking_uri: str = "") -> str:
    """What the run links of a report point at, in one sentence: the UI at ``base`` (``served``:
    a UI that runs: the tracking server's, or the one the user named), or the local one that
    ``hpo ui`` starts over ``tracking_uri``."""
    if served:
        return f"Trial numbers link to their MLflow runs on {base}."
    uri = redact_text(tracking_uri)
    return (
        f"Trial numbers link to their MLflow runs as MLflow's UI shows them at {LOCAL_UI} once "
        f"it runs over this store: hpo ui --tracking-uri {uri} "
        f"(or mlflow ui --backend-store-uri {uri}); a UI elsewhere: hpo report --ui-url URL."
    )
