"""Parallel workers on one machine: ``hpo run --jobs N``.

The coordinator prepares the study and its parent MLflow run, then starts N worker processes
(``hpo worker --managed``), each on its own device slot with its share of the CPU threads. Every
worker runs the same trial loop against the same storage; the budget lock keeps the study's total
exact. A worker that dies is reported and the others go on; its trial is found stale by the next
worker to look (same host: at once) and queued again. When every worker is done, the coordinator
evaluates the best trial on the test split and ends the parent run.

Secrets stay out of argv: the storage URL and the tracking URI reach the workers through the
environment (HPO_STORAGE, MLFLOW_TRACKING_URI), never on their command lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.storage import STORAGE_ENV, budget_lock, resolve_storage_url

if TYPE_CHECKING:
    from orchestrator.space import Space
    from orchestrator.study import Progress, StudyResult

__all__ = ["WorkerSlot", "plan_workers", "run_parallel"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 60.0  # after an interrupt, how long workers get to mark their trials


@dataclass(frozen=True)
class WorkerSlot:
    """Where one worker runs: its device and its CPU threads."""

    index: int
    device: str
    threads: int


def _visible_cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan_workers(
    *, jobs: int | None, jobs_per_device: int, device: str, cpu_count: int | None = None
) -> list[WorkerSlot]:
    """Assign each worker a device and threads.

    With GPUs (``device`` auto or cuda; CUDA_VISIBLE_DEVICES respected), K = ``jobs_per_device``
    workers share each GPU and ``jobs`` defaults to K per GPU. On the CPU, ``jobs`` (default 1)
    workers divide the cores between them.
    """
    if jobs_per_device < 1:
        raise ConfigError(f"--jobs-per-device must be >= 1, got {jobs_per_device}")
    cpus = cpu_count or os.cpu_count() or 1
    gpus = _visible_cuda_devices() if device in ("auto", "cuda") else 0
    if gpus:
        slots = [f"cuda:{g}" for g in range(gpus) for _ in range(jobs_per_device)]
        n = jobs or len(slots)
        devices = [slots[i % len(slots)] for i in range(n)]
    else:
        n = jobs or 1
        devices = [device if device != "auto" or not gpus else "cpu"] * n
    threads = max(1, cpus // n)
    return [WorkerSlot(i, devices[i], threads) for i in range(n)]


def _worker_command(
    name: str, slot: WorkerSlot, *, n_trials: int, options: dict[str, Any]
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "worker",
        "--study",
        name,
        "--managed",
        "--label",
        f"w{slot.index}",
        "--device",
        slot.device,
        "--threads",
        str(slot.threads),
        "--n-trials",
        str(n_trials),
    ]
    for flag, value in options.items():
        if value is not None:
            command += [flag, str(value)]
    return command


def run_parallel(
    space: Space,
    *,
    jobs: int | None,
    jobs_per_device: int = 1,
    study_name: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    until: float | None = None,
    trial_timeout: float | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    allow_space_change: bool = False,
    warm_start_from: str | None = None,
    warm_start_top: int = 5,
    max_failures: int | None = None,
) -> StudyResult:
    """Run a study with several worker processes on this machine; returns the whole run's result.

    Raises:
        KeyboardInterrupt: after every worker has stopped and marked its trial.
    """
    from orchestrator.redact import redact_url
    from orchestrator.study import (
        STOP_REQUESTS,
        NoticeEvent,
        StudyResult,
        _budget_counts,
        _finish,
        _record_best,
        _repair,
        describe_storage,
        open_run,
    )

    started = time.monotonic()
    name = study_name or space.name
    n_trials = n_trials or space.study.n_trials
    ctx = open_run(
        space,
        name=name,
        storage=storage,
        tracking_uri=tracking_uri,
        device="cpu" if device == "auto" else device.split(":")[0],
        progress=progress,
        allow_space_change=allow_space_change,
        warm_start_from=warm_start_from,
        warm_start_top=warm_start_top,
    )
    first_new = len(ctx.study.get_trials(deepcopy=False))
    slots = plan_workers(jobs=jobs, jobs_per_device=jobs_per_device, device=device)
    env = {
        **os.environ,
        STORAGE_ENV: resolve_storage_url(storage),
        "MLFLOW_TRACKING_URI": ctx.tracker.tracking_uri,
        "PYTHONUNBUFFERED": "1",
    }
    options = {
        "--timeout": timeout,
        "--until-epoch": until,
        "--trial-timeout": trial_timeout,
        "--max-failures": max_failures,
    }

    def notice(text: str) -> None:
        if progress is not None:
            progress(NoticeEvent(text))

    procs: dict[int, subprocess.Popen[bytes]] = {}
    for slot in slots:
        command = _worker_command(name, slot, n_trials=n_trials, options=options)
        # own session: a Ctrl-C reaches the coordinator only, which forwards exactly one signal
        procs[slot.index] = subprocess.Popen(command, env=env, start_new_session=True)
        notice(
            f"worker w{slot.index} (pid {procs[slot.index].pid}) on {slot.device}, "
            f"{slot.threads} thread(s)"
        )
    codes: dict[int, int] = {}
    status = "KILLED"
    result = StudyResult(
        study_name=name,
        storage=describe_storage(storage),
        tracking_uri=redact_url(ctx.tracker.tracking_uri) or "",
        parent_run_id=ctx.tracker.parent_run_id,
        n_trials=n_trials,
        finished=0,
        metrics=space.study.metrics,
    )
    try:
        while len(codes) < len(procs):
            STOP_REQUESTS.check()
            for index, proc in procs.items():
                if index in codes or proc.poll() is None:
                    continue
                codes[index] = proc.returncode
                if proc.returncode != 0:
                    notice(
                        f"worker w{index} (pid {proc.pid}) exited with code {proc.returncode}; "
                        "the others go on"
                    )
            time.sleep(0.2)
        with budget_lock(storage, name):
            _repair(ctx, result)  # the trials of workers that died: stale at once on this host
        result.finished = _budget_counts(ctx.study)[0]
        if result.finished >= n_trials:
            result.stopped_by = "budget"
        elif any(code == 1 for code in codes.values()):
            result.stopped_by = "failures"
        elif until is not None and time.time() >= until - 1:
            result.stopped_by = "deadline"
        else:
            result.stopped_by = "timeout" if timeout or until else "workers"
        if result.stopped_by != "failures":
            _finish(ctx, result)
        status = "FAILED" if result.stopped_by == "failures" else "FINISHED"
    except KeyboardInterrupt as exc:
        STOP_REQUESTS.handling = True
        result.stopped_by = "interrupt"
        _stop_workers(procs, forward=signal.SIGTERM if _is_sigterm(exc) else signal.SIGINT)
        with budget_lock(storage, name):
            _repair(ctx, result)
        raise
    except BaseException:
        _stop_workers(procs, forward=signal.SIGTERM)
        status = "FAILED"
        raise
    finally:
        result.seconds = time.monotonic() - started
        ctx.tracker.end_parent(status)  # type: ignore[arg-type]
    _record_best(ctx, result)
    for trial in ctx.study.get_trials(deepcopy=False)[first_new:]:
        if trial.state.name in ("COMPLETE", "PRUNED", "FAIL"):
            result.ran += 1
            result.states[trial.state.name] = result.states.get(trial.state.name, 0) + 1
            if trial.state.name == "FAIL":
                reason = str(trial.user_attrs.get("fail_reason", "error"))
                result.failures.setdefault(reason.split(":", 1)[0], []).append(reason)
    return result


def _is_sigterm(exc: BaseException) -> bool:
    return type(exc).__name__ == "Terminated"


def _stop_workers(procs: dict[int, subprocess.Popen[bytes]], *, forward: int) -> None:
    """Ask every live worker to stop (they mark their trials), then wait; kill the stragglers."""
    for proc in procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(forward)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            logger.warning("worker pid %d did not stop in time; killing it", proc.pid)
            proc.kill()
            proc.wait()
