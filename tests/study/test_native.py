"""hpo's stores as stock Optuna and MLflow read them, with no hpo code (issue 12): one objective
under one key on the parent and every trial run, the winner marked, the budget current, the runs
table's empty columns filled, Optuna's metric names set and hpo's own records kept out of the user
attributes; studies written with the old layout still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

# hpo's own records, which must not fill the user attributes a user browses
STUDY_INTERNALS = {"hpo.space", "hpo.space_text", "hpo.metric", "hpo.metrics", "hpo.version"}
TRIAL_INTERNALS = {"config", "hpo.worker", "hpo.lease"}


def _runs(tracking_uri: str, monkeypatch: pytest.MonkeyPatch):
    """Every run of experiment 'tiny', read by plain ``mlflow.search_runs``."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        return mlflow.search_runs(experiment_names=["tiny"], max_results=1000)
    finally:
        mlflow.set_tracking_uri(None)


def test_stock_optuna_and_mlflow_read_a_study_on_a_plain_postgresql_url(
    tiny_space: Path, stores: dict[str, str], pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    from orchestrator.study import best_trial

    pg = {**stores, "storage": pg_database}  # postgresql://...: psycopg 3, as every tool reads it
    result = run_cli(tiny_space, pg, "--n-trials", "2")
    assert result.exit_code == 0, result.output

    # plain Optuna, plain URL: the study opens and names its metric
    study = optuna.load_study(study_name="tiny", storage=pg_database)
    assert study.metric_names == ["val_accuracy"]
    # hpo's records are system attributes; the user attributes keep what a user reads
    assert not STUDY_INTERNALS & set(study.user_attrs)
    assert "hpo.mlflow_parent_run_id" in study.user_attrs
    system = study._storage.get_study_system_attrs(study._study_id)
    assert set(system) >= STUDY_INTERNALS
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete
    for trial in complete:
        assert not TRIAL_INTERNALS & set(trial.user_attrs)
        assert {"seed", "mlflow_run_id", "best_epoch", "best_metrics"} <= set(trial.user_attrs)
        assert set(trial.system_attrs) >= TRIAL_INTERNALS

    runs = _runs(stores["tracking_uri"], monkeypatch)
    parent = runs[runs["tags.hpo.role"] == "study"].iloc[0]
    trials = runs[runs["tags.hpo.role"] == "trial"]
    key = "metrics.best_val_accuracy"
    # one objective, one key: the parent holds the study's best, each trial what Optuna was told
    assert parent[key] == pytest.approx(study.best_value)
    by_run = {t.user_attrs["mlflow_run_id"]: t for t in complete}
    for _, run in trials.iterrows():
        assert run[key] == pytest.approx(by_run[run["run_id"]].value)
    # sorting the runs table by that key gives Optuna's ranking
    ranked = trials.sort_values(key, ascending=False)[key].tolist()
    assert ranked == pytest.approx(sorted((t.value for t in complete), reverse=True))

    # the winner: tagged on its run only, named on the parent
    best = best_trial(study)  # Optuna's best, ties broken as hpo breaks them
    best_run = best.user_attrs["mlflow_run_id"]
    assert best.value == study.best_value
    assert trials[trials["tags.hpo.best"] == "true"]["run_id"].tolist() == [best_run]
    assert parent["tags.hpo.best_trial"] == str(best.number)
    assert parent["tags.hpo.best_run_id"] == best_run

    # the columns the stock UI showed empty: source, user, description, data set
    assert (runs["tags.mlflow.source.name"] == "hpo run").all()
    assert runs["tags.mlflow.user"].notna().all()
    note = parent["tags.mlflow.note.content"]
    assert "tiny" in note and "tiny.yaml" in note and "best_val_accuracy" in note
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stores["tracking_uri"])
    for run_id in [parent["run_id"], *trials["run_id"]]:
        (used,) = client.get_run(run_id).inputs.dataset_inputs
        assert used.dataset.name == "digits" and used.dataset.digest
        assert '"train_rows"' in used.dataset.profile

    # the budget on the parent is the current one: a tag, not the first run's param
    assert parent["tags.hpo.n_trials"] == "2"
    assert "params.study.n_trials" not in runs or runs["params.study.n_trials"].isna().all()
    assert run_cli(tiny_space, pg, "--n-trials", "3").exit_code == 0
    runs = _runs(stores["tracking_uri"], monkeypatch)
    parent = runs[runs["tags.hpo.role"] == "study"].iloc[0]
    assert parent["tags.hpo.n_trials"] == "3"
    # still one winner after the resume, the study's best
    study = optuna.load_study(study_name="tiny", storage=pg_database)
    best_run = best_trial(study).user_attrs["mlflow_run_id"]
    assert runs[runs["tags.hpo.best"] == "true"]["run_id"].tolist() == [best_run]
    assert parent["metrics.best_val_accuracy"] == pytest.approx(study.best_value)


def test_a_study_of_the_old_layout_still_reads_and_resumes(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    import optuna

    from orchestrator.space import load_space
    from orchestrator.study import StudyStore, prepare_study, stored_space, study_attr, trial_attr
    from orchestrator.study._ranking import objective_names

    space = load_space(tiny_space)
    # as earlier versions wrote it: every record a user attribute, no metric names
    storage = StudyStore.of(stores["storage"]).open()
    study = optuna.create_study(study_name="tiny", storage=storage, direction="maximize")
    for key, value in {
        "hpo.space": space.raw,
        "hpo.space_text": space.text,
        "hpo.space_source": space.source,
        "hpo.metric": "val_accuracy",
        "hpo.metrics": ["val_accuracy"],
    }.items():
        study.set_user_attr(key, value)
    trial = study.ask()
    trial.set_user_attr("config", {"data": {"name": "digits"}})
    trial.set_user_attr("hpo.worker", {"host": "h", "pid": 1, "start": "1"})
    study.tell(trial, 0.5)

    # readers find the old records where they are
    assert stored_space(study).raw == space.raw
    assert study_attr(study, "hpo.space") == space.raw
    assert objective_names(study) == ["val_accuracy"]
    frozen = study.trials[0]
    assert trial_attr(frozen, "config") == {"data": {"name": "digits"}}
    assert trial_attr(frozen, "hpo.worker")["pid"] == 1

    # a resume accepts the same space and names the metric for the dashboard
    resumed = prepare_study(space, name="tiny", storage=stores["storage"], n_trials=3)
    assert resumed.metric_names == ["val_accuracy"]
    assert stored_space(resumed).raw == space.raw
