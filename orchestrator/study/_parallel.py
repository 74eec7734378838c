"""Parallel workers on one machine: ``hpo run --jobs N``.

The coordinator prepares the study and its parent MLflow run, starts N-1 worker processes and is
worker 0 itself; each worker has its own device slot and its share of the CPU threads. The other
workers are forked from a server process that imports torch, Optuna and MLflow once, while the
coordinator sets the study up, so their first trial does not wait for seconds of imports (where
``forkserver`` is not available, each starts fresh, as ``spawn`` does). Every worker runs the same
trial loop against the same storage, with a typed :class:`RunSpec` (never command-line arguments:
a storage URL may hold a password); the budget lock keeps the study's total exact. A worker that
dies is reported and the others go on; its trial is found stale by the next worker to look (same
host: at once) and queued again. When every worker is done, the coordinator evaluates the best
trial on the test split and ends the parent run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.device import cuda_device_count, default_threads
from orchestrator.errors import ConfigError
from orchestrator.study._attrs import ATTR_FAIL_REASON
from orchestrator.study._events import NoticeEvent, Progress, StudyResult
from orchestrator.study._spec import RunSpec
from orchestrator.study._stop import StopRequest

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

    from orchestrator.space import Space
    from orchestrator.study._preflight import Checked

__all__ = ["WorkerMain", "WorkerSlot", "plan_workers", "quiet_worker", "run_parallel"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 60.0  # after an interrupt, how long workers get to mark their trials
# imported once by the server that workers are forked from; nothing here touches a device
PRELOAD = (
    "torch",
    "torch._dynamo",  # imported by the first optimizer step (with sympy): ~1 s per process
    "optuna",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "sklearn.model_selection",
    "sklearn.metrics",
    "orchestrator.cli",
    "orchestrator.study",
    "orchestrator.tracking",
    "orchestrator.train",
    "orchestrator.models",
    "orchestrator.data",
)

# the body of one worker process: a module-level function (sent to the process by reference)
WorkerMain = Callable[[RunSpec], None]


@dataclass(frozen=True)
class WorkerSlot:
    """Where one worker runs: its device and its CPU threads."""

    index: int
    device: str
    threads: int


def _visible_cuda_devices() -> int:
    return cuda_device_count()


def plan_workers(
    *,
    jobs: int | None,
    jobs_per_device: int,
    device: str,
    cpu_count: int | None = None,
    threads: int | None = None,
) -> list[WorkerSlot]:
    """Assign each worker a device and threads.

    With GPUs (``device`` auto or cuda; CUDA_VISIBLE_DEVICES respected), K = ``jobs_per_device``
    workers share each GPU and ``jobs`` defaults to K per GPU. On the CPU, ``jobs`` (default 1)
    workers divide the cores between them, unless ``threads`` sets each worker's count.
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
    per_worker = threads or (default_threads(n, cpu_count=cpus) if n > 1 else cpus)
    return [WorkerSlot(i, devices[i], per_worker) for i in range(n)]


