"""orchestrator/report/_links.py: where a leaderboard row's link leads."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        # a tracking server: its own UI, without the user and password of the URI
        ("http://mlflow.lab:5000", "http://mlflow.lab:5000/#/experiments/7/runs/abc"),
        ("https://u:s3cret@mlflow.lab/root/", "https://mlflow.lab/root/#/experiments/7/runs/abc"),
        # a store on disk or a database: the UI that hpo ui / mlflow ui serve on it locally
        ("sqlite:////data/mlflow.db", "http://127.0.0.1:5000/#/experiments/7/runs/abc"),
        ("file:///data/mlruns", "http://127.0.0.1:5000/#/experiments/7/runs/abc"),
        ("postgresql://u:pw@db/mlflow", "http://127.0.0.1:5000/#/experiments/7/runs/abc"),
    ],
)
def test_run_url(uri: str, url: str) -> None:
    from orchestrator.report._links import run_url

    assert run_url(uri, experiment_id="7", run_id="abc") == url


def test_links_note_says_how_to_serve_a_local_store() -> None:
    from orchestrator.report._links import links_note

    note = links_note("postgresql://u:pw@db/mlflow")
    # where the links lead, and the command that makes them work; no password
    assert "http://127.0.0.1:5000" in note
    assert "hpo ui --tracking-uri postgresql://u:***@db/mlflow" in note
    assert "pw" not in note
    assert links_note("http://mlflow.lab:5000") == (
        "Trial numbers link to their MLflow runs on http://mlflow.lab:5000."
    )
