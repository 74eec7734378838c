"""orchestrator/tracking/_links.py: a study's experiment and its runs table in MLflow's UI."""

from __future__ import annotations

from pathlib import Path

from orchestrator.tracking import experiment_id_of, runs_table_url, study_objective, ui_base


def test_runs_table_url() -> None:
    # the experiment's runs tab in MLflow 3's model-training view
    assert (
        runs_table_url("http://127.0.0.1:5000/", "12")
        == "http://127.0.0.1:5000/#/experiments/12/runs?workflowType=machine_learning"
    )
    # sorted by a study's objective (its MLflow key), best first: a flat table in Optuna's order
    base = "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    assert runs_table_url("http://127.0.0.1:5000", "3", metric="val_accuracy") == (
        f"{base}&orderByKey=metrics.%60best_val_accuracy%60&orderByAsc=false"
    )
    assert runs_table_url("http://127.0.0.1:5000", "3", metric="val_loss", minimize=True) == (
        f"{base}&orderByKey=metrics.%60best_val_loss%60&orderByAsc=true"
    )
    # on a tracking server, its own UI, without the user and password
    assert ui_base("https://u:pw@mlflow.internal:5000/") == "https://mlflow.internal:5000"
    assert ui_base("sqlite:///mlflow.db") == "http://127.0.0.1:5000"


def test_experiment_id_of_creates_nothing(workdir: Path) -> None:
    from orchestrator.tracking import Tracker

    db = workdir / "mlflow.db"
    uri = f"sqlite:///{db}"
    # no store yet: no id, and no empty database left behind
    assert experiment_id_of("study", tracking_uri=uri) is None
    assert not db.exists()
    tracker = Tracker("study", tracking_uri=uri)
    Tracker("other", tracking_uri=uri)
    # the experiment named after the study; another name has none, and none is created
    assert experiment_id_of("study", tracking_uri=uri) == tracker.experiment_id
    assert experiment_id_of("missing", tracking_uri=uri) is None
    names = {e.name for e in tracker.client.search_experiments()}
    assert "missing" not in names
    # a deleted experiment is not the study's
    tracker.client.delete_experiment(tracker.experiment_id)
    assert experiment_id_of("study", tracking_uri=uri) is None


def test_study_objective_is_read_from_the_parent_run(workdir: Path) -> None:
    from orchestrator.tracking import Tracker

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    # no store, or no parent run yet: nothing to sort by
    assert study_objective("s", tracking_uri=uri) is None
    tracker = Tracker("s", tracking_uri=uri)
    assert study_objective("s", tracking_uri=uri) is None
    tracker.start_parent(
        "s", params={}, tags={"hpo.metric": "val_loss", "hpo.direction": "minimize"}
    )
    assert study_objective("s", tracking_uri=uri) == ("val_loss", True)