def _process_context() -> BaseContext:
    """Workers fork from a server that has imported the heavy modules once (no CUDA touched: safe
    for GPUs); started here, it imports them while the coordinator sets up. ``spawn`` elsewhere."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    from multiprocessing import forkserver

    forkserver.ensure_running()  # returns at once; the server imports in the background
    return context


def _worker_process(worker_main: WorkerMain, spec: RunSpec, env: dict[str, str]) -> None:
    """A worker process: ``worker_main(spec)`` in a session of its own (a Ctrl-C reaches the
    coordinator only, which forwards exactly one signal to each worker)."""
    if hasattr(os, "setsid"):
        os.setsid()
    os.environ.clear()
    os.environ.update(env)
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    worker_main(spec)


def quiet_worker(spec: RunSpec) -> None:
    """The body of a worker process for Python callers of :func:`run_parallel`: the study's
    trials, nothing printed; exit code 1 when its circuit breaker trips."""
    from orchestrator.study._loop import run_worker

    if run_worker(spec).stopped_by in ("failures", "store"):
        raise SystemExit(1)


def run_parallel(
    space: Space,
    spec: RunSpec,
    *,
    jobs: int | None,
    jobs_per_device: int = 1,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
    worker_main: WorkerMain = quiet_worker,
    checked: Checked | None = None,
) -> StudyResult:
    """Run a study with several workers on this machine; returns the whole run's result.

    This process is worker 0: once the study, the data and the parent run are set up it starts
    the other workers and runs trials itself, so its set-up is not paid twice. Each other worker
    runs ``worker_main`` (a module-level function, so that it can be sent to a new process) with
    its own copy of ``spec``: its device, threads and label, and the budget stored with the study.
    ``checked``: what :func:`preflight` found, if the caller ran it already.

    Raises:
        KeyboardInterrupt: after every worker has stopped and marked its trial.
    """
    from orchestrator.device import set_threads
    from orchestrator.startup import resume_gc
    from orchestrator.storage._optuna import refreshed_trials
    from orchestrator.study._finish import closing_run, finish, record_best
    from orchestrator.study._loop import new_result, repair_stale, run_trials
    from orchestrator.study._queries import budget_counts
    from orchestrator.study._setup import open_run

    started = time.monotonic()
    stop = stop or StopRequest()
    spec.apply_limits(stop, space)
    # the fork server first, so that its imports overlap this process's set-up
    processes = _process_context() if (jobs or 1) > 1 else None
    slots = plan_workers(
        jobs=jobs, jobs_per_device=jobs_per_device, device=spec.device, threads=spec.threads
    )
    set_threads(slots[0].threads)
    own = spec.replace(device=slots[0].device, threads=slots[0].threads, parent_policy="always")
    try:
        ctx = open_run(space, own, stop=stop, progress=progress, checked=checked)
    finally:
        resume_gc()  # set up: the collector runs again (see orchestrator.startup)
    first_new = len(ctx.study.get_trials(deepcopy=False))
    # this process's environment as it is now, not as the fork server started with it
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def notice(text: str) -> None:
        if progress is not None:
            progress(NoticeEvent(text))

    procs: dict[int, BaseProcess] = {}
    if len(slots) > 1 and processes is None:  # K per GPU without --jobs
        processes = _process_context()
    for slot in slots[1:]:
        assert processes is not None
        worker = spec.replace(
            tracking_uri=ctx.tracker.tracking_uri,
            n_trials=None,  # they obey the budget this run stored with the study
            device=slot.device,
            threads=slot.threads,
            parent_policy="never",
            allow_space_change=False,
            warm_start_from=None,
            label=f"w{slot.index}",
        )
        procs[slot.index] = processes.Process(  # type: ignore[attr-defined]
            target=_worker_process,
            args=(worker_main, worker, env),
            name=f"hpo-worker-w{slot.index}",
        )
        procs[slot.index].start()
    for slot in slots:
        pid = os.getpid() if slot.index == 0 else procs[slot.index].pid
        notice(f"worker w{slot.index} (pid {pid}) on {slot.device}, {slot.threads} thread(s)")
    codes: dict[int, int] = {}
    watcher = _Watcher(procs, codes, notice)
    watcher.start()
    result = new_result(ctx)
    with closing_run(ctx, result, started=started):
        try:
            run_trials(ctx, result)
            own_stop = result.stopped_by
            while watcher.is_alive():  # the other workers finish their trials
                stop.check()
                watcher.join(timeout=0.2)
        except BaseException as exc:
            # Ctrl-C is passed on as Ctrl-C; SIGTERM and any error as SIGTERM
            ctrl_c = type(exc) is KeyboardInterrupt
            _stop_workers(watcher, forward=signal.SIGINT if ctrl_c else signal.SIGTERM)
            if isinstance(exc, KeyboardInterrupt):
                with ctx.store.budget_lock(spec.study_name):
                    repair_stale(ctx, result, trials=refreshed_trials(ctx.study))
            raise
        with ctx.store.budget_lock(spec.study_name):
            # the trials of workers that died: stale at once here
            repair_stale(ctx, result, trials=refreshed_trials(ctx.study))
        result.finished = budget_counts(ctx.study, refreshed_trials(ctx.study))[0]
        if result.finished >= result.n_trials:
            result.stopped_by = "budget"
        elif own_stop in ("failures", "store"):
            result.stopped_by = own_stop
        elif any(code == 1 for code in codes.values()):
            result.stopped_by = "failures"
        elif stop.until is not None and time.time() >= stop.until - 1:
            result.stopped_by = "deadline"
        else:
            result.stopped_by = "timeout" if stop.timeout or stop.until else "workers"
        if result.stopped_by not in ("failures", "store"):
            finish(ctx, result)
    record_best(ctx, result)
    result.ran, result.states, result.failures = 0, {}, {}  # counted again over all workers
    for trial in ctx.study.get_trials(deepcopy=False)[first_new:]:
        if trial.state.name in ("COMPLETE", "PRUNED", "FAIL"):
            result.ran += 1
            result.states[trial.state.name] = result.states.get(trial.state.name, 0) + 1
            if trial.state.name == "FAIL":
                reason = str(trial.user_attrs.get(ATTR_FAIL_REASON, "error"))
                result.failures.setdefault(reason.split(":", 1)[0], []).append(reason)
    return result


class _Watcher(threading.Thread):
    """Reports each worker process as it exits (a death at once, not at worker 0's next trial);
    ends when all have. The only thread that waits on the workers: two threads reading one
    process's exit code from the fork server would race for it (the loser reads 255)."""

    def __init__(self, procs: dict[int, BaseProcess], codes: dict[int, int], notice: Any) -> None:
        super().__init__(name="hpo-worker-watcher", daemon=True)
        self.procs, self.codes, self.notice = procs, codes, notice
        self.stopping = False  # set when the run stops them: exits by that signal are expected

    def run(self) -> None:
        from multiprocessing.connection import wait

        waiting = dict(self.procs)
        while waiting:
            for sentinel in wait([p.sentinel for p in waiting.values()]):
                index = next(i for i, p in waiting.items() if p.sentinel == sentinel)
                proc = waiting.pop(index)
                proc.join()
                self.codes[index] = code = proc.exitcode if proc.exitcode is not None else -1
                expected = (0, 130, 143) if self.stopping else (0,)
                if code not in expected:
                    self.notice(
                        f"worker w{index} (pid {proc.pid}) exited with code {code}; "
                        "the others go on"
                    )


def _stop_workers(watcher: _Watcher, *, forward: int) -> None:
    """Ask every live worker to stop (they mark their trials), then wait for the watcher to see
    them exit; kill the stragglers."""
    watcher.stopping = True
    live = [(i, p.pid) for i, p in watcher.procs.items() if i not in watcher.codes and p.pid]
    for _, pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, forward)
    watcher.join(timeout=STOP_GRACE_SECONDS)
    for index, pid in live:
        if index not in watcher.codes:
            logger.warning("worker pid %d did not stop in time; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    watcher.join()
