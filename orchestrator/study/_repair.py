"""`hpo repair`: fail stale trials and close MLflow runs left RUNNING."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.storage._store import StudyStore
from orchestrator.study._attrs import ATTR_FAIL_KIND, ATTR_PARENT_RUN, NOT_COUNTED
from orchestrator.study._queries import budget_counts, load_study, stored_budget, stored_space
from orchestrator.study._ranking import objective_names
from orchestrator.study._recovery import GRACE_SECONDS, fail_stale_trials

if TYPE_CHECKING:
    import optuna

__all__ = ["RepairReport", "close_finished_runs", "repair_study"]


@dataclass
class RepairReport:
    """What ``hpo repair`` changed."""

    study_name: str
    stale: list[Any] = field(default_factory=list)  # RepairAction
    runs_closed: list[tuple[str, int, str]] = field(default_factory=list)  # run id, trial, status
    parent_closed: tuple[str, str] | None = None  # the parent run left RUNNING: id, new status


def repair_study(
    name: str,
    *,
    storage: StudyStore | str | None = None,
    tracking_uri: str | None = None,
    grace: float | None = None,
) -> RepairReport:
    """Fail stale trials (queued again per the retry policy), KILL their MLflow runs, and close
    MLflow trial runs left RUNNING although their trial has finished."""

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
            kill_run=lambda number, run_id, reason: tracker.kill_run(
                run_id, trial=number, reason=reason, kind="stale"
            ),
            grace=GRACE_SECONDS if grace is None else grace,
        )
    report.runs_closed = close_finished_runs(study, tracker)
    report.parent_closed = _close_parent(study, space, tracker)
    return report


def close_finished_runs(study: optuna.Study, tracker: Any) -> list[tuple[str, int, str]]:
    """Close every MLflow trial run left RUNNING although its trial has finished (a crash
    between the two stores, or the writes of a trial's end still queued when its process was
    killed): its status and ``hpo.state`` from the trial, and a completed trial's objective under
    its key. Returns (run id, trial number, status) of each run closed."""
    from optuna.trial import TrialState

    from orchestrator.tracking import objective_key

    running = tracker.running_trial_runs()
    if not running:
        return []
    finished = {
        t.number: t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING
    }
    names = objective_names(study)
    closed = []
    for run_id, number in running:
        trial = finished.get(number)
        if trial is None:
            continue
        metrics = {}
        if trial.state == TrialState.COMPLETE:
            status = "FINISHED"
            metrics = {objective_key(n): v for n, v in zip(names, trial.values, strict=False)}
        elif trial.state == TrialState.PRUNED:
            status = "FINISHED"
        elif trial.user_attrs.get(ATTR_FAIL_KIND) in NOT_COUNTED:
            status = "KILLED"
        else:
            status = "FAILED"
        tracker.close_run(run_id, status=status, state=trial.state.name, metrics=metrics)
        closed.append((run_id, number, status))
    return closed


def _close_parent(study: optuna.Study, space: Any, tracker: Any) -> tuple[str, str] | None:
    """End the study's parent run if it is RUNNING while no trial is: FINISHED when the budget
    is reached, KILLED otherwise (a run that died; the same command resumes it)."""
    from optuna.trial import TrialState

    parent = study.user_attrs.get(ATTR_PARENT_RUN)
    if not parent or tracker.run_status(parent) != "RUNNING":
        return None
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.RUNNING for t in trials):
        return None  # a worker is still at it: it ends the parent run itself
    finished = budget_counts(study, trials)[0]
    status = "FINISHED" if finished >= stored_budget(study, space) else "KILLED"
    tracker.end_run(parent, status=status)
    return parent, status
