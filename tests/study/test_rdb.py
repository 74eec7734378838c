"""orchestrator/study/_rdb.py: on a database, a trial is created and written in core statements
built once, what is stored is what Optuna's own calls store, and a study's trials are read again
only where they may have changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from sqlalchemy import event

from orchestrator.storage import BatchingStorage
from orchestrator.storage._optuna import flush_trial, refreshed_trials, storage_of
from orchestrator.storage._rdb import create_rdb_trial
from orchestrator.study import StudyStore


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return request.getfixturevalue("pg_database")


def _studies(url: str) -> tuple[optuna.Study, optuna.Study, list[str]]:
    """The study through the batching storage, the same study as another worker sees it, and a
    list of the SELECTs sent to the database."""
    store = StudyStore.resolve(url)
    other = optuna.create_study(study_name="s", storage=store.open())
    batched = optuna.load_study(study_name="s", storage=BatchingStorage(storage_of(other)))
    selects: list[str] = []

    def sent(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(storage_of(other)._backend.engine, "before_cursor_execute", sent)
    return batched, other, selects


def _fresh(url: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as a new process reads them, through Optuna alone."""
    return optuna.load_study(study_name="s", storage=optuna.storages.RDBStorage(url)).trials


def _run(study: optuna.Study, *, flush: bool) -> None:
    """One trial: parameters, attributes (one written twice), epochs, a result."""
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_int("layers", 1, 4)
    trial.suggest_categorical("act", ["relu", "gelu"])
    trial.set_user_attr("seed", 1)
    trial.set_user_attr("config", {"a": [1, 2], "b": None})
    if flush:
        flush_trial(study, trial)
    for step in range(1, 4):
        trial.report(0.1 * step, step)
    trial.set_user_attr("seed", 2)  # written again at the end: the end's value stands
    study.tell(trial, 0.75)


def test_what_is_stored_is_what_optunas_own_calls_store(url: str) -> None:
    batched, other, _ = _studies(url)
    _run(batched, flush=True)  # through hpo's writes: a transaction at set-up, one at the end
    _run(other, flush=False)  # through Optuna's calls, one by one
    mine, optunas = _fresh(url)
    for field in (
        "state",
        "values",
        "user_attrs",
        "system_attrs",
        "intermediate_values",
        "distributions",
    ):
        assert getattr(mine, field) == getattr(optunas, field), field
    assert mine.user_attrs["seed"] == 2 and mine.datetime_complete is not None
    assert mine.number == 0 and optunas.number == 1


def test_a_trial_ended_here_is_not_read_again(url: str) -> None:
    batched, _, selects = _studies(url)
    refreshed_trials(batched)
    _run(batched, flush=True)
    selects.clear()
    trials = refreshed_trials(batched)
    # one SELECT of which trials changed; the trial this process ended is taken as written
    assert len(selects) == 1
    assert trials[0].user_attrs == _fresh(url)[0].user_attrs
    assert trials[0].params == _fresh(url)[0].params and trials[0].value == 0.75
    selects.clear()
    refreshed_trials(batched)
    assert len(selects) == 1  # nothing changed: nothing read in full


def test_what_other_workers_do_is_seen_at_the_next_refresh(url: str) -> None:
    batched, other, _ = _studies(url)
    refreshed_trials(batched)
    _run(batched, flush=True)
    refreshed_trials(batched)
    theirs = other.ask()  # another worker starts a trial...
    assert [t.state.name for t in refreshed_trials(batched)] == ["COMPLETE", "RUNNING"]
    theirs.suggest_float("lr", 1e-4, 1e-1, log=True)  # ...sets it up...
    theirs.set_user_attr("lease", 5.0)
    running = refreshed_trials(batched)[1]
    assert "lr" in running.params and running.user_attrs == {"lease": 5.0}
    other.tell(theirs, 0.5)  # ...ends it, and starts another
    other.ask()
    trials = refreshed_trials(batched)
    assert [(t.number, t.state.name) for t in trials] == [
        (0, "COMPLETE"),
        (1, "COMPLETE"),
        (2, "RUNNING"),
    ]
    assert trials[1].value == 0.5


def test_a_trial_finished_elsewhere_is_read_as_the_database_has_it(url: str) -> None:
    batched, other, _ = _studies(url)
    refreshed_trials(batched)
    trial = batched.ask()
    trial.suggest_float("x", 0.0, 1.0)
    flush_trial(batched, trial)
    # another worker fails it (as a stale trial is failed) while this one still trains it
    other.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    trial.report(0.5, 1)
    with pytest.raises(UpdateFinishedTrialError):
        batched.tell(trial, 0.6)  # refused, as Optuna refuses it
    (read,) = refreshed_trials(batched)
    assert read.state.name == "FAIL" and read.intermediate_values == {}


def test_created_trials_are_numbered_in_order_whoever_creates_them(url: str) -> None:
    batched, other, _ = _studies(url)
    backend = storage_of(other)._backend
    made = [create_rdb_trial(backend, batched._study_id) for _ in range(2)]
    other.ask()
    made.append(create_rdb_trial(backend, batched._study_id))
    assert [t.number for t in made] == [0, 1, 3]
    stored = {t.number: t for t in _fresh(url)}
    for trial in made:  # what comes back is what was stored
        again = stored[trial.number]
        assert (again._trial_id, again.state, again.datetime_start) == (
            trial._trial_id,
            trial.state,
            trial.datetime_start,
        )
    with pytest.raises(KeyError):
        create_rdb_trial(backend, batched._study_id + 100)
