"""orchestrator/report/_activity.py: runs, worker processes and the wall clock."""

from __future__ import annotations

import datetime as dt

import pytest

T0 = dt.datetime(2025, 1, 1, 22, 0, 0)


def _trial(number: int, start_s: float, seconds: float, pid: int | None) -> object:
    from optuna.trial import TrialState, create_trial

    trial = create_trial(
        state=TrialState.COMPLETE,
        value=0.5,
        user_attrs={} if pid is None else {"hpo.worker": {"host": "h", "pid": pid, "start": "1"}},
    )
    trial.number = number
    trial.datetime_start = T0 + dt.timedelta(seconds=start_s)
    trial.datetime_complete = trial.datetime_start + dt.timedelta(seconds=seconds)
    return trial


def test_two_sequential_runs_are_two_runs_of_one_process(branching: dict[str, str]) -> None:
    from orchestrator.report import load_study_data, study_activity

    activity = study_activity(load_study_data("branching", **branching).trials)
    # trials 0-5 in one process, 6-11 in another an hour later: two runs, never two processes
    # at once (the old report said "2 worker processes")
    assert len(activity.runs) == 2
    assert [r.trials for r in activity.runs] == [6, 6]
    assert activity.peak == 1 and activity.processes == 2 and activity.known
    # the wall clock is each run's first start to last end, summed: the idle hour is not in it
    assert activity.wall_seconds == 120.0


def test_overlapping_workers_are_one_run() -> None:
    from orchestrator.report import study_activity

    # hpo run --jobs 2: two processes taking trials side by side, one of them a little later;
    # then a third process, alone, after a pause
    trials = [
        _trial(0, 0, 10, pid=1),
        _trial(1, 2, 10, pid=2),
        _trial(2, 10, 10, pid=1),
        _trial(3, 12, 10, pid=2),
        _trial(4, 100, 5, pid=3),
    ]
    activity = study_activity(trials)
    assert [(r.processes, r.peak, r.trials, r.seconds) for r in activity.runs] == [
        (2, 2, 4, 22.0),
        (1, 1, 1, 5.0),
    ]
    assert activity.peak == 2 and activity.wall_seconds == 27.0


@pytest.mark.parametrize("gap", [0, 1])
def test_a_process_starting_as_another_ends_is_not_concurrent(gap: int) -> None:
    from orchestrator.report import study_activity

    activity = study_activity([_trial(0, 0, 10, pid=1), _trial(1, 10 + gap, 10, pid=2)])
    # back to back (one run) or after a second's pause (two runs): one process at a time
    assert len(activity.runs) == 1 + gap
    assert activity.peak == 1


def test_trials_without_a_worker_record_are_one_process() -> None:
    from orchestrator.report import study_activity

    activity = study_activity([_trial(0, 0, 10, pid=None), _trial(1, 50, 10, pid=None)])
    # nothing says which process ran what: one process, one run, and the page says so
    assert not activity.known
    assert len(activity.runs) == 1 and activity.wall_seconds == 60.0
