"""orchestrator/report/_data.py: the study as read back, and its cache of per-epoch metrics."""

from __future__ import annotations

from typing import Any


class _Tracker:
    """Stands in for the MLflow tracker: counts the curves asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def metric_histories(self, run_id: str, keys: Any) -> dict[str, dict[int, float]]:
        self.asked.append(run_id)
        return {"val_loss": {1: 0.5, 2: 0.4}}


def test_cached_histories_never_asks_mlflow() -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    from orchestrator.report import StudyData

    study = optuna.create_study(direction="maximize")
    trial = create_trial(state=TrialState.COMPLETE, value=0.9, user_attrs={"mlflow_run_id": "r1"})
    tracker = _Tracker()
    data = StudyData(
        study=study,
        trials=[trial],
        metrics=["val_accuracy"],
        directions=["maximize"],
        n_total=1,
        tracker=tracker,  # type: ignore[arg-type]
        runs={"r1": object()},
    )
    # nothing read yet: the cache is empty and MLflow was not asked
    assert data.cached_histories(trial) == {}
    assert tracker.asked == []
    # histories() reads once; the cache then holds the same curves, without a second read
    assert data.histories(trial) == {"val_loss": {1: 0.5, 2: 0.4}}
    assert data.cached_histories(trial) == {"val_loss": {1: 0.5, 2: 0.4}}
    assert data.histories(trial) == data.cached_histories(trial)
    assert tracker.asked == ["r1"]


def test_one_metric_is_read_alone_unless_all_were() -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    from orchestrator.report import StudyData

    class Tracker(_Tracker):
        def metric_histories(self, run_id: str, keys: Any) -> dict[str, dict[int, float]]:
            self.asked.append(f"{run_id}:{','.join(keys)}")
            return {k: {1: 0.5} for k in keys}

    trials = [
        create_trial(state=TrialState.COMPLETE, value=0.9, user_attrs={"mlflow_run_id": f"r{i}"})
        for i in range(2)
    ]
    for i, trial in enumerate(trials):
        trial.number = i
    tracker = Tracker()
    data = StudyData(
        study=optuna.create_study(direction="maximize"),
        trials=trials,
        metrics=["val_accuracy"],
        directions=["maximize"],
        n_total=2,
        tracker=tracker,  # type: ignore[arg-type]
        runs={"r0": object(), "r1": object()},
    )
    data.histories(trials[0])
    # trial 0's curves were all read: its val_accuracy comes from them; trial 1's alone, once
    assert data.history(trials[0], "val_accuracy") == {1: 0.5}
    assert data.history(trials[1], "val_accuracy") == {1: 0.5}
    assert data.history(trials[1], "val_accuracy") == {1: 0.5}
    assert tracker.asked[1:] == ["r1:val_accuracy"]


def test_a_large_study_reads_the_runs_it_needs_one_by_one(
    real_study: dict[str, str], monkeypatch: Any
) -> None:
    from orchestrator.report import _data, load_study_data

    monkeypatch.setattr(_data, "READ_ALL_RUNS", 1)  # the 3-trial study counts as large
    data = load_study_data(
        "tiny", storage=real_study["storage"], tracking_uri=real_study["tracking_uri"]
    )
    # no search of every run: each is read when first asked for, then kept
    assert not data.every_run and data.runs == {}
    run_id = data.trials[0].user_attrs["mlflow_run_id"]
    assert data.has_run(run_id) and list(data.runs) == [run_id]
    assert not data.has_run("no-such-run") and not data.has_run(None)
    # devices are named, not counted
    assert data.devices() == {"cpu": None}
    # a small study reads them all at once, and counts
    monkeypatch.setattr(_data, "READ_ALL_RUNS", 1_000)
    data = load_study_data(
        "tiny", storage=real_study["storage"], tracking_uri=real_study["tracking_uri"]
    )
    assert data.every_run and len(data.runs) == 3 and data.devices() == {"cpu": 3}
