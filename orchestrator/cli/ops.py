"""`hpo worker` and `hpo repair`: running and mending studies shared by many processes."""

from __future__ import annotations

import os
import sys

import click

from orchestrator.cli._errors import _exit_for, _sigterm_as_interrupt, handle_errors
from orchestrator.cli._options import (
    DURATION,
    _parse_until,
    run_options,
    storage_option,
    tracking_option,
)
from orchestrator.cli._output import ProgressPrinter, _print_summary, _quiet_optuna


@click.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@run_options
@click.option("--label", hidden=True, help="Worker label for log lines (set by hpo run --jobs).")
@click.option("--managed", is_flag=True, hidden=True, help="Started by hpo run --jobs.")
@click.option("--until-epoch", type=float, hidden=True, help="Deadline as epoch seconds.")
@handle_errors
def worker(
    study_name: str,
    n_trials: int | None,
    timeout: float | None,
    until: str | None,
    trial_timeout: float | None,
    max_failures: int | None,
    device: str,
    threads: int | None,
    storage: str | None,
    tracking_uri: str | None,
    label: str | None,
    managed: bool,
    until_epoch: float | None,
) -> None:
    """Join an existing study from any machine and run its trials.

    Reads the search space stored with the study (no local file needed) and logs each trial
    under the study's parent run. Start as many as you like, on as many machines, against one
    PostgreSQL storage and one MLflow tracking server.
    """
    from orchestrator.study import load_study, run_study, stored_space

    _quiet_optuna()
    study = load_study(study_name, storage=storage)
    space = stored_space(study)
    deadline = until_epoch if until_epoch is not None else (_parse_until(until) if until else None)
    label = label or os.environ.get("HPO_WORKER_LABEL")
    printer = ProgressPrinter(
        space.study.metrics, live=sys.stdout.isatty() and not managed, label=label
    )
    if threads is None:
        threads = max(1, (os.cpu_count() or 2) // 2)
    with _sigterm_as_interrupt():
        result = run_study(
            space,
            study_name=study_name,
            storage=storage,
            tracking_uri=tracking_uri,
            n_trials=n_trials,
            timeout=timeout,
            until=deadline,
            trial_timeout=trial_timeout,
            device=device,
            threads=threads,
            progress=printer,
            max_failures=max_failures,
            parent_policy="never" if managed else "last",
        )
    if not managed:
        _print_summary(result)
    _exit_for(result)


@click.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option(
    "--grace",
    type=DURATION,
    default=None,
    help="Lease age after which a trial on another host is stale (default 90s).",
)
@storage_option
@tracking_option
@handle_errors
def repair(
    study_name: str, grace: float | None, storage: str | None, tracking_uri: str | None
) -> None:
    """Fail stale trials (queued again per the retry policy) and close runs left RUNNING."""
    from orchestrator.study import repair_study

    report = repair_study(study_name, storage=storage, tracking_uri=tracking_uri, grace=grace)
    for action in report.stale:
        again = "queued again" if action.requeued else "retry limit reached, not queued"
        click.echo(
            f"trial {action.trial}: stale ({action.reason}); failed, {again}; "
            f"MLflow run {action.mlflow_run_id or '-'} KILLED"
        )
    for run_id, number, status in report.runs_closed:
        click.echo(f"trial {number}: MLflow run {run_id} was RUNNING; set {status}")
    if not report.stale and not report.runs_closed:
        click.echo(f"Study '{study_name}': nothing to repair.")
