"""orchestrator/study/_recovery.py: stale-trial repair and retries per failure class."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import (
    run_cli,
    study_trials,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_repair_fails_stale_trials_and_requeues_them(
    tiny_space: Path, any_stores: dict[str, str]
) -> None:
    import socket

    from orchestrator.study import load_study
    from orchestrator.study._recovery import LEASE, WORKER
    from orchestrator.tracking import Tracker

    assert run_cli(tiny_space, any_stores, "--n-trials", "1").exit_code == 0
    study = load_study("tiny", storage=any_stores["storage"])
    # a trial left RUNNING by a worker that died (its pid is gone), with a RUNNING MLflow run
    trial = study.ask()
    trial.suggest_int("model.depth", 1, 2)
    tracker = Tracker("tiny", tracking_uri=any_stores["tracking_uri"])
    tracker.parent_run_id = study.user_attrs["hpo.mlflow_parent_run_id"]
    run = tracker.start_trial(trial.number, params=trial.params)
    trial.set_user_attr("mlflow_run_id", run.run_id)
    trial.set_user_attr(WORKER, {"host": socket.gethostname(), "pid": _dead_pid(), "start": "1"})
    trial.set_user_attr(LEASE, time.time())

    repair = ["repair", "--study", "tiny", "--storage", any_stores["storage"]]
    repair += ["--tracking-uri", any_stores["tracking_uri"]]
    result = CliRunner().invoke(cli, repair)
    assert result.exit_code == 0, result.output
    # the stale trial is failed (kind stale), queued again, and its MLflow run KILLED
    assert f"trial {trial.number}: stale" in result.output and "queued again" in result.output
    frozen = load_study("tiny", storage=any_stores["storage"]).trials[trial.number]
    assert frozen.state.name == "FAIL" and frozen.user_attrs["fail_kind"] == "stale"
    waiting = [t for t in study_trials(any_stores["storage"], "tiny") if t.state.name == "WAITING"]
    assert waiting and waiting[0].user_attrs["hpo.retry_of"] == trial.number
    from mlflow import MlflowClient

    assert MlflowClient(any_stores["tracking_uri"]).get_run(run.run_id).info.status == "KILLED"
    # a second repair finds nothing to do
    again = CliRunner().invoke(cli, repair)
    assert "nothing to repair" in again.output


def test_retry_policy_per_failure_class(workdir: Path) -> None:
    import optuna

    from orchestrator.study._recovery import fail_trial

    study = optuna.create_study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    frozen = study._storage.get_trial(trial._trial_id)
    # nan has no retries by default: failed, not queued
    assert not fail_trial(study, frozen, kind="nan", reason="nan: loss", retries={"stale": 2})
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    frozen = study._storage.get_trial(trial._trial_id)
    # stale allows 2 retries: queued again with the same parameters and a retry count
    assert fail_trial(study, frozen, kind="stale", reason="stale: gone", retries={"stale": 2})
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    assert waiting[0].system_attrs["fixed_params"] == frozen.params
    assert waiting[0].user_attrs["hpo.retry"] == 1
