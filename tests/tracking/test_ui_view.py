"""What the stock MLflow UI shows of a study: a model-training experiment whose saved runs-table
view lists the trials only, sorted by the objective, with the objective and state columns; pruned
and failed runs named so; the winner's network as an MLflow model on its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.tracking import Tracker, objective_key
from tests.helpers import run_cli, study_trials


def _experiment(tracking_uri: str, name: str):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    return client, client.get_experiment_by_name(name)


def test_the_experiment_opens_as_model_training_with_a_view_of_its_trials(
    real_study: dict[str, str],
) -> None:
    client, experiment = _experiment(real_study["tracking_uri"], "tiny")
    tags = experiment.tags
    # MLflow 3 opens an experiment of no kind on its GenAI overview, its runs on "Evaluations"
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(tags["mlflow.sharedViewState.hpo-trials"])
    key = objective_key("val_accuracy")
    assert view["orderByKey"] == f"metrics.`{key}`"
    assert view["orderByAsc"] is False  # accuracy: best (largest) first
    columns = view["selectedColumns"]
    assert columns[:2] == [f"metrics.`{key}`", "tags.`hpo.state`"]
    assert "params.`model.depth`" in columns  # the searched parameters, in the space's order
    assert columns.index("params.`model.depth`") < columns.index("params.`train.optimizer`")
    # the view's filter, as MLflow runs it: the three trial runs, never the parent run (which
    # repeats the winner's objective and would sit among them)
    runs = client.search_runs([experiment.experiment_id], filter_string=view["searchFilter"])
    assert sorted(r.data.tags["hpo.trial"] for r in runs) == ["0", "1", "2"]
    assert all(r.data.tags["hpo.role"] == "trial" for r in runs)


def test_the_winners_run_holds_an_mlflow_model_that_predicts_raw_rows(
    real_study: dict[str, str],
) -> None:
    import mlflow
    import numpy as np
    from sklearn.datasets import load_digits

    from orchestrator.study import get_best, load_study

    study = load_study("tiny", storage=real_study["storage"])
    best = get_best("tiny", storage=real_study["storage"])
    shipped = study.user_attrs["hpo.model"]
    assert shipped["trial"] == best["number"]
    client, experiment = _experiment(real_study["tracking_uri"], "tiny")
    run = client.get_run(best["mlflow_run_id"])
    assert run.data.tags["hpo.model"] == shipped["uri"]
    # the Models tab lists it, and mlflow.pyfunc takes it without hpo retrain
    logged = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    # (hpo retrain's models sit beside it once the session's tests have retrained the study)
    (winner,) = [m for m in logged if f"models:/{m.model_id}" == shipped["uri"]]
    assert winner.source_run_id == best["mlflow_run_id"]
    mlflow.set_tracking_uri(real_study["tracking_uri"])
    try:
        model = mlflow.pyfunc.load_model(shipped["uri"])
    finally:
        mlflow.set_tracking_uri(None)
    rows = load_digits().data[:5].astype(np.float32)
    predicted = model.predict(rows)
    assert len(predicted) == 5
    assert {f"proba_{k}" for k in range(10)} <= set(predicted.columns)
    assert np.allclose(predicted[[f"proba_{k}" for k in range(10)]].sum(axis=1), 1.0, atol=1e-4)


def test_study_log_model_false_logs_no_model(tiny_space: Path, stores: dict[str, str]) -> None:
    from orchestrator.study import load_study

    result = run_cli(tiny_space, stores, "--set", "study.log_model=false")
    assert result.exit_code == 0, result.output
    assert "Best trial's model" not in result.output
    assert "hpo.model" not in load_study("tiny", storage=stores["storage"]).user_attrs
    assert len(study_trials(stores["storage"], "tiny")) == 2


@pytest.mark.parametrize(
    ("state", "tags", "name"),
    [
        ("COMPLETE", {}, "trial-0003"),
        ("PRUNED", {"hpo.pruned_epoch": 2}, "trial-0003 (pruned at epoch 2)"),
        ("FAIL", {"hpo.fail_kind": "nan"}, "trial-0003 (failed)"),
    ],
)
def test_a_pruned_or_failed_run_says_so_in_its_name(
    tmp_path: Path, state: str, tags: dict[str, object], name: str
) -> None:
    tracker = Tracker("tiny", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", source="hpo")
    tracker.start_parent("tiny")
    run = tracker.start_trial(3, params={"lr": 0.1})
    status = "FAILED" if state == "FAIL" else "FINISHED"
    run.end(status, state=state, tags=tags)  # type: ignore[arg-type]
    tracker.close()
    found = tracker.client.get_run(run.run_id)
    assert found.info.run_name == name
    assert found.data.tags["hpo.state"] == state
