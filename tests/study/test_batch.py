"""orchestrator/study/_batch.py: a trial's storage writes go out together (on a database: one
transaction when it is set up, one when it ends), and reads see them before they do."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sqlalchemy import event

from orchestrator.storage import BatchingStorage
from orchestrator.storage._optuna import flush_trial, refreshed_trials, storage_of
from orchestrator.study import StudyStore


def _stores(tmp_path: Path, url: str) -> tuple[optuna.Study, optuna.Study, list[int]]:
    """The study through the batching storage, the same study read plainly, and a list that
    counts the database's commits."""
    store = StudyStore.resolve(url)
    plain = optuna.create_study(study_name="s", storage=store.open())
    batched = optuna.load_study(study_name="s", storage=BatchingStorage(storage_of(plain)))
    commits: list[int] = []
    engine = getattr(store.open(), "engine", None)  # a database's (a journal file has none)
    if engine is not None:
        event.listen(engine, "commit", lambda conn: commits.append(1))
    return batched, plain, commits


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return request.getfixturevalue("pg_database")


def test_a_trial_is_written_in_three_transactions(tmp_path: Path, url: str) -> None:
    batched, plain, commits = _stores(tmp_path, url)
    refreshed_trials(batched)  # as the loop does: one read of the study, then the trial
    commits.clear()
    trial = batched.ask()
    assert len(commits) == 1  # the trial is created
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("n", 1, 5)
    trial.set_user_attr("seed", 3)
    assert len(commits) == 1  # gathered, not written
    # another reader sees a bare trial; this study sees it all
    assert plain.trials[0].params == {} and plain.trials[0].user_attrs == {}
    assert batched.trials[0].params["x"] == x and batched.trials[0].user_attrs["seed"] == 3
    commits.clear()
    flush_trial(batched, trial)
    assert len(commits) == 1  # its set-up, in one transaction
    assert set(plain.trials[0].params) == {"x", "n"} and plain.trials[0].user_attrs["seed"] == 3
    commits.clear()
    for step in range(1, 6):
        trial.report(0.1 * step, step)
    trial.set_user_attr("best_epoch", 5)
    batched.tell(trial, 0.5)
    assert len(commits) == 1  # its end, with the epochs and the results, in one transaction
    done = plain.trials[0]
    assert (done.state.name, done.value, done.user_attrs["best_epoch"]) == ("COMPLETE", 0.5, 5)
    assert done.intermediate_values == {s: pytest.approx(0.1 * s) for s in range(1, 6)}


def test_reads_are_served_from_one_snapshot_per_refresh(tmp_path: Path, url: str) -> None:
    batched, plain, _ = _stores(tmp_path, url)
    refreshed_trials(batched)
    plain.enqueue_trial({"x": 0.5})  # another worker queues a trial
    # not seen until the next refresh; then seen
    assert batched.get_trials(deepcopy=False) == []
    assert [t.state.name for t in refreshed_trials(batched)] == ["WAITING"]
    # a trial this process ends joins the snapshot at once
    trial = batched.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == 0.5  # the queued one, taken
    batched.tell(trial, 1.0)
    assert [t.state.name for t in batched.get_trials(deepcopy=False)] == ["COMPLETE"]


def test_a_running_trial_is_read_with_each_write_it_gathered(tmp_path: Path) -> None:
    batched, _, _ = _stores(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    done = batched.ask()
    batched.tell(done, 1.0)
    refreshed_trials(batched)  # the snapshot holds trial 0; trial 1 is created after it
    trial = batched.ask()
    first = batched.get_trials(deepcopy=False)
    again = batched.get_trials(deepcopy=False)
    assert [t.number for t in first] == [0, 1] and first[1] is again[1]  # no write: one view
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("seed", 7)
    trial.report(0.25, 1)
    after = batched.get_trials(deepcopy=False)[1]  # each write shows in the next read
    assert "x" in after.params and after.user_attrs["seed"] == 7
    assert after.intermediate_values == {1: 0.25}
    # a trial read by number is the caller's own copy: changing it changes nothing stored
    mine = batched._storage.get_trial(after._trial_id)
    mine.user_attrs["seed"] = 99
    assert batched.get_trials(deepcopy=False)[1].user_attrs["seed"] == 7
    # after a refresh the trial stands where the snapshot has it, still with its writes
    refreshed = refreshed_trials(batched)
    assert [t.number for t in refreshed] == [0, 1] and refreshed[1].user_attrs["seed"] == 7


def test_a_trial_on_a_journal_file_is_written_in_three_appends(tmp_path: Path) -> None:
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "optuna.journal"
    batched, plain, _ = _stores(tmp_path, str(journal))
    appends: list[int] = []
    backend = storage_of(plain)._backend
    original = JournalFileBackend.append_logs

    def counted(self: JournalFileBackend, logs: list) -> None:
        appends.append(len(logs))
        original(self, logs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(JournalFileBackend, "append_logs", counted)
        trial = batched.ask()  # the trial is created: one append
        for name in "abcdef":
            trial.suggest_float(name, 0.0, 1.0)
        trial.set_user_attr("seed", 3)
        flush_trial(batched, trial)  # its set-up: one append of its 7 records
        for step in range(1, 6):
            trial.report(0.1 * step, step)
        batched.tell(trial, 0.5)  # its end: the 5 epochs and the result, one append
    assert appends == [1, 7, 6]
    # another process reading the file replays them as if written one by one
    other = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    )
    done = other.trials[0]
    assert (done.state.name, done.value, done.user_attrs["seed"]) == ("COMPLETE", 0.5, 3)
    assert set(done.params) == set("abcdef") and len(done.intermediate_values) == 5
    assert backend is storage_of(plain)._backend


def test_a_journal_write_to_a_trial_finished_elsewhere_is_refused_once(tmp_path: Path) -> None:
    from optuna.exceptions import UpdateFinishedTrialError

    journal = str(tmp_path / "optuna.journal")
    batched, plain, _ = _stores(tmp_path, journal)
    trial = batched.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("seed", 1)
    flush_trial(batched, trial)
    # another worker fails it (as a stale trial is failed), while this one still trains it
    plain.tell(plain.trials[0].number, state=optuna.trial.TrialState.FAIL)
    trial.report(0.5, 1)
    trial.report(0.6, 2)
    with pytest.raises(UpdateFinishedTrialError):
        batched.tell(trial, 0.6)  # its end is refused with Optuna's own error
    # once: the storage reads on, and the trial stays as the other worker left it
    from optuna.storages.journal import JournalFileBackend

    again = optuna.storages.JournalStorage(JournalFileBackend(journal))
    read = optuna.load_study(study_name="s", storage=again).trials
    assert [t.state.name for t in read] == ["FAIL"] and read[0].intermediate_values == {}
    assert storage_of(batched).inner.get_all_trials(batched._study_id)[0].state.name == "FAIL"
