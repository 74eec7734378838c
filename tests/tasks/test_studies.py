"""Each task end to end on a tiny table: hpo validate, run, resume, pruning, retrain, predict and
report (conftest: task_study runs each task once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.tasks.conftest import invoke, write_space, write_table

OBJECTIVES = {
    "regression": "val_rmse",
    "binary": "val_roc_auc",
    "multilabel": "val_micro_f1",
}


@pytest.mark.parametrize("task", ["regression", "binary", "multilabel"])
def test_validate_names_the_task_it_inferred(task: str, workdir: Path) -> None:
    write_space(workdir, task)
    result = CliRunner().invoke(cli, ["validate", "--space", f"{task}.yaml"])
    assert result.exit_code == 0, result.output
    # the task auto chose, why, and the objective that follows from it
    assert f"data.task: auto chose {task} for {task}.csv" in result.output
    assert f"study: {'minimize' if task == 'regression' else 'maximize'} {OBJECTIVES[task]}" in (
        result.output
    )
    # the unnamed index and the name per row are no features
    assert "model.layers.width" in result.output


def test_a_metric_of_another_task_is_refused_before_anything_is_written(workdir: Path) -> None:
    write_space(workdir, "regression")
    result = CliRunner().invoke(
        cli, ["run", "--space", "regression.yaml", "--set", "study.metric=val_accuracy"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --set study.metric=val_accuracy: val_accuracy is not a metric of regression; "
        "valid: val_loss, val_rmse, val_mae, val_r2, val_mape, val_rmsle, n_parameters, "
        "latency_ms; or set data.task"
    )
    assert not (workdir / "mlruns").exists() and not (workdir / "mlflow.db").exists()


def test_a_training_setting_of_another_task_is_refused(workdir: Path) -> None:
    write_space(workdir, "binary")
    result = CliRunner().invoke(
        cli, ["validate", "--space", "binary.yaml", "--set", "train.loss=huber"]
    )
    assert result.exit_code == 2
    # blamed on the --set that gave it
    assert result.output == (
        "Error: --set train.loss=huber: binary classification takes train.loss: auto, got 'huber'\n"
    )


def test_each_task_runs_resumes_and_logs_its_metrics(task_study: dict) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study, study_attr

    task, name = task_study["task"], task_study["name"]
    objective = OBJECTIVES[task]
    assert f"data.task: auto chose {task}" in task_study["ran"]
    assert f"{objective} (" in task_study["ran"]
    study = load_study(name, storage=task_study["storage"])
    trials = study.get_trials()
    # resumed to its new budget: 4 complete trials, the study records its task
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert study_attr(study, "hpo.task") == task
    client = MlflowClient(tracking_uri=task_study["tracking_uri"])
    run = client.get_run(trials[0].user_attrs["mlflow_run_id"])
    # every metric of the task, per epoch, and the objective under best_<metric>
    history = client.get_metric_history(run.info.run_id, objective)
    assert len(history) == 4
    assert run.data.metrics[f"best_{objective}"] == pytest.approx(trials[0].value)
    # the best trial evaluated once on the test split, in the task's own metrics
    test = study.user_attrs["hpo.test_metrics"]
    assert f"test_{objective.removeprefix('val_')}" in test


@pytest.mark.parametrize(
    ("task", "bound"),
    [("regression", "upper: 0.0"), ("binary", "lower: 1.01"), ("multilabel", "lower: 1.01")],
)
def test_pruning_works_for_each_task(task: str, bound: str, workdir: Path) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study

    # a threshold no trial reaches on the task's objective: every trial is pruned early
    write_space(workdir, task)
    text = (
        (workdir / f"{task}.yaml")
        .read_text()
        .replace("pruner: none", f"pruner: {{name: threshold, {bound}, n_warmup_steps: 1}}")
    )
    (workdir / f"{task}.yaml").write_text(text)
    invoke(workdir, "run", "--space", f"{task}.yaml", "--n-trials", "2")
    study = load_study(f"tiny-{task}", storage="mlruns/optuna.journal")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    assert all(max(t.intermediate_values) < 4 for t in trials)  # before its 4 epochs
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name(f"tiny-{task}").experiment_id])
    pruned = [r for r in runs if r.data.tags.get("hpo.state") == "PRUNED"]
    assert len(pruned) == 2


def test_retrain_reports_the_tasks_metrics_over_seeds(task_study: dict) -> None:
    out = task_study["retrained"]
    labels = {
        "regression": ["RMSE", "MAE", "R²"],
        "binary": ["ROC AUC", "accuracy", "F1 (positive class)", "log loss"],
        "multilabel": ["micro F1", "macro F1", "ROC AUC", "subset accuracy"],
    }[task_study["task"]]
    for label in labels:
        assert f"  {label}" in out and " +- " in out
    assert "Registered models:/" in out


def test_predict_writes_what_the_task_predicts(task_study: dict) -> None:
    import pandas as pd

    task, root = task_study["task"], task_study["root"]
    # new rows, the target columns still in the file (ignored), the ids carried over
    fresh = write_table(root / "fresh.csv", task, rows=30, seed=7)
    model = f"models:/{task_study['name']}/1"
    out = (
        invoke(
            root,
            *("predict", "--model", model, "--input", str(fresh), "--out", "p.csv", "--proba"),
            *("--tracking-uri", task_study["tracking_uri"]),
        )
        if task != "regression"
        else invoke(
            root,
            *("predict", "--model", model, "--input", str(fresh), "--out", "p.csv"),
            *("--tracking-uri", task_study["tracking_uri"]),
        )
    )
    assert "Wrote 30 predictions" in out
    table = pd.read_csv(root / "p.csv")
    # the identifiers come first: the row number, pandas' unnamed index, the name per row
    assert list(table.columns[:3]) == ["row", "Unnamed: 0", "name"]
    if task == "regression":
        assert list(table.columns[3:]) == ["price"]
        assert table["price"].between(0, 500).all()  # in the target's own units
    elif task == "binary":
        assert list(table.columns[3:]) == ["churned", "proba_no", "proba_yes"]
        assert set(table["churned"]) <= {"yes", "no"}
        assert (table["proba_no"] + table["proba_yes"]).round(4).eq(1).all()
    else:
        assert list(table.columns[3:]) == ["a", "b", "c", "proba_a", "proba_b", "proba_c"]
        assert set(table["a"]) <= {0, 1}


def test_the_report_shows_the_tasks_test_split(task_study: dict) -> None:
    root = task_study["root"]
    out = root / "report.html"
    invoke(
        root,
        *("report", "--study", task_study["name"], "--out", str(out)),
        *("--no-mlflow", *task_study["stores"]),
    )
    page = out.read_text()
    section = page.split("<h2>Test split</h2>")[1].split("<h2>")[0]
    if task_study["task"] == "regression":
        assert 'data-plot="residuals"' in section
    elif task_study["task"] == "binary":
        for plot in ("confusion", "roc", "calibration"):
            assert f'data-plot="{plot}"' in section
        assert "decision threshold the validation split chose" in section
    else:
        assert 'data-table="per-label"' in section
        for label in "abc":
            assert f'<td class="text">{label}</td>' in section
    # the retrained models, in the task's metrics
    retrained = page.split("<h2>Retrained and shipped</h2>")[1].split("<h2>")[0]
    assert "&plusmn;" in retrained


def test_explain_ranks_a_tables_original_columns(
    task_study: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.explain import explain

    monkeypatch.chdir(task_study["root"])  # data.path is relative to where the study ran

    # not logged: the other tests of the study see it as the run left it
    result = explain(
        task_study["name"],
        storage=task_study["storage"],
        tracking_uri=task_study["tracking_uri"],
        samples=50,
        log=False,
    )
    by_column = {c.column: c for c in result.importance}
    # the name differs in every row and is left out; the colour's one-hot features are one bar
    assert set(by_column) == {"x1", "x2", "x3", "colour"}
    assert result.pictures["importance"].startswith(b"\x89PNG")
    assert all(c.attribution >= 0 for c in result.importance)
    if task_study["task"] != "multilabel":  # x3 decides nothing there (it does label c)
        assert by_column["x1"].mean > by_column["x3"].mean
    words = {
        "regression": "absolute error",
        "binary": "probability of the wrong classes",
        "multilabel": "largest error of a label's probability",
    }
    assert result.badness == words[task_study["task"]]
