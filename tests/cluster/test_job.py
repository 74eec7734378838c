"""orchestrator/cluster/_job.py: what a job of workers asks for, time limits in both forms."""

from __future__ import annotations

import pytest

from orchestrator.cluster import WorkerJob, parse_time_limit
from orchestrator.cluster._job import slurm_time
from orchestrator.errors import ConfigError
from orchestrator.storage import StudyStore


def _job(**fields: object) -> WorkerJob:
    fields.setdefault("store", StudyStore.resolve("postgresql://hpo@db.internal/optuna"))
    return WorkerJob("digits-cnn", workers=fields.pop("workers", 4), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),  # hpo's durations, with a unit
        ("1h30m", 5400),
        ("2d", 172800),
        ("30:00", 1800),  # Slurm's MM:SS
        ("8:00:00", 28800),  # HH:MM:SS
        ("1-12:00:00", 129600),  # D-HH:MM:SS
        ("2-0", 172800),  # D-HH
        ("1-2:30", 95400),  # D-HH:MM
    ],
)
def test_time_limits_in_hpo_and_slurm_forms(text: str, seconds: float) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a bare number is minutes to Slurm and seconds to hpo: refused, with both readings
        ("60", "'60' has no unit (Slurm reads it as minutes, hpo as seconds): write 60m"),
        ("soon", "expected a time limit such as 90m, 8h, 1h30m, 2d, 8:00:00 or 1-12:00:00"),
        ("0:00", "a time limit must be positive, got '0:00'"),
    ],
)
def test_a_bad_time_limit_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_time_limit(text)


def test_slurm_time_is_rounded_up_to_the_second() -> None:
    assert slurm_time(5400) == "1:30:00"
    assert slurm_time(59.2) == "0:01:00"
    assert slurm_time(129600) == "1-12:00:00"


def test_the_worker_runs_on_the_device_it_is_given() -> None:
    # a CPU worker never takes a GPU it was not given; its threads are its cores
    assert _job(cpus_per_worker=2).worker_args() == [
        *("worker", "--study", "digits-cnn", "--threads", "2", "--device", "cpu")
    ]
    assert _job(gpus_per_worker=1).worker_args()[-1] == "cuda"


def test_more_than_one_gpu_per_worker_is_refused() -> None:
    # one trial at a time on one device: a second GPU would stay idle
    with pytest.raises(ConfigError, match="--gpus-per-worker 2: a worker trains one trial at a"):
        _job(gpus_per_worker=2)


def test_only_uris_with_a_secret_are_secret_variables() -> None:
    plain = _job(tracking_uri="http://mlflow.internal:5000")
    assert plain.environment() == {
        "HPO_STORAGE": "postgresql://hpo@db.internal/optuna",
        "MLFLOW_TRACKING_URI": "http://mlflow.internal:5000",
    }
    assert plain.secret_variables() == []
    secret = _job(store=StudyStore.resolve("postgresql://hpo:pw@db/optuna"))
    assert secret.secret_variables() == ["HPO_STORAGE"]
