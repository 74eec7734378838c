"""Helpers shared by the tests that read studies and MLflow runs back."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from orchestrator.cli import cli


def run_cli(space: Path, stores: dict[str, str], *extra: str) -> Result:
    """`hpo run --space SPACE` against the test's own storage and tracking store."""
    args = ["run", "--space", str(space), "--storage", stores["storage"]]
    return CliRunner().invoke(cli, [*args, "--tracking-uri", stores["tracking_uri"], *extra])


def study_trials(storage: str, name: str) -> list:
    """Every trial of a study, read from its storage."""
    from orchestrator.study import load_study

    return load_study(name, storage=storage).get_trials(deepcopy=False)


def mlflow_runs(tracking_uri: str, experiment: str) -> list:
    """Every run of an experiment (parent and trials); empty if there is no such experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []
