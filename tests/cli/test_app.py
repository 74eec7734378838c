"""orchestrator/cli: every command has help text."""

from __future__ import annotations

from click.testing import CliRunner

from orchestrator.cli import cli


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help() -> None:
    # each command documents itself (its docstring is its help text)
    for name, command in cli.commands.items():
        assert command.help, f"hpo {name} has no help"
        result = _invoke(name, "--help")
        assert result.exit_code == 0
