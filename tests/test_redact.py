"""orchestrator/redact.py: secrets never reach output, params, tags or artifacts."""

from __future__ import annotations

import pytest

from orchestrator.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://hpo:s3cret@db:5432/optuna", "postgresql://hpo:***@db:5432/optuna"),
        ("postgresql+psycopg2://u:p%40ss@h/db", "postgresql+psycopg2://u:***@h/db"),
        ("http://user:tok@mlflow:5000", "http://user:***@mlflow:5000"),
        ("https://mlflow.example/?token=abc&x=1", "https://mlflow.example/?token=***&x=1"),
        ("mlruns/optuna.journal", "mlruns/optuna.journal"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        (None, None),
    ],
)
def test_redact_url(url: str | None, expected: str | None) -> None:
    # the password (and only the password) is replaced
    assert redact_url(url) == expected


def test_redact_text_finds_urls_inside_messages() -> None:
    text = "could not connect to postgresql://hpo:SENTINEL@127.0.0.1/x: refused"
    # an error message quoting a URL keeps everything but the password
    assert "SENTINEL" not in redact_text(text)
    assert "postgresql://hpo:***@127.0.0.1/x" in redact_text(text)
