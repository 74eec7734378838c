"""Many workers on one study in PostgreSQL: an exact shared budget, kill -9 recovery, secrets.

Each test creates its own database on the PostgreSQL server at 127.0.0.1:5432 and drops it after.
Outside CI the tests skip (with the reason) when no server answers; in CI they must run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import mlflow_runs, rendezvous_space, study_trials

SENTINEL = "SENTINEL-pw-4f9c1e"  # trust auth accepts any password: it must never be logged


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The test's own PostgreSQL database, as a URL with a sentinel password."""
    return pg_database.replace("postgres@", f"postgres:{SENTINEL}@", 1)


def test_three_workers_reach_the_budget_exactly(
    workdir: Path, stores: dict[str, str], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each worker's first trial waits until all three have one: every worker takes part
    space = rendezvous_space(workdir, parties=3)
    # credentials from the environment, not argv
    monkeypatch.setenv("HPO_STORAGE", pg_url)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--space",
            str(space),
            "--tracking-uri",
            stores["tracking_uri"],
            "--jobs",
            "3",
            "--n-trials",
            "12",
        ],
    )
    assert result.exit_code == 0, result.output
    trials = study_trials(pg_url, "tiny")
    # exactly 12 finished trials with unique numbers, none beyond the budget
    assert sorted(t.number for t in trials) == list(range(12))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert len({t.system_attrs["hpo.worker"]["pid"] for t in trials}) == 3
    # 12 trial runs under one parent run
    runs = mlflow_runs(stores["tracking_uri"], "tiny")
    parents = [r for r in runs if r.data.tags["hpo.role"] == "study"]
    children = [r for r in runs if r.data.tags["hpo.role"] == "trial"]
    assert len(parents) == 1 and len(children) == 12
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert SENTINEL not in result.output


def test_kill_9_then_resume(tiny_space: Path, stores: dict[str, str], pg_url: str) -> None:
    env = {**os.environ, "HPO_STORAGE": pg_url, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "run",
        "--space",
        str(tiny_space),
        "--tracking-uri",
        stores["tracking_uri"],
        "--set",
        "train.epochs=6",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:  # a trial training (set up, its seed written) whose MLflow run exists
                trial_runs = {
                    r.data.tags.get("hpo.trial")
                    for r in mlflow_runs(stores["tracking_uri"], "tiny")
                    if r.info.status == "RUNNING"
                }
                running = [
                    t
                    for t in study_trials(pg_url, "tiny")
                    if t.state.name == "RUNNING"
                    and "seed" in t.user_attrs
                    and str(t.number) in trial_runs
                ]
            except Exception:
                running = []
            if running:
                break
            time.sleep(0.2)
        assert running, "no trial started"
        # the worker dies mid-trial, without a chance to clean up
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    victim = running[0]
    assert study_trials(pg_url, "tiny")[victim.number].state.name == "RUNNING"

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # the stale trial is failed and retried with the same parameters; the budget is reached
    trials = study_trials(pg_url, "tiny")
    dead = trials[victim.number]
    assert dead.state.name == "FAIL" and dead.user_attrs["fail_kind"] == "stale"
    retries = [t for t in trials if t.user_attrs.get("hpo.retry_of") == victim.number]
    assert retries and retries[0].params == dead.params
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == 2
    assert f"trial {victim.number} was stale" in resumed.stdout
    # its MLflow run is KILLED (found by its tags: a trial notes its run id when it ends, and the
    # repair notes it for one that never did), nothing is left RUNNING
    from mlflow import MlflowClient

    client = MlflowClient(stores["tracking_uri"])
    assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"
    assert not [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.info.status == "RUNNING"
    ]
    assert SENTINEL not in resumed.stdout + resumed.stderr


def test_password_never_reaches_mlflow_or_output(
    tiny_space: Path, stores: dict[str, str], pg_url: str, workdir: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--space",
            str(tiny_space),
            "--storage",
            pg_url,
            "--tracking-uri",
            stores["tracking_uri"],
            "--n-trials",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    # the storage is shown, and tagged, with the password redacted
    assert "postgres:***@127.0.0.1" in result.output
    parent = [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.data.tags["hpo.role"] == "study"
    ]
    assert parent[0].data.tags["hpo.storage"].startswith("postgresql://postgres:***@")
    # the sentinel appears nowhere: output, the MLflow database, any artifact
    assert SENTINEL not in result.output
    for path in workdir.rglob("*"):
        if path.is_file() and "optuna" not in path.name:
            assert SENTINEL.encode() not in path.read_bytes(), path
    # errors that quote the URL are redacted too
    bad = CliRunner().invoke(
        cli, ["studies", "--storage", pg_url.replace("127.0.0.1:5432", "127.0.0.1:1")]
    )
    assert bad.exit_code == 2
    assert SENTINEL not in bad.output and "***" in bad.output
