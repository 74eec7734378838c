"""Local workers (`hpo run --jobs N`): how slots are planned, and what happens when one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.study._parallel import plan_workers
from tests.helpers import mlflow_runs, rendezvous_space, start_hpo, study_trials


def _start_jobs_run(space: Path, stores: dict[str, str], *sets: str) -> subprocess.Popen[str]:
    """`python -m orchestrator run --jobs 2` in a real process, 4 trials, output captured."""
    args = [
        "run", "--space", str(space),
        "--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"],
        "--jobs", "2", "--n-trials", "4", "--device", "cpu",
    ]  # fmt: skip
    for assignment in sets:
        args += ["--set", assignment]
    return start_hpo(*args)


def _running_trials(storage: str, *, until: Callable[[list], bool], timeout: float = 120) -> list:
    """Poll the study until ``until(running trials that are training)`` holds (set up: their
    seed written, with their configuration, before the first epoch)."""
    deadline = time.monotonic() + timeout
    running: list = []
    while time.monotonic() < deadline:
        try:
            trials = study_trials(storage, "tiny")
        except Exception:  # not created yet, or mid-write
            trials = []
        running = [t for t in trials if t.state.name == "RUNNING" and "seed" in t.user_attrs]
        if until(running):
            break
        time.sleep(0.2)
    return running


def test_cpu_workers_divide_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orchestrator.study._parallel._visible_cuda_devices", lambda: 0)
    slots = plan_workers(jobs=2, jobs_per_device=1, device="auto", cpu_count=8)
    # two workers on the CPU, four threads each
    assert [(s.index, s.device, s.threads) for s in slots] == [(0, "auto", 4), (1, "auto", 4)]
    # more workers than cores: one thread each, never zero
    assert all(
        s.threads == 1 for s in plan_workers(jobs=3, jobs_per_device=1, device="cpu", cpu_count=2)
    )
    # --threads sets each worker's count
    slots = plan_workers(jobs=2, jobs_per_device=1, device="cpu", cpu_count=8, threads=1)
    assert [s.threads for s in slots] == [1, 1]


def test_gpu_workers_pack_k_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orchestrator.study._parallel._visible_cuda_devices", lambda: 2)
    slots = plan_workers(jobs=None, jobs_per_device=2, device="auto", cpu_count=8)
    # K = 2 trials on each of the 2 visible GPUs: 4 workers by default
    assert [s.device for s in slots] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert all(s.threads == 2 for s in slots)
    # an explicit --jobs cycles over the slots
    assert [s.device for s in plan_workers(jobs=3, jobs_per_device=1, device="cuda")] == [
        "cuda:0",
        "cuda:1",
        "cuda:0",
    ]


def test_jobs_per_device_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="--jobs-per-device must be >= 1, got 0"):
        plan_workers(jobs=2, jobs_per_device=0, device="cpu")


def test_a_killed_worker_is_reported_and_the_others_finish_the_budget(
    workdir: Path, stores: dict[str, str]
) -> None:
    # both workers' first trials start together, so w1 has one to be killed in
    space = rendezvous_space(workdir, parties=2)
    proc = _start_jobs_run(space, stores, "train.epochs=40", "train.batch_size=16")
    try:
        # a trial of the forked worker (w1); the coordinator itself is worker 0
        theirs = _running_trials(
            stores["storage"],
            until=lambda ts: any(t.system_attrs["hpo.worker"]["pid"] != proc.pid for t in ts),
        )
        victim = next((t for t in theirs if t.system_attrs["hpo.worker"]["pid"] != proc.pid), None)
        assert victim is not None, "worker w1 started no trial"
        worker_pid = victim.system_attrs["hpo.worker"]["pid"]
        os.kill(worker_pid, signal.SIGKILL)  # dies mid-trial, no chance to clean up
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    # reported at once; worker 0 goes on and the run still succeeds
    assert f"worker w1 (pid {worker_pid}) exited with code -9; the others go on" in out, out
    assert proc.returncode == 0, out
    trials = study_trials(stores["storage"], "tiny")
    dead = trials[victim.number]
    # the dead worker's trial is failed as stale and its configuration ran again
    assert dead.state.name == "FAIL" and dead.user_attrs["fail_kind"] == "stale"
    assert any(
        t.params == dead.params and t.state.name == "COMPLETE" for t in trials[victim.number + 1 :]
    )
    # the budget counts the finished trials only: exactly 4
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == 4


def test_ctrl_c_stops_every_worker_and_marks_their_trials(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    proc = _start_jobs_run(
        tiny_space,
        stores,
        "train.epochs=500",
        "train.batch_size=16",
        "train.early_stopping.patience=null",
    )
    try:
        running = _running_trials(stores["storage"], until=lambda ts: len(ts) == 2)
        assert len(running) == 2, "both workers should be training"
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the coordinator; it forwards one signal
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    # said once, by the coordinator; the stopped worker is not reported as a failure
    assert out.count("Interrupted; the study is saved") == 1, out
    assert "exited with code" not in out, out
    # both running trials are marked and queued again, and no trial stays RUNNING
    trials = study_trials(stores["storage"], "tiny")
    for t in running:
        assert trials[t.number].state.name == "FAIL"
        assert trials[t.number].user_attrs["fail_kind"] == "interrupted"
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert len([t for t in trials if t.state.name == "WAITING"]) == 2
    statuses = {r.info.run_id: r.info.status for r in mlflow_runs(stores["tracking_uri"], "tiny")}
    # each notes its run's id as it ends, interrupted too
    assert {statuses[trials[t.number].user_attrs["mlflow_run_id"]] for t in running} == {"KILLED"}
    assert "RUNNING" not in statuses.values()
