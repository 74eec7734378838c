"""`hpo repair`: fail stale trials and close MLflow runs left RUNNING."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.study._attrs import ATTR_FAIL_KIND, NOT_COUNTED
from orchestrator.study._queries import load_study, stored_space
from orchestrator.study._recovery import GRACE_SECONDS, fail_stale_trials
from orchestrator.study._store import StudyStore

__all__ = ["RepairReport", "repair_study"]


@dataclass
class RepairReport:
    """What ``hpo repair`` changed."""

    study_name: str
    stale: list[Any] = field(default_factory=list)  # RepairAction
    runs_closed: list[tuple[str, int, str]] = field(default_factory=list)  # run id, trial, status


def repair_study(
    name: str,
    *,
    storage: StudyStore | str | None = None,
    tracking_uri: str | None = None,
    grace: float | None = None,
) -> RepairReport:
    """Fail stale trials (queued again per the retry policy), KILL their MLflow runs, and close
    MLflow trial runs left RUNNING although their trial has finished."""
    from optuna.trial import TrialState

    from orchestrator.tracking import Tracker

    store = StudyStore.of(storage)
    study = load_study(name, storage=store)
    space = stored_space(study)
    tracker = Tracker(name, tracking_uri=tracking_uri)
    report = RepairReport(study_name=name)
    with store.budget_lock(name):
        report.stale = fail_stale_trials(
            study,
            retries=space.study.retries,
            kill_run=lambda run_id, reason: tracker.kill_run(run_id, reason=reason, kind="stale"),
            grace=GRACE_SECONDS if grace is None else grace,
        )
    finished = {
        t.number: t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING
    }
    for run_id, number in tracker.running_trial_runs():
        trial = finished.get(number)
        if trial is None:
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            status = "FINISHED"
        elif trial.user_attrs.get(ATTR_FAIL_KIND) in NOT_COUNTED:
            status = "KILLED"
        else:
            status = "FAILED"
        tracker.close_run(run_id, status=status, state=trial.state.name)
        report.runs_closed.append((run_id, number, status))
    return report
