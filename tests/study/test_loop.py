"""orchestrator/study/_loop.py: budgets, deadlines, the circuit breaker, signals and local
workers. The tests that take ``any_stores`` run twice: on the journal file storage, and on a
PostgreSQL database of their own (skipped outside CI without a server)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import (
    late_failing_space,
    mlflow_runs,
    rendezvous_space,
    run_cli,
    start_long_run,
    study_trials,
    wait_for_running_trial,
)


def test_circuit_breaker_stops_the_run(workdir: Path, any_stores: dict[str, str]) -> None:
    space = late_failing_space(workdir, "broken", n_trials=10)
    result = run_cli(space, any_stores, "--max-failures", "3")
    # three failures in a row stop the run with exit 1 and a summary of the reasons
    assert result.exit_code == 1, result.output
    assert "stopped after consecutive failed trials: error x3" in result.output
    assert "breaks in training" in result.output
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
    from orchestrator.study import load_study, run_study
    from orchestrator.study._queries import median_trial_seconds as _median_trial_seconds

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


def test_until_rejects_a_malformed_time(tiny_space: Path, stores: dict[str, str]) -> None:
    result = run_cli(tiny_space, stores, "--until", "25:99")
    # a bad deadline is bad input: exit 2, the value and the expected form
    assert result.exit_code == 2
    assert "expected a local time HH:MM" in result.output and "25:99" in result.output


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
    workers = {json.dumps(t.system_attrs["hpo.worker"]["pid"]) for t in trials}
    assert len(workers) == 2  # both workers ran trials
    runs = mlflow_runs(stores["tracking_uri"], "tiny")
    parents = [r for r in runs if r.data.tags["hpo.role"] == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags["hpo.role"] == "trial"]
    assert len(children) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    # after two workers raced to mark the best, exactly the best trial's run carries the mark
    from orchestrator.study import best_trial, load_study

    best = best_trial(load_study("tiny", storage=stores["storage"]))  # hpo's tie-break, too
    marked = [r.info.run_id for r in children if r.data.tags.get("hpo.best") == "true"]
    assert marked == [best.user_attrs["mlflow_run_id"]]


def test_a_trial_is_never_pruned_after_its_last_epoch(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    # a pruner that stops every trial at every epoch it may (accuracy is never above 2)
    prune_all = ["--set", 'study.pruner={"name": "threshold", "options": {"lower": 2.0}}']
    result = run_cli(tiny_space, stores, *prune_all, "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    trials = study_trials(stores["storage"], "tiny")
    # pruned after epoch 1, where stopping saves the second
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    assert [max(t.intermediate_values) for t in trials] == [1, 1]
    # each kept the metrics of the epoch it was stopped at: the leaderboard needs no MLflow
    for t in trials:
        kept = t.user_attrs["last_metrics"]
        assert kept["val_accuracy"] == pytest.approx(t.intermediate_values[1], rel=1e-3)
        assert "val_loss" in kept and "train_loss" in kept
    # one epoch in all: the pruner is not asked after the last one, which would save nothing;
    # the trials complete, with their weights, and one of them wins
    result = run_cli(
        tiny_space, stores, *prune_all, "--set", "study.name=last", "--set", "train.epochs=1"
    )
    assert result.exit_code == 0, result.output
    trials = study_trials(stores["storage"], "last")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert "Best trial #" in result.output
