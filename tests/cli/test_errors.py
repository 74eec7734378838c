"""orchestrator/cli/_errors.py: the one place errors reach the user. A study that does not exist
is bad input (exit 2) for every command that reads one, and output cut short by its reader ends
quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import mlflow_runs, run_cli


@pytest.mark.parametrize(
    "command",
    [
        ["best", "--study", "nowhere"],
        ["leaderboard", "--study", "nowhere"],
        ["report", "--study", "nowhere"],
        ["retrain", "--study", "nowhere"],
        ["worker", "--study", "nowhere"],
        ["repair", "--study", "nowhere"],
    ],
    ids=lambda c: c[0],
)
def test_a_missing_study_is_bad_input_everywhere(
    tiny_space: Path, stores: dict[str, str], command: list[str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    result = CliRunner().invoke(
        cli, [*command, "--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"]]
    )
    # exit 2, and the one line is all it says (retrain announces nothing first)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: no study named 'nowhere' in {stores['storage']} (studies: tiny); check --study "
        "and --storage"
    ]


def test_a_warm_start_from_a_missing_study_leaves_the_parent_run_as_it_was(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    result = run_cli(tiny_space, stores, "--n-trials", "2", "--warm-start", "nowhere")
    # bad input, found before either store is touched: the finished study stays finished
    assert result.exit_code == 2, result.output
    parents = [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.data.tags["hpo.role"] == "study"
    ]
    assert [r.info.status for r in parents] == ["FINISHED"]


def test_output_cut_short_by_its_reader_ends_quietly(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    hpo = f"{sys.executable} -m orchestrator"
    # `true` exits at once: its end of the pipe is closed before hpo writes a byte
    script = (
        f"set -o pipefail; {hpo} best --study tiny --storage {stores['storage']} | true && "
        f"{hpo} leaderboard --study tiny --storage {stores['storage']} "
        f"--tracking-uri {stores['tracking_uri']} --format csv | true"
    )
    out = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
    )
    # exit 0 from hpo (pipefail), and nothing on stderr: no traceback, no "Exception ignored"
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_log_lines_have_the_form_of_hpos_own_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import re

    from orchestrator.cli._output import _HpoFormat

    record = logging.LogRecord(
        "orchestrator.data._table", logging.WARNING, __file__, 1, "column %r left out", ("id",),
        None,
    )  # fmt: skip
    monkeypatch.delenv("HPO_WORKER_LABEL", raising=False)
    # a timestamp to the second, the level in lower case, the message: as progress lines are
    line = _HpoFormat(debug=False).format(record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d warning: column 'id' left out", line)
    # a worker's lines carry its label; --debug adds the module
    monkeypatch.setenv("HPO_WORKER_LABEL", "w1")
    assert " [w1] warning: " in _HpoFormat(debug=False).format(record)
    assert "warning orchestrator.data._table: " in _HpoFormat(debug=True).format(record)


def test_hpo_ui_starts_mlflow_without_its_deprecation_notices() -> None:
    from orchestrator.dashboards import mlflow_server_command

    _, env = mlflow_server_command(
        host="127.0.0.1", port=5000, tracking_uri=None, hosts=["127.0.0.1:5000"]
    )
    assert "ignore::DeprecationWarning" in env["PYTHONWARNINGS"]
    assert "ignore::FutureWarning" in env["PYTHONWARNINGS"]
