"""orchestrator/retrain/_seeds.py and _ship.py: the MLflow runs of a retraining, the registry.

Reads the session's `hpo retrain --seeds 3` of the real tiny study (conftest: retrained).
"""

from __future__ import annotations

import json
from pathlib import Path


def test_retrain_runs_and_registered_model(retrained: dict[str, str], tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=retrained["tracking_uri"])
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    configs = [r for r in runs if r.data.tags.get("hpo.role") == "retrain"]
    seeds = [r for r in runs if r.data.tags.get("hpo.role") == "retrain_seed"]
    # a run per configuration, with the spread; a nested run per seed, with its test metrics
    assert len(configs) == 1 and len(seeds) == 3
    parent = configs[0]
    assert parent.info.status == "FINISHED"
    assert {"test_accuracy_mean", "test_accuracy_std", "test_f1_mean"} <= set(parent.data.metrics)
    for run in seeds:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0
        assert "test_f1_class_7" in run.data.metrics
    evaluation = json.loads(
        Path(
            client.download_artifacts(seeds[0].info.run_id, "test_evaluation.json", tmp_path)
        ).read_text()
    )
    matrix = evaluation["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 270  # the digits test split

    # registered under the study's name, from one of the seed runs, described and tagged
    version = client.get_model_version("tiny", "1")
    assert version.run_id in {r.info.run_id for r in seeds}
    assert version.tags["hpo.trial"] == parent.data.tags["hpo.trial"]
    assert "+-" in version.description
    # the preprocessing is stored beside the model, and inside its folder
    files = {a.path for a in client.list_artifacts(version.run_id)}
    assert "preprocessing.json" in files
    from orchestrator.tracking import download_model

    folder = download_model(
        "models:/tiny/1", tmp_path / "model", tracking_uri=retrained["tracking_uri"]
    )
    record = json.loads(next(folder.rglob("bundle.json")).read_text())
    assert record["members"][0]["spec"]["class_names"] == [str(i) for i in range(10)]
    assert record["preprocessing"]["input_shape"] == [1, 8, 8]
    assert record["record"]["task"] == "multiclass"
    # pinned requirements, so logging does not infer them; hpo's code travels with the model
    requirements = (folder / "requirements.txt").read_text()
    assert "torch==" in requirements and "mlflow==" in requirements
    assert (folder / "code" / "orchestrator" / "shipped.py").is_file()


def test_the_registered_model_is_an_mlflow_pyfunc_model(retrained: dict[str, str]) -> None:
    import mlflow.pyfunc
    import numpy as np
    from sklearn.datasets import load_digits

    from orchestrator.tracking._models import _fluent_tracking_uri

    # loaded by MLflow alone, it predicts raw pixels (0-16) in the task's terms
    with _fluent_tracking_uri(retrained["tracking_uri"]):
        model = mlflow.pyfunc.load_model("models:/tiny/1")
    images = load_digits().images[:6].reshape(6, 64).astype(np.float32)
    table = model.predict(images)
    assert list(table.columns) == ["digit", *(f"proba_{i}" for i in range(10))]
    assert np.allclose(table[[f"proba_{i}" for i in range(10)]].sum(axis=1), 1.0, atol=1e-6)
    # its signature names the columns it returns
    outputs = [c.name for c in model.metadata.signature.outputs.inputs]
    assert outputs[:2] == ["digit", "proba_0"]
