"""orchestrator/study/_recovery.py: stale-trial repair and retries per failure class."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
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


def _held_elsewhere(storage: str, *, expires_in: float) -> int:
    """A RUNNING trial held by a worker on another host whose lease expires in ``expires_in``."""
    from orchestrator.study import load_study
    from orchestrator.study._recovery import GRACE_SECONDS, LEASE, WORKER

    trial = load_study("tiny", storage=storage).ask()
    trial.suggest_int("model.depth", 1, 2)
    trial.set_user_attr(WORKER, {"host": "elsewhere", "pid": 4242, "start": "1"})
    trial.set_user_attr(LEASE, time.time() - GRACE_SECONDS + expires_in)
    return trial.number


def test_a_resume_waits_for_trials_running_on_other_hosts(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    held = _held_elsewhere(stores["storage"], expires_in=4)
    result = run_cli(tiny_space, stores, "--n-trials", "2")
    # the budget waits on the trial another host holds; its lease expires, and it is run here
    assert result.exit_code == 0, result.output
    assert (
        f"waiting for 1 trial(s) running on other hosts: {held} (elsewhere:4242)" in result.output
    )
    assert "2/2 trials finished" in result.output
    trials = study_trials(stores["storage"], "tiny")
    assert trials[held].state.name == "FAIL" and trials[held].user_attrs["fail_kind"] == "stale"
    retried = [t for t in trials if t.user_attrs.get("hpo.retry_of") == held]
    assert [t.state.name for t in retried] == ["COMPLETE"]


def test_a_run_that_stops_says_which_trials_run_elsewhere(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    held = _held_elsewhere(stores["storage"], expires_in=60)
    result = run_cli(tiny_space, stores, "--n-trials", "2", "--timeout", "1s")
    # not "finished": the summary names the trial still RUNNING elsewhere and its lease
    assert result.exit_code == 0, result.output
    assert "stopped by timeout" in result.output
    assert (
        f"1 trial(s) still RUNNING on other hosts: #{held} on elsewhere:4242 (lease expires at"
        in (result.output)
    )


@pytest.mark.parametrize(("budget", "status"), [("1", "FINISHED"), ("3", "KILLED")])
def test_repair_closes_the_parent_run_left_running(
    tiny_space: Path, stores: dict[str, str], budget: str, status: str
) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study

    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    study = load_study("tiny", storage=stores["storage"])
    study.set_user_attr("hpo.n_trials", int(budget))
    parent = study.user_attrs["hpo.mlflow_parent_run_id"]
    client = MlflowClient(stores["tracking_uri"])
    client.update_run(parent, status="RUNNING")  # the run that owned it was killed
    repair = ["repair", "--study", "tiny", "--storage", stores["storage"]]
    result = CliRunner().invoke(cli, [*repair, "--tracking-uri", stores["tracking_uri"]])
    # FINISHED when the budget is reached, KILLED when the study is not done
    assert result.exit_code == 0, result.output
    assert f"parent run {parent} was RUNNING; set {status}" in result.output
    assert client.get_run(parent).info.status == status
