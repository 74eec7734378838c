"""orchestrator/cli/inspect.py: `hpo best`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import (
    mlflow_runs,
    run_cli,
)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_best_json(tiny_space: Path, stores: dict[str, str]) -> None:
    assert run_cli(tiny_space, stores).exit_code == 0
    result = _invoke("best", "--study", "tiny", "--json", "--storage", stores["storage"])
    info = json.loads(result.output)
    # number, value, params and the MLflow run id of the best trial
    assert info["number"] in (0, 1)
    assert 0.0 <= info["value"] <= 1.0
    assert "train.optimizer" in info["params"]
    run_ids = {r.info.run_id for r in mlflow_runs(stores["tracking_uri"], "tiny")}
    assert info["mlflow_run_id"] in run_ids
    studies = _invoke("studies", "--storage", stores["storage"])
    assert "tiny: 2 trials (2 complete)" in studies.output


def test_best_of_unknown_study(stores: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["best", "--study", "nope", "--storage", stores["storage"]])
    # bad input (issue 11: a study that does not exist is exit 2 everywhere, as the README says)
    assert result.exit_code == 2
    assert "no study named 'nope'" in result.output


def test_studies_and_best_take_the_tracking_uri(tiny_space: Path, stores: dict[str, str]) -> None:
    assert run_cli(tiny_space, stores).exit_code == 0
    tracking = ["--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"]]
    listed = _invoke("studies", *tracking)
    best = _invoke("best", "--study", "tiny", *tracking)
    shown = _invoke("best", "--study", "tiny", "--json", *tracking)
    # both accept it (as the README promises) and say where the runs are
    assert listed.exit_code == 0 and best.exit_code == 0, listed.output + best.output
    assert stores["tracking_uri"] in listed.output and stores["tracking_uri"] in best.output
    assert json.loads(shown.output)["mlflow_tracking_uri"] == stores["tracking_uri"]
