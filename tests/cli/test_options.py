"""orchestrator/cli/_options.py: shared options."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest


def test_parse_until_is_the_next_occurrence() -> None:
    from orchestrator.cli._options import _parse_until

    now = dt.datetime(2026, 1, 1, 23, 0).timestamp()
    # a time later today is today; an earlier one is tomorrow
    assert _parse_until("23:30", now=now) == dt.datetime(2026, 1, 1, 23, 30).timestamp()
    assert _parse_until("06:00", now=now) == dt.datetime(2026, 1, 2, 6, 0).timestamp()
    assert _parse_until("23:00:30", now=now) == dt.datetime(2026, 1, 1, 23, 0, 30).timestamp()


def test_a_bad_device_names_where_it_came_from(
    tiny_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli

    flag = CliRunner().invoke(cli, ["validate", "--space", str(tiny_space), "--device", "tpu"])
    monkeypatch.setenv("HPO_DEVICE", "tpu")
    env = CliRunner().invoke(cli, ["validate", "--space", str(tiny_space)])
    # the option when it was given, the environment variable when that holds the value
    assert flag.exit_code == 2 and env.exit_code == 2
    assert flag.output.startswith("Error: --device: unknown device 'tpu'; valid forms: auto,")
    assert env.output.startswith("Error: HPO_DEVICE: unknown device 'tpu'; valid forms: auto,")


def test_study_names_complete_from_the_storage(
    tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli
    from tests.helpers import run_cli

    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    words = f"hpo best --storage {stores['storage']} --study t"
    env = {"_HPO_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "5"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="hpo")
    # bash gets the study names of that storage that start with what was typed
    assert result.output.strip().splitlines() == ["plain,tiny"]
