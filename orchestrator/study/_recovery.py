"""Crash recovery: trial leases, stale-trial detection, retries by failure class, repair.

Every running trial holds a lease: a heartbeat thread writes the time into the trial's user
attributes every ``HEARTBEAT_SECONDS``, beside who runs it (host, pid, process start time). A
RUNNING trial is stale when its process is gone (same host: the pid is dead or reused) or its lease
is older than ``GRACE_SECONDS`` (another host, or a machine that was lost). Works the same on a
journal file and on PostgreSQL (Optuna's own heartbeat exists only on RDB storages and only
inside ``study.optimize``).

A stale trial is failed with ``fail_kind=stale``, its MLflow run set to KILLED, and its parameters
queued again up to the retry limit of its failure class (``study.retries`` in the space file).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.storage._optuna import storage_of, trial_attr, trial_id_of, unbatched
from orchestrator.study._attrs import (
    ALWAYS_REQUEUED,
    ATTR_FAIL_KIND,
    ATTR_FAIL_REASON,
    ATTR_REQUEUED,
    ATTR_RETRY,
    ATTR_RETRY_OF,
    ATTR_RUN_ID,
    LEASE,
    WORKER,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "Heartbeat",
    "Holder",
    "RepairAction",
    "claim",
    "fail_stale_trials",
    "fail_trial",
    "held_elsewhere",
    "stale_reason",
    "worker_identity",
]

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0  # how often a running trial renews its lease
GRACE_SECONDS = 90.0  # a lease older than this marks the trial stale (trials on other hosts)


def _process_start(pid: int) -> str | None:
    """The start time of a process (Linux /proc), to tell a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_identity() -> dict[str, Any]:
    """Who runs a trial: host, pid and the process start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(
    trial: optuna.trial.FrozenTrial, *, now: float | None = None, grace: float = GRACE_SECONDS
) -> str | None:
    """Why a RUNNING trial is stale, or None while its worker is alive."""
    now = time.time() if now is None else now
    worker = trial_attr(trial, WORKER) or {}
    lease = trial_attr(trial, LEASE)
    if worker.get("host") == socket.gethostname() and worker.get("pid"):
        pid = int(worker["pid"])
        if worker.get("pid") == os.getpid() and worker.get("start") == _process_start(pid):
            return None  # our own trial
        if not _pid_alive(pid):
            return f"worker process {pid} on {worker['host']} is gone"
        start = _process_start(pid)
        if worker.get("start") and start and start != worker["start"]:
            return f"worker process {pid} on {worker['host']} is gone (pid reused)"
        return None
    if lease is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - started > grace:
            return f"no lease for {now - started:.0f}s"
        return None
    if now - float(lease) > grace:
        who = f"{worker.get('host', '?')}:{worker.get('pid', '?')}"
        return f"lease of worker {who} expired {now - float(lease):.0f}s ago"
    return None


def claim(study: optuna.Study, trial: optuna.Trial) -> None:
    """Take a new trial: record who runs it and its first lease."""
    storage, trial_id = storage_of(study), trial_id_of(trial)
    storage.set_trial_system_attr(trial_id, WORKER, worker_identity())  # hpo's records: _attrs
    storage.set_trial_system_attr(trial_id, LEASE, time.time())


class Heartbeat:
    """Renews a running trial's lease from a daemon thread until stopped."""

    def __init__(
        self, study: optuna.Study, trial: optuna.Trial, *, interval: float = HEARTBEAT_SECONDS
    ) -> None:
        self._storage = unbatched(study)  # a lease must land at once, not with the trial's end
        self._trial_id = trial_id_of(trial)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        # the first lease and the worker's identity are written when the trial is claimed
        # (claim()), under the budget lock; from here on the thread only renews the lease
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        self._storage.set_trial_system_attr(self._trial_id, LEASE, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception as exc:  # a lost connection: the next beat may succeed
                logger.warning("heartbeat of trial %d failed: %s", self._trial_id, exc)


def fail_trial(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    *,
    kind: str,
    reason: str,
    retries: Mapping[str, int],
) -> bool:
    """Mark a trial FAIL with its failure class and reason; queue its parameters again when the
    retry policy of that class allows it. Returns whether it was queued again.

    ``interrupted``, ``deadline`` and ``store`` trials are always queued again: they were stopped,
    or a store failed them, not broken. The attributes are written before the state, which Optuna
    freezes.
    """
    from optuna.trial import TrialState

    done = int(trial.user_attrs.get(ATTR_RETRY, 0))
    again = kind in ALWAYS_REQUEUED or done < int(retries.get(kind, 0))
    storage, trial_id = storage_of(study), trial_id_of(trial)
    storage.set_trial_user_attr(trial_id, ATTR_FAIL_KIND, kind)
    storage.set_trial_user_attr(trial_id, ATTR_FAIL_REASON, reason[:1000])
    if again:
        storage.set_trial_user_attr(trial_id, ATTR_REQUEUED, True)
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if again:
        study.enqueue_trial(
            dict(trial.params),
            user_attrs={
                ATTR_RETRY_OF: trial.user_attrs.get(ATTR_RETRY_OF, trial.number),
                ATTR_RETRY: done + 1,
            },
        )
    return again


@dataclass(frozen=True)
class Holder:
    """A RUNNING trial held by a worker on another host whose lease is still valid."""

    trial: int
    worker: str  # host:pid
    expires: float  # epoch seconds at which the trial turns stale if its worker is gone


def held_elsewhere(
    trials: Sequence[optuna.trial.FrozenTrial],
    *,
    now: float | None = None,
    grace: float = GRACE_SECONDS,
) -> list[Holder]:
    """The RUNNING trials that a worker on another host holds, its lease not yet expired: they
    may finish, or turn stale when the lease runs out (and be run again)."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    here = socket.gethostname()
    held = []
    for trial in trials:
        if trial.state != TrialState.RUNNING or stale_reason(trial, now=now, grace=grace):
            continue
        worker = trial_attr(trial, WORKER) or {}
        if worker.get("host") == here:
            continue  # a live process of this machine: it ends its trial itself
        lease = trial_attr(trial, LEASE)
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        expires = (float(lease) if lease is not None else started) + grace
        who = f"{worker.get('host', '?')}:{worker.get('pid', '?')}"
        held.append(Holder(trial.number, who, expires))
    return held


@dataclass(frozen=True)
class RepairAction:
    """One change made by a repair."""

    trial: int
    reason: str
    requeued: bool
    mlflow_run_id: str | None


def fail_stale_trials(
    study: optuna.Study,
    *,
    retries: Mapping[str, int],
    kill_run: Callable[[int, str | None, str], str | None] | None = None,
    grace: float = GRACE_SECONDS,
    trials: Sequence[optuna.trial.FrozenTrial] | None = None,
) -> list[RepairAction]:
    """Fail every stale RUNNING trial, queue it again per the retry policy, KILL its MLflow run.

    Call it under the study's budget lock, so that two workers never repair the same trial.
    ``trials``: the study's trials if the caller has just read them (one storage read fewer).
    """
    from optuna.trial import TrialState

    actions = []
    now = time.time()
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        reason = stale_reason(trial, now=now, grace=grace)
        if reason is None:
            continue
        run_id = trial.user_attrs.get(ATTR_RUN_ID)  # recorded when a trial ends: often not yet
        if kill_run is not None:
            try:
                run_id = kill_run(trial.number, run_id, f"stale: {reason}")
            except Exception as exc:  # the tracking server may be the thing that is down
                logger.warning("could not mark trial %d's MLflow run KILLED: %s", trial.number, exc)
        if run_id and ATTR_RUN_ID not in trial.user_attrs:  # found by its tags: noted, as usual
            storage_of(study).set_trial_user_attr(trial_id_of(trial), ATTR_RUN_ID, run_id)
        requeued = fail_trial(
            study, trial, kind="stale", reason=f"stale: {reason}", retries=retries
        )
        logger.warning("trial %d was stale (%s); requeued=%s", trial.number, reason, requeued)
        actions.append(RepairAction(trial.number, reason, requeued, run_id))
    return actions
