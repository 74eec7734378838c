"""orchestrator/report/_links.py: where a leaderboard row's link leads."""

from __future__ import annotations

import pytest

VIEW = "?workflowType=machine_learning"  # MLflow 3 opens a run in its GenAI view without it


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        # a tracking server: its own UI, without the user and password of the URI
        ("http://mlflow.lab:5000", "http://mlflow.lab:5000/#/experiments/7/runs/abc" + VIEW),
        (
            "https://u:s3cret@mlflow.lab/root/",
            "https://mlflow.lab/root/#/experiments/7/runs/abc" + VIEW,
        ),
        # a store on disk or a database: the UI that hpo ui / mlflow ui serve on it locally
        ("sqlite:////data/mlflow.db", "http://127.0.0.1:5000/#/experiments/7/runs/abc" + VIEW),
        ("file:///data/mlruns", "http://127.0.0.1:5000/#/experiments/7/runs/abc" + VIEW),
        ("postgresql://u:pw@db/mlflow", "http://127.0.0.1:5000/#/experiments/7/runs/abc" + VIEW),
    ],
)
def test_run_url(uri: str, url: str) -> None:
    from orchestrator.report._links import run_url, ui_address

    assert run_url(ui_address(uri), experiment_id="7", run_id="abc") == url


def test_the_ui_the_user_names_wins() -> None:
    from orchestrator.report._links import run_url, ui_address

    # hpo report --ui-url: a UI elsewhere (a proxy, another port), without its password
    base = ui_address("sqlite:////data/mlflow.db", "https://me:pw@mlflow.lab/ui/")
    assert base == "https://mlflow.lab/ui"
    assert run_url(base, experiment_id="7", run_id="abc") == (
        "https://mlflow.lab/ui/#/experiments/7/runs/abc" + VIEW
    )
    assert ui_address("http://tracking:5000", "http://ui.lab:8080") == "http://ui.lab:8080"


def test_links_note_says_how_to_serve_a_local_store() -> None:
    from orchestrator.report._links import links_note

    uri = "postgresql://u:pw@db/mlflow"
    note = links_note("http://127.0.0.1:5000", served=False, tracking_uri=uri)
    # where the links lead, and the command that makes them work; no password
    assert "http://127.0.0.1:5000" in note
    assert "hpo ui --tracking-uri postgresql://u:***@db/mlflow" in note
    assert "--ui-url" in note
    assert "pw" not in note
    assert links_note("http://mlflow.lab:5000", served=True) == (
        "Trial numbers link to their MLflow runs on http://mlflow.lab:5000."
    )
