"""orchestrator/tracking/_client.py: values as MLflow stores them, and writes within its limits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from orchestrator.tracking._client import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_LENGTH,
    MAX_TAGS_PER_BATCH,
    finite_metrics,
    param_value,
    run_tags,
    write_batch,
)


class RecordingClient:
    """Stands in for MlflowClient: keeps what each log_batch call was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def log_batch(self, run_id: str, *, metrics: Any = (), tags: Any = (), params: Any = ()):
        self.calls.append((len(metrics), len(tags)))


def test_param_value_is_json_redacted_and_cut() -> None:
    # text stays text; anything else is JSON; passwords in URLs are redacted
    assert param_value("adamw") == "adamw"
    assert param_value({"lr": 0.1}) == '{"lr": 0.1}'
    assert param_value("postgresql://hpo:s3cret@db/optuna") == "postgresql://hpo:***@db/optuna"
    # cut to MLflow's limit
    assert len(param_value("x" * (MAX_PARAM_LENGTH + 10))) == MAX_PARAM_LENGTH


def test_finite_metrics_leave_out_none_nan_and_inf() -> None:
    metrics = finite_metrics(
        {"a": 1, "b": None, "c": math.nan, "d": math.inf, "e": 0.5}, timestamp=7, step=3
    )
    # only the finite values, as floats, with the timestamp and step given
    assert [(m.key, m.value, m.timestamp, m.step) for m in metrics] == [
        ("a", 1.0, 7, 3),
        ("e", 0.5, 7, 3),
    ]


def test_run_tags_use_param_values() -> None:
    assert [(t.key, t.value) for t in run_tags({"hpo.trial": 3, "x": "y"})] == [
        ("hpo.trial", "3"),
        ("x", "y"),
    ]


@pytest.mark.parametrize(("n_metrics", "n_tags"), [(0, 0), (5, 2), (2500, 0), (10, 250)])
def test_write_batch_stays_within_mlflows_limits(n_metrics: int, n_tags: int) -> None:
    client = RecordingClient()
    metrics = finite_metrics({f"m{i}": i for i in range(n_metrics)}, timestamp=0, step=0)
    tags = run_tags({f"t{i}": i for i in range(n_tags)})
    write_batch(client, "run", metrics=metrics, tags=tags)  # type: ignore[arg-type]
    # everything written, in calls of at most 100 tags and 1000 entities; none when empty
    assert sum(m for m, _ in client.calls) == n_metrics
    assert sum(t for _, t in client.calls) == n_tags
    assert all(t <= MAX_TAGS_PER_BATCH and m + t <= MAX_METRICS_PER_BATCH for m, t in client.calls)
    assert len(client.calls) == max(
        math.ceil((n_metrics + n_tags) / MAX_METRICS_PER_BATCH), math.ceil(n_tags / 100)
    )


def test_tracker_names_the_store_it_resolved(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.tracking import Tracker

    # no URI given: MLflow's default, here from MLFLOW_TRACKING_URI, is what the tracker reports
    uri = f"sqlite:///{workdir / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert Tracker("resolved").tracking_uri == uri
