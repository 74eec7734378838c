"""orchestrator/study/_setup.py: `hpo validate` runs every check `hpo run` runs before its first
trial, and nothing is written to either store until every check has passed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import run_cli, study_trials

SPACE = """\
study: {name: checked, n_trials: 1, seed: 0, sampler: random, pruner: none}
data: {name: digits}
model: {family: mlp, depth: 1}
train: {epochs: 1}
"""


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.name=digitz"], "unknown data set 'digitz'"),
        (
            ["study.pruner={name: median, n_warmup: 2}"],
            "unknown option 'n_warmup' for pruner 'median'; did you mean 'n_warmup_steps'?",
        ),
        (["data.path=x.csv"], "digits does not read it"),
        (
            ["data.val_fraction=0.6", "data.test_fraction=0.5"],
            "val_fraction + test_fraction must be < 1",
        ),
    ],
    ids=["data-set-name", "pruner-option", "setting-not-read", "fractions"],
)
def test_validate_refuses_what_run_refuses(
    workdir: Path, stores: dict[str, str], overrides: list[str], message: str
) -> None:
    space = workdir / "checked.yaml"
    space.write_text(SPACE)
    sets = [arg for override in overrides for arg in ("--set", override)]
    validate = CliRunner().invoke(cli, ["validate", "--space", str(space), *sets])
    run = run_cli(space, stores, *sets)
    # both refuse the file with exit 2 and the very same error lines
    assert validate.exit_code == 2, validate.output
    assert run.exit_code == 2, run.output
    assert _errors(validate.output) == _errors(run.output)
    assert message in _errors(run.output)[0]
    # the refused run wrote nothing: no Optuna store, no MLflow store
    assert not Path(stores["storage"]).exists()
    assert not (workdir / "mlflow.db").exists()


def test_a_refused_first_run_creates_no_study(workdir: Path, stores: dict[str, str]) -> None:
    space = workdir / "table.yaml"
    space.write_text(
        SPACE.replace("name: checked", "name: table").replace(
            "data: {name: digits}", "data: {name: csv, path: rows.csv, target: label}"
        )
    )
    missing = run_cli(space, stores)
    # the data file is missing: bad input, and neither store has been touched
    assert missing.exit_code == 2, missing.output
    assert "rows.csv" in _errors(missing.output)[0]
    assert not Path(stores["storage"]).exists()
    assert not (workdir / "mlflow.db").exists()
    # with the file in place, the same command runs: it is not refused as a changed space
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60)]
    (workdir / "rows.csv").write_text("\n".join(rows) + "\n")
    fixed = run_cli(space, stores)
    assert fixed.exit_code == 0, fixed.output
    assert [t.state.name for t in study_trials(stores["storage"], "table")] == ["COMPLETE"]


def test_a_warm_start_from_a_missing_study_touches_nothing(
    workdir: Path, stores: dict[str, str]
) -> None:
    space = workdir / "checked.yaml"
    space.write_text(SPACE)
    result = run_cli(space, stores, "--warm-start", "nowhere")
    # an input that does not exist is found before either store is written
    assert result.exit_code != 0
    assert "no study named 'nowhere'" in result.output
    assert not Path(stores["storage"]).exists()
    assert not (workdir / "mlflow.db").exists()
