"""`hpo run` and `hpo validate`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from orchestrator.cli._errors import _exit_for, _sigterm_as_interrupt, handle_errors
from orchestrator.cli._options import (
    _load_space,
    _parse_until,
    run_options,
    space_options,
    study_option,
)
from orchestrator.cli._output import ProgressPrinter, _print_summary, _quiet_optuna


@click.command()
@space_options
@study_option
@run_options
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes on this machine (default 1; with GPUs: --jobs-per-device per GPU).",
)
@click.option(
    "--jobs-per-device",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trials packed onto each GPU.",
)
@click.option(
    "--allow-space-change",
    is_flag=True,
    help="Resume with a changed space: new parameters and wider ranges only.",
)
@click.option("--warm-start", metavar="STUDY", help="Queue the best configurations of STUDY first.")
@click.option(
    "--top", type=click.IntRange(min=1), default=5, show_default=True, help="With --warm-start."
)
@handle_errors
def run(
    space_path: str,
    overrides: tuple[str, ...],
    study_name: str | None,
    n_trials: int | None,
    timeout: float | None,
    until: str | None,
    trial_timeout: float | None,
    max_failures: int | None,
    device: str,
    threads: int | None,
    storage: str | None,
    tracking_uri: str | None,
    jobs: int | None,
    jobs_per_device: int,
    allow_space_change: bool,
    warm_start: str | None,
    top: int,
) -> None:
    """Run (or resume) a study: trials train PyTorch models and log to MLflow."""
    space = _load_space(space_path, overrides)
    deadline = _parse_until(until) if until else None
    name = study_name or space.name
    study = space.study
    objectives = ", ".join(
        f"{m} ({d})" for m, d in zip(study.metrics, study.directions, strict=True)
    )
    click.echo(
        f"Study '{name}': {objectives}, {n_trials or study.n_trials} trials, "
        f"sampler {study.sampler.name}, pruner {study.pruner.name}"
    )
    parallel = (jobs or 1) > 1 or jobs_per_device > 1
    # under --jobs this process is worker 0: its lines are labelled like the other workers'
    printer = ProgressPrinter(
        study.metrics, live=sys.stdout.isatty() and not parallel, label="w0" if parallel else None
    )
    _quiet_optuna()
    common: dict[str, Any] = {
        "study_name": study_name,
        "storage": storage,
        "tracking_uri": tracking_uri,
        "n_trials": n_trials,
        "timeout": timeout,
        "until": deadline,
        "trial_timeout": trial_timeout,
        "device": device,
        "progress": printer,
        "allow_space_change": allow_space_change,
        "warm_start_from": warm_start,
        "warm_start_top": top,
        "max_failures": max_failures,
    }
    with _sigterm_as_interrupt():
        if parallel:
            from orchestrator.study._parallel import run_parallel

            result = run_parallel(
                space, jobs=jobs, jobs_per_device=jobs_per_device, threads=threads, **common
            )
        else:
            from orchestrator.study import run_study

            if threads is None:
                threads = max(1, (os.cpu_count() or 2) // 2)
            result = run_study(space, threads=threads, **common)
    _print_summary(result)
    _exit_for(result)


@click.command()
@space_options
@handle_errors
def validate(space_path: str, overrides: tuple[str, ...]) -> None:
    """Check a search-space file and summarise its parameters."""
    from orchestrator.space import describe_space

    space = _load_space(space_path, overrides)
    click.echo(describe_space(space))
    click.echo(f"OK: {space_path} is valid.")
