"""`hpo worker` and `hpo repair`: running and mending studies shared by many processes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cli._errors import (
    exit_for,
    handle_errors,
    reporting_errors,
    stop_message,
    stopping_on_signals,
)
from orchestrator.cli._options import (
    DURATION,
    required_study_option,
    run_options,
    storage_option,
    tracking_option,
)
from orchestrator.cli._output import (
    ProgressPrinter,
    _configure_logging,
    _print_summary,
    _quiet_optuna,
    print_budget_reached,
)
from orchestrator.startup import gc_paused_at_start

if TYPE_CHECKING:
    from orchestrator.study import RunSpec


@click.command()
@required_study_option
@run_options
@handle_errors
@gc_paused_at_start  # until the run is set up (orchestrator.startup)
def worker(study_name: str, spec: RunSpec) -> None:
    """Join an existing study from any machine and run its trials.

    Reads the search space stored with the study (no local file needed) and logs each trial
    under the study's parent run. Start as many as you like, on as many machines, against one
    PostgreSQL storage and one MLflow tracking server. The budget is the one stored with the
    study (the last `hpo run --n-trials`); --n-trials here sets it for every worker.
    --timeout and --until limit this process only.
    """
    from orchestrator.study import StopRequest, load_study, reached_budget, run_spec, stored_space

    _quiet_optuna()
    space = stored_space(load_study(study_name, storage=spec.store))
    reached = reached_budget(spec.store, study_name, n_trials=spec.n_trials)
    if reached is not None:  # nothing to do: said at once, no set-up
        print_budget_reached(study_name, *reached, command=f"hpo worker --study {study_name}")
        return
    label = os.environ.get("HPO_WORKER_LABEL")
    spec = spec.replace(study_name=study_name, parent_policy="last", label=label)
    printer = ProgressPrinter(space.study.metrics, live=sys.stdout.isatty(), label=spec.label)
    stop = StopRequest()
    with stopping_on_signals(stop):
        result = run_spec(space, spec, progress=printer, stop=stop)
    _print_summary(result)
    exit_for(result)


@gc_paused_at_start
def managed_worker(spec: RunSpec) -> None:
    """The body of each other worker process of `hpo run --jobs` (sent to it by reference): the
    study's trials with labelled progress lines; errors in one line each; its interrupt is said
    once, by the coordinator. Exits 1 when its circuit breaker trips."""
    from orchestrator.study import StopRequest, load_study, run_spec, stored_space

    if spec.label:  # its log lines carry its label, as its progress lines do
        os.environ["HPO_WORKER_LABEL"] = spec.label
    _configure_logging(debug=False)
    _quiet_optuna()
    stop = StopRequest()
    with reporting_errors(debug=False, quiet_stop=True), stopping_on_signals(stop):
        space = stored_space(load_study(spec.study_name, storage=spec.store))
        printer = ProgressPrinter(space.study.metrics, live=False, label=spec.label)
        result = run_spec(space, spec, progress=printer, stop=stop)
        message = stop_message(result)
        if message is not None:
            click.echo(f"Error: [{spec.label}] {message}", err=True)
            sys.exit(1)


@click.command()
@required_study_option
@click.option(
    "--grace",
    type=DURATION,
    default=None,
    help="Lease age after which a trial on another host is stale (default 90s).",
)
@storage_option
@tracking_option
@handle_errors
def repair(study_name: str, grace: float | None, storage: Any, tracking_uri: str | None) -> None:
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
    if report.parent_closed is not None:
        run_id, status = report.parent_closed
        click.echo(f"the study's MLflow parent run {run_id} was RUNNING; set {status}")
    if not report.stale and not report.runs_closed and report.parent_closed is None:
        click.echo(f"Study '{study_name}': nothing to repair.")
