"""orchestrator/study/_preflight.py: a failure every trial would meet is found before the first
trial, in one line, by hpo validate and hpo run alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli

FACTORY = """
from torch import nn


def wrong_width(params, spec):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))  # digits have 10 classes


def raises(params, spec):
    raise RuntimeError("my factory is broken")


def fine(params, spec):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, spec.n_outputs))
"""

SPACE = """\
study: {{name: probe, n_trials: 2, seed: 0, sampler: random, pruner: none}}
data: {{name: digits}}
model: {{family: custom, factory: "probe_models_{suffix}:{factory}",
        params: {{width: {{type: int, low: 4, high: 8}}}}}}
train: {{epochs: 1}}
"""


def _space(workdir: Path, factory: str) -> Path:
    suffix = workdir.name.replace("-", "_")
    (workdir / f"probe_models_{suffix}.py").write_text(FACTORY)
    path = workdir / "probe.yaml"
    path.write_text(SPACE.format(suffix=suffix, factory=factory))
    return path


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("wrong_width", "its output has shape (4, 5); expected (4, 10): one logit per class"),
        ("raises", "RuntimeError: my factory is broken"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_model_no_trial_can_train_is_refused_before_any_trial(
    workdir: Path, factory: str, message: str, command: str
) -> None:
    space = _space(workdir, factory)
    result = CliRunner().invoke(cli, [command, "--space", str(space)])
    # one line, exit 2, naming the file, the configuration tried and what failed
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(
        f"Error: {space}: a configuration of this space fails on the data before any trial "
        "(model.params.width="
    )
    assert message in line
    # and nothing was written to either store
    assert not (workdir / "mlruns" / "optuna.journal").exists()
    assert not (workdir / "mlflow.db").exists()


def test_a_model_that_fits_passes_the_probe(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "--space", str(_space(workdir, "fine"))])
    assert result.exit_code == 0, result.output


def test_a_space_whose_every_configuration_is_impossible_is_refused(workdir: Path) -> None:
    # four poolings of an 8x8 image: no trial could train, so none is started
    space = workdir / "bad.yaml"
    space.write_text(
        "study: {name: bad, n_trials: 2, sampler: random, pruner: none}\n"
        "model: {family: cnn, depth: 4, blocks: {channels: 4, pool: max}}\n"
        "train: {epochs: 1}\n"
    )
    result = CliRunner().invoke(cli, ["run", "--space", str(space)])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert "fails on the data before any trial" in line and "pool" in line
