"""orchestrator/study.py and orchestrator/recovery.py: budgets, deadlines, failures, resume safety,
warm start and stale-trial repair. The tests that take ``any_stores`` run twice: on the journal
file storage, and on a PostgreSQL database of their own (skipped outside CI without a server)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import (
    mlflow_runs,
    rendezvous_space,
    run_cli,
    start_long_run,
    study_trials,
    wait_for_running_trial,
)

FAILING_SPACE = (
    "study: {name: broken, n_trials: 10, sampler: random, pruner: none}\n"
    "model: {family: cnn, depth: 4, blocks: {channels: 4, pool: max}}\n"
    "train: {epochs: 1}\n"
)


def test_circuit_breaker_stops_the_run(workdir: Path, any_stores: dict[str, str]) -> None:
    space = workdir / "broken.yaml"
    space.write_text(FAILING_SPACE)
    result = run_cli(space, any_stores, "--max-failures", "3")
    # three failures in a row stop the run with exit 1 and a summary of the reasons
    assert result.exit_code == 1, result.output
    assert "stopped after consecutive failed trials: error x3" in result.output
    assert "pool" in result.output
    # the study stays resumable: 3 trials recorded, none running, nothing RUNNING in MLflow
    trials = study_trials(any_stores["storage"], "broken")
    assert [t.state.name for t in trials] == ["FAIL"] * 3
    assert not [
        r for r in mlflow_runs(any_stores["tracking_uri"], "broken") if r.info.status == "RUNNING"
    ]
    parent = [
        r
        for r in mlflow_runs(any_stores["tracking_uri"], "broken")
        if r.data.tags["hpo.role"] == "study"
    ]
    assert parent[0].info.status == "FAILED"


def test_trial_timeout_fails_the_trial(tiny_space: Path, stores: dict[str, str]) -> None:
    result = run_cli(
        tiny_space,
        stores,
        "--trial-timeout",
        "1s",
        "--n-trials",
        "1",
        "--set",
        "train.epochs=500",
        "--set",
        "train.batch_size=16",
    )
    assert result.exit_code == 0, result.output
    # the trial ends FAIL with reason timeout, recorded in both stores
    (trial,) = study_trials(stores["storage"], "tiny")
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_kind"] == "timeout"
    runs = [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.data.tags["hpo.role"] == "trial"
    ]
    assert runs[0].info.status == "FAILED"
    assert runs[0].data.tags["hpo.fail_kind"] == "timeout"


def test_until_stops_running_trials_at_the_deadline(
    tiny_space: Path, any_stores: dict[str, str]
) -> None:
    from orchestrator.space import load_space
    from orchestrator.study import run_study

    # warm the stores first, so that the deadline falls inside the trial and not in start-up
    assert run_cli(tiny_space, any_stores, "--study", "warm", "--n-trials", "1").exit_code == 0
    space = load_space(tiny_space, overrides=["train.epochs=500", "train.batch_size=16"])
    result = run_study(
        space,
        storage=any_stores["storage"],
        tracking_uri=any_stores["tracking_uri"],
        until=time.time() + 8,
        device="cpu",
    )
    # the run ends normally at the deadline; the trial it stopped is marked in both stores
    assert result.stopped_by == "deadline"
    trials = study_trials(any_stores["storage"], "tiny")
    stopped = [t for t in trials if t.state.name == "FAIL"]
    assert stopped, [t.state.name for t in trials]
    assert stopped[0].user_attrs["fail_kind"] == "deadline"
    # it does not use up the budget, and its configuration waits for the next run
    assert [t.state.name for t in trials if t.state.name == "WAITING"] == ["WAITING"]
    killed = [
        r for r in mlflow_runs(any_stores["tracking_uri"], "tiny") if r.info.status == "KILLED"
    ]
    assert {r.data.tags["hpo.role"] for r in killed} == {"trial"}
    assert killed[0].data.tags["hpo.fail_kind"] == "deadline"


def test_until_starts_no_trial_that_cannot_finish(tiny_space: Path, stores: dict[str, str]) -> None:
    from orchestrator.space import load_space
    from orchestrator.study import _median_trial_seconds, load_study, run_study

    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    space = load_space(tiny_space)
    estimate = _median_trial_seconds(load_study("tiny", storage=stores["storage"]))
    assert estimate is not None and estimate > 0
    # a deadline half a trial away leaves no room for one (however fast this process trains)
    result = run_study(
        space,
        storage=stores["storage"],
        tracking_uri=stores["tracking_uri"],
        until=time.time() + estimate / 2,
        device="cpu",
    )
    assert result.stopped_by == "deadline" and result.ran == 0


def test_parse_until_is_the_next_occurrence() -> None:
    from orchestrator.cli import _parse_until

    now = dt.datetime(2026, 1, 1, 23, 0).timestamp()
    # a time later today is today; an earlier one is tomorrow
    assert _parse_until("23:30", now=now) == dt.datetime(2026, 1, 1, 23, 30).timestamp()
    assert _parse_until("06:00", now=now) == dt.datetime(2026, 1, 2, 6, 0).timestamp()
    assert _parse_until("23:00:30", now=now) == dt.datetime(2026, 1, 1, 23, 0, 30).timestamp()


def test_until_rejects_a_malformed_time(tiny_space: Path, stores: dict[str, str]) -> None:
    result = run_cli(tiny_space, stores, "--until", "25:99")
    # a bad deadline is bad input: exit 2, the value and the expected form
    assert result.exit_code == 2
    assert "expected a local time HH:MM" in result.output and "25:99" in result.output


def test_changed_space_is_refused_on_resume(tiny_space: Path, any_stores: dict[str, str]) -> None:
    assert run_cli(tiny_space, any_stores, "--n-trials", "1").exit_code == 0
    wider = run_cli(tiny_space, any_stores, "--n-trials", "2", "--set", "model.depth.high=3")
    # a changed space is refused with a readable diff
    assert wider.exit_code == 2, wider.output
    assert "model.depth: int [1, 2] -> int [1, 3] (compatible)" in wider.output
    assert "--allow-space-change" in wider.output
    # with the flag a compatible change (a wider range) is accepted and stored
    allowed = run_cli(
        tiny_space,
        any_stores,
        "--n-trials",
        "2",
        "--set",
        "model.depth.high=3",
        "--allow-space-change",
    )
    assert allowed.exit_code == 0, allowed.output
    # an incompatible change (a different fixed value) is refused even with the flag
    narrowed = run_cli(
        tiny_space,
        any_stores,
        "--n-trials",
        "3",
        "--set",
        "model.depth.high=3",
        "--set",
        "train.epochs=2",
        "--allow-space-change",
    )
    assert narrowed.exit_code == 2
    assert "train.epochs: 1 -> 2 (incompatible)" in narrowed.output


def test_warm_start_enqueues_the_best_configurations(
    tiny_space: Path, any_stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, any_stores, "--n-trials", "2").exit_code == 0
    from orchestrator.study import get_best

    best = get_best("tiny", storage=any_stores["storage"])
    result = run_cli(
        tiny_space,
        any_stores,
        "--study",
        "tiny-warm",
        "--n-trials",
        "1",
        "--warm-start",
        "tiny",
        "--top",
        "1",
    )
    assert result.exit_code == 0, result.output
    # the new study's first trial is the other study's best configuration
    (first,) = study_trials(any_stores["storage"], "tiny-warm")
    assert first.params == best["params"]
    assert first.user_attrs["hpo.warm_start_from"] == f"tiny#{best['number']}"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_repair_fails_stale_trials_and_requeues_them(
    tiny_space: Path, any_stores: dict[str, str]
) -> None:
    import socket

    from orchestrator.recovery import LEASE, WORKER
    from orchestrator.study import load_study
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

    from orchestrator.recovery import fail_trial

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


def test_sigterm_stops_like_ctrl_c(tiny_space: Path, any_stores: dict[str, str]) -> None:
    """SIGTERM mid-trial: exit 143, the trial failed as interrupted, nothing RUNNING anywhere."""
    proc = start_long_run(tiny_space, any_stores)
    try:
        wait_for_running_trial(any_stores["storage"], "tiny")
        time.sleep(1)
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out
    assert "Stopped by SIGTERM" in out and "Traceback" not in out
    trials = study_trials(any_stores["storage"], "tiny")
    assert trials[0].state.name == "FAIL" and trials[0].user_attrs["fail_kind"] == "interrupted"
    statuses = {
        r.data.tags["hpo.role"]: r.info.status
        for r in mlflow_runs(any_stores["tracking_uri"], "tiny")
    }
    assert statuses == {"study": "KILLED", "trial": "KILLED"}


def test_two_local_workers_share_the_budget(workdir: Path, stores: dict[str, str]) -> None:
    # the model factory holds each worker's first trial until both have one, so that the
    # coordinator (worker 0, ready first) cannot run the whole budget before worker 1 starts
    space = rendezvous_space(workdir, parties=2)
    result = run_cli(space, stores, "--jobs", "2", "--n-trials", "4")
    assert result.exit_code == 0, result.output
    # exactly the budget, with unique numbers, and one nested run per trial under one parent
    trials = study_trials(stores["storage"], "tiny")
    assert len(trials) == 4 and sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    workers = {json.dumps(t.user_attrs["hpo.worker"]["pid"]) for t in trials}
    assert len(workers) == 2  # both workers ran trials
    runs = mlflow_runs(stores["tracking_uri"], "tiny")
    parents = [r for r in runs if r.data.tags["hpo.role"] == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags["hpo.role"] == "trial"]
    assert len(children) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}


def test_pruners_are_asked_only_from_the_epoch_they_can_prune(tiny_space: Path) -> None:
    import optuna

    from orchestrator.space import load_space
    from orchestrator.study import build_pruner, prunes_from

    def first_step(pruner: str) -> int | None:
        space = load_space(tiny_space, overrides=[f"study.pruner={pruner}"])
        return prunes_from(build_pruner(space.study, epochs=10, source="tiny.yaml"))

    # median and percentile: not on the first epoch alone (steps are 1-based epochs)
    assert first_step("median") == 2 and first_step("percentile") == 2
    # none never prunes; hyperband may prune from the first epoch
    assert first_step("none") is None and first_step("hyperband") == 0
    # a warm-up set in the space is honoured
    assert prunes_from(optuna.pruners.MedianPruner(n_warmup_steps=6)) == 6
