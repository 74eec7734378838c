"""orchestrator/ensemble/_build.py and `hpo ensemble`: an ensemble of a tiny study's trials,
chosen on their kept predictions, tested once, registered and loaded back; and
cross-validation (data.cv), whose out-of-fold predictions it is chosen on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tasks.conftest import invoke, write_space

SPACE = """\
study: {name: tiny, n_trials: 4, seed: 0, sampler: random, pruner: none}
data: {name: digits}
model:
  family: mlp
  depth: 1
  layers: {width: {type: int, low: 8, high: 32}}
train:
  epochs: 2
  batch_size: 64
  optimizer: {name: adam, lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
"""


@pytest.fixture(scope="module")
def ensembled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ensemble")
    (root / "tiny.yaml").write_text(SPACE)
    stores = ("--storage", str(root / "optuna.journal"), "--tracking-uri", f"sqlite:///{root}/m.db")
    ran = invoke(root, "run", "--space", "tiny.yaml", "--threads", "1", "--ensemble", *stores)
    return {"root": root, "stores": stores, "ran": ran, "tracking_uri": f"sqlite:///{root}/m.db"}


def test_every_complete_trial_keeps_its_validation_predictions(ensembled: dict) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study

    study = load_study("tiny", storage=str(ensembled["root"] / "optuna.journal"))
    client = MlflowClient(tracking_uri=ensembled["tracking_uri"])
    trial = study.trials[0]
    path = client.download_artifacts(
        trial.user_attrs["mlflow_run_id"], "val_predictions.npy", str(ensembled["root"])
    )
    kept = np.load(path)
    # float16 probabilities of the 270 validation digits, one row per sample
    assert kept.dtype == np.float16 and kept.shape == (270, 10)
    assert np.allclose(kept.astype(float).sum(axis=1), 1.0, atol=1e-2)


def test_run_ensemble_builds_tests_and_registers_it(ensembled: dict) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study

    out = ensembled["ran"]
    assert "Building the ensemble of the best 10 trials." in out
    assert "Test split (once):" in out and "Registered models:/tiny-ensemble/1" in out
    study = load_study("tiny", storage=str(ensembled["root"] / "optuna.journal"))
    summary = study.user_attrs["hpo.ensemble"]
    # its weights are picks over the size, and it was chosen for the study's metric
    assert summary["metric"] == "val_accuracy"
    assert sum(m["picks"] for m in summary["members"]) == 20
    assert sum(m["weight"] for m in summary["members"]) == pytest.approx(1.0)
    assert 0 <= summary["test"]["test_accuracy"] <= 1 and "test_accuracy" in summary["best_test"]
    assert summary["ms_per_sample"] > 0
    # its MLflow run, of the study's experiment
    client = MlflowClient(tracking_uri=ensembled["tracking_uri"])
    run = client.get_run(summary["run_id"])
    assert run.data.tags["hpo.role"] == "ensemble" and run.info.status == "FINISHED"
    assert run.data.metrics["n_members"] == len(summary["members"])


def test_the_ensemble_predicts_with_hpo_and_with_mlflow(ensembled: dict) -> None:
    import mlflow.pyfunc
    import pandas as pd
    from sklearn.datasets import load_digits

    from orchestrator.tracking._models import _fluent_tracking_uri

    root = ensembled["root"]
    images = load_digits().images[:12].reshape(12, 64)
    np.save(root / "digits.npy", images)
    invoke(
        root,
        *("predict", "--model", "models:/tiny-ensemble/1", "--input", "digits.npy"),
        *("--out", "p.csv", "--proba", "--tracking-uri", ensembled["tracking_uri"]),
    )
    table = pd.read_csv(root / "p.csv")
    with _fluent_tracking_uri(ensembled["tracking_uri"]):
        model = mlflow.pyfunc.load_model("models:/tiny-ensemble/1")
    frame = model.predict(images.astype(np.float32))
    # the same averaged probabilities either way
    columns = [f"proba_{i}" for i in range(10)]
    assert np.allclose(table[columns].to_numpy(), frame[columns].to_numpy(), atol=1e-5)
    assert table["digit"].astype(str).tolist() == frame["digit"].tolist()


def test_the_report_shows_the_ensemble(ensembled: dict) -> None:
    root = ensembled["root"]
    invoke(
        root, "report", "--study", "tiny", "--out", "r.html", "--no-mlflow", *ensembled["stores"]
    )
    section = (root / "r.html").read_text().split("<h2>Ensemble</h2>")[1].split("<h2>")[0]
    assert 'data-table="ensemble-members"' in section and 'data-table="ensemble-test"' in section


def test_cross_validation_averages_folds_and_keeps_out_of_fold_predictions(
    workdir: Path,
) -> None:
    from mlflow import MlflowClient

    from orchestrator.study import load_study

    write_space(workdir, "regression", extra=", cv: 3")
    out = invoke(workdir, "run", "--space", "regression.yaml", "--n-trials", "2")
    assert "2/2 trials finished" in out
    study = load_study("tiny-regression", storage="mlruns/optuna.journal")
    trial = study.trials[0]
    # the steps run on across folds: 3 folds x 4 epochs
    assert sorted(trial.intermediate_values) == list(range(1, 13))
    # the objective is the mean of the folds' best epochs, its spread logged beside it
    client = MlflowClient()
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.data.metrics["best_val_rmse"] == pytest.approx(trial.value)
    assert run.data.metrics["best_val_rmse_std"] > 0
    history = client.get_metric_history(run.info.run_id, "fold")
    assert sorted({m.value for m in history}) == [1.0, 2.0, 3.0]
    # out-of-fold predictions: one per train and validation row (160 rows, 20% test)
    path = client.download_artifacts(run.info.run_id, "oof_predictions.npy", str(workdir))
    kept = np.load(path)
    assert kept.dtype == np.float32 and kept.shape == (128,) and (kept != 0).all()
    # the ensemble is chosen on them
    built = invoke(workdir, "ensemble", "--study", "tiny-regression", "--no-register")
    assert "on the out-of-fold rows" in built
