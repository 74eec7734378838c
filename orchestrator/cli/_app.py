"""The `hpo` command group."""

from __future__ import annotations

import sys

import click

from orchestrator.cli._errors import HpoGroup, quiet_stdout
from orchestrator.cli._output import _configure_logging
from orchestrator.cli.compete import ensemble, refine
from orchestrator.cli.explain import explain
from orchestrator.cli.inspect import best, leaderboard, studies
from orchestrator.cli.ops import repair, worker
from orchestrator.cli.proxy import storage_proxy
from orchestrator.cli.run import run, validate
from orchestrator.cli.serve import dashboard, ui
from orchestrator.cli.ship import predict, report, retrain
from orchestrator.cli.submit import submit
from orchestrator.version import __version__


@click.group(cls=HpoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hpo")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """hpo: find the best PyTorch network for your data with Optuna, and see why in MLflow."""
    _configure_logging(debug)


for command in (
    run,
    validate,
    worker,
    submit,
    repair,
    studies,
    best,
    leaderboard,
    report,
    retrain,
    ensemble,
    refine,
    explain,
    predict,
    ui,
    dashboard,
    storage_proxy,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point. Output cut short by its reader (``hpo best | head -1``) ends
    quietly with exit 0."""
    code: int | str | None = 0
    try:
        cli(prog_name="hpo")
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
        code = 0
    sys.exit(code)
