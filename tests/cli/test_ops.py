"""orchestrator/cli/ops.py: `hpo worker` obeys the budget stored with the study. The tests that
take ``any_stores`` run on the journal file storage and on a PostgreSQL database of their own."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import run_cli, study_trials


def _worker(stores: dict[str, str], *extra: str) -> object:
    args = ["worker", "--study", "tiny", "--storage", stores["storage"]]
    return CliRunner().invoke(cli, [*args, "--tracking-uri", stores["tracking_uri"], *extra])


def test_workers_obey_the_budget_the_run_set(
    workdir: Path, tiny_space: Path, any_stores: dict[str, str]
) -> None:
    tiny_space.write_text(tiny_space.read_text().replace("n_trials: 2", "n_trials: 5"))
    first = run_cli(tiny_space, any_stores, "--n-trials", "2")
    assert first.exit_code == 0, first.output
    # a worker joining later obeys the run's budget of 2, not the space file's 5
    joined = _worker(any_stores)
    assert joined.exit_code == 0, joined.output
    assert "has reached its budget: 2/2 trials finished" in joined.output
    assert len(study_trials(any_stores["storage"], "tiny")) == 2
    # a worker given --n-trials sets the budget for every worker
    extended = _worker(any_stores, "--n-trials", "3")
    assert extended.exit_code == 0, extended.output
    assert len(study_trials(any_stores["storage"], "tiny")) == 3
    again = _worker(any_stores)
    assert "has reached its budget: 3/3 trials finished" in again.output
    # and a later run that lowers it is obeyed too: nothing more runs
    lowered = run_cli(tiny_space, any_stores, "--n-trials", "1")
    assert lowered.exit_code == 0, lowered.output
    assert len(study_trials(any_stores["storage"], "tiny")) == 3


def test_a_worker_of_a_missing_study_is_refused(workdir: Path, stores: dict[str, str]) -> None:
    result = _worker(stores)
    assert result.exit_code != 0
    assert "no study named 'tiny'" in result.output
    # nothing was created by asking
    assert not Path(stores["storage"]).exists()
