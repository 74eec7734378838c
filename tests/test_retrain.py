"""orchestrator/retrain.py and `hpo retrain`: seeds, test metrics with their spread, the registry.

The end-to-end checks read the session's `hpo retrain --seeds 3` of the real tiny study
(conftest: retrained); the arithmetic is checked on hand-made evaluations.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli


def _evaluation(accuracy: float, f1_first: float, matrix: list[list[int]]) -> dict:
    return {
        "loss": 1 - accuracy,
        "accuracy": accuracy,
        "precision": accuracy,
        "recall": accuracy,
        "f1": accuracy,
        "per_class_precision": [f1_first, 1.0],
        "per_class_recall": [f1_first, 1.0],
        "per_class_f1": [f1_first, 1.0],
        "confusion_matrix": matrix,
    }


def test_summarize_gives_mean_std_and_summed_matrix() -> None:
    from orchestrator.retrain import summarize

    summary = summarize(
        [_evaluation(0.9, 0.8, [[4, 1], [0, 5]]), _evaluation(0.8, 0.6, [[3, 2], [0, 5]])]
    )
    # mean and sample standard deviation over the two seeds
    assert summary["n"] == 2
    assert summary["mean"]["test_accuracy"] == pytest.approx(0.85)
    assert summary["std"]["test_accuracy"] == pytest.approx(math.sqrt(0.005))
    # per class, each class on its own
    assert summary["per_class"]["f1"]["mean"] == pytest.approx([0.7, 1.0])
    assert summary["per_class"]["f1"]["std"] == pytest.approx([math.sqrt(0.02), 0.0])
    # the confusion matrices add up (rows: true class)
    assert summary["confusion_matrix"] == [[7, 3], [0, 10]]
    # one seed: no spread, not NaN
    assert summarize([_evaluation(0.9, 0.8, [[1]])])["std"]["test_accuracy"] == 0.0


def test_retrain_seeds_start_with_the_trials_own() -> None:
    from orchestrator.retrain import retrain_seeds

    assert retrain_seeds(23774, 3) == [23774, 23775, 23776]


def test_retrain_reports_test_metrics_over_seeds(retrained: dict[str, str]) -> None:
    from orchestrator.study import load_study

    out = retrained["output"]
    # a line per seed, then every metric as mean +- std, per class, and the confusion matrix
    assert "[1/3] trial #" in out and "[3/3] trial #" in out
    for label in ("accuracy", "precision (macro)", "recall (macro)", "f1 (macro)"):
        assert f"  {label}" in out
    assert out.count(" +- ") >= 4 + 3 * 10  # 4 macro lines, 3 per class for 10 classes
    assert "confusion matrix, summed over seeds" in out
    assert "Registered models:/tiny/1" in out
    # the study remembers it: three seeds starting at the best trial's own, with a spread
    study = load_study("tiny", storage=retrained["storage"])
    summary = study.user_attrs["hpo.retrain"]
    config = summary["configs"][0]
    best = study.best_trial
    assert config["trial"] == best.number and config["rank"] == 1
    assert config["seeds"] == [best.user_attrs["seed"] + i for i in range(3)]
    assert all(0.0 <= config["mean"][f"test_{k}"] <= 1.0 for k in ("accuracy", "f1"))
    assert config["std"]["test_loss"] > 0  # different seeds give different models
    assert summary["model"]["model_uri"] == "models:/tiny/1"


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
    record = json.loads((folder / "extra_files" / "preprocessing.json").read_text())
    assert record["spec"]["class_names"] == [str(i) for i in range(10)]
    assert record["preprocessing"]["input_shape"] == [1, 8, 8]
    # pinned requirements, so logging does not infer them
    requirements = (folder / "requirements.txt").read_text()
    assert "torch==" in requirements and "mlflow==" in requirements


def test_retrain_of_unknown_study(stores: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["retrain", "--study", "nope", "--storage", stores["storage"]])
    assert result.exit_code == 1
    assert "Error: no study named 'nope'" in result.output


def test_retrain_needs_a_completed_trial(stores: dict[str, str]) -> None:
    import optuna

    from orchestrator.study import open_storage

    study = optuna.create_study(study_name="failed", storage=open_storage(stores["storage"]))
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    result = CliRunner().invoke(
        cli, ["retrain", "--study", "failed", "--storage", stores["storage"]]
    )
    assert result.exit_code == 1
    assert "has no completed trial with a stored configuration" in result.output
