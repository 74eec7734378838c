"""`hpo run` and `hpo validate`."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

import click

from orchestrator.cli._errors import exit_for, handle_errors, stopping_on_signals
from orchestrator.cli._options import (
    _load_space,
    device_option,
    run_options,
    space_options,
    study_option,
)
from orchestrator.cli._output import (
    ProgressPrinter,
    _print_summary,
    _quiet_optuna,
    print_budget_reached,
)
from orchestrator.startup import gc_paused_at_start

if TYPE_CHECKING:
    from orchestrator.study import RunSpec


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
@click.option(
    "--ensemble",
    "make_ensemble",
    is_flag=True,
    help="When the study reaches its budget, build the ensemble of its best 10 trials "
    "(as hpo ensemble does) and register it.",
)
@handle_errors
@gc_paused_at_start  # until the run is set up: its imports and stores (orchestrator.startup)
def run(
    space_path: str,
    overrides: tuple[str, ...],
    study_name: str | None,
    spec: RunSpec,
    jobs: int | None,
    jobs_per_device: int,
    allow_space_change: bool,
    warm_start: str | None,
    top: int,
    make_ensemble: bool,
) -> None:
    """Run (or resume) a study: trials train PyTorch models and log to MLflow.

    --n-trials is the study's total, stored with it: every worker of the study obeys the
    budget the last run set. --timeout and --until limit this process (and its --jobs workers).
    """
    from orchestrator.study import (
        NoticeEvent,
        StageEvent,
        StopRequest,
        check_stored,
        preflight,
        reached_budget,
        run_parallel,
        run_spec,
    )

    space = _load_space(space_path, overrides)
    parallel = (jobs or 1) > 1 or jobs_per_device > 1
    spec = spec.replace(
        study_name=study_name or space.name,
        n_trials=spec.n_trials or space.study.n_trials,
        allow_space_change=allow_space_change,
        warm_start_from=warm_start,
        warm_start_top=top,
    )
    _quiet_optuna()
    reached = reached_budget(spec.store, spec.study_name, n_trials=spec.n_trials)
    if reached is not None and not warm_start:  # nothing to do: said at once, no set-up
        # but a changed space is still said, as a resume would say it
        check_stored(spec.store, spec.study_name, space, allow_space_change=allow_space_change)
        words = ["hpo", "run", "--space", space_path]
        words += [w for o in overrides for w in ("--set", o)]
        if study_name:
            words += ["--study", study_name]
        print_budget_reached(spec.study_name, *reached, command=shlex.join(words))
        return
    # under --jobs this process is worker 0: its lines are labelled like the other workers'
    printer = ProgressPrinter(
        [], live=sys.stdout.isatty() and not parallel, label="w0" if parallel else None
    )
    # every check before anything is written; the objectives follow from the data's task
    printer(StageEvent("checking the space: device, sampler, pruner; loading the data"))
    checked = preflight(space, device=spec.device, tracking_uri=spec.tracking_uri)
    study = checked.space.study
    printer.use(study.metrics)
    if checked.note:
        printer(NoticeEvent(checked.note))
    objectives = ", ".join(
        f"{m} ({d})" for m, d in zip(study.metrics, study.directions, strict=True)
    )
    pruner = study.pruner.name if not study.is_multi_objective else "off (multi-objective)"
    click.echo(
        f"Study '{spec.study_name}' ({_task_title(checked)}): {objectives}, {spec.n_trials} "
        f"trials, sampler {study.sampler.name}, pruner {pruner}"
    )
    stop = StopRequest()
    with stopping_on_signals(stop):
        if parallel:
            from orchestrator.cli.ops import managed_worker

            result = run_parallel(
                space,
                spec,
                jobs=jobs,
                jobs_per_device=jobs_per_device,
                progress=printer,
                stop=stop,
                worker_main=managed_worker,
                checked=checked,
            )
        else:
            result = run_spec(space, spec, progress=printer, stop=stop, checked=checked)
    _print_summary(result)
    if make_ensemble and result.stopped_by == "budget" and result.best_number is not None:
        from orchestrator.cli.compete import print_ensemble
        from orchestrator.ensemble import build_ensemble

        click.echo("\nBuilding the ensemble of the best 10 trials.")
        built = build_ensemble(
            spec.study_name,
            storage=spec.store,
            tracking_uri=spec.tracking_uri,
            device=str(checked.device),
        )
        print_ensemble(built)
    exit_for(result)


@click.command()
@space_options
@device_option
@handle_errors
@gc_paused_at_start  # the checks import what a run imports
def validate(space_path: str, overrides: tuple[str, ...], device: str) -> None:
    """Check a search-space file as `hpo run` does before its first trial, and summarise it.

    Runs every check of `hpo run` (the device, the sampler and pruner built, the data loaded and
    the model family and augmentation checked against it) and writes nothing anywhere.
    """
    from orchestrator.space import describe_space
    from orchestrator.study import preflight

    space = _load_space(space_path, overrides)
    _quiet_optuna()
    checked = preflight(space, device=device)
    click.echo(describe_space(checked.space, task=_task_title(checked), note=checked.note))
    click.echo(f"OK: {space_path} is valid.")


def _task_title(checked: object) -> str:
    """What the study's models predict, in words: ``regression``."""
    from orchestrator.tasks import get_task

    name = getattr(checked, "task", None)
    return get_task(name).title if name else "task unknown until the data is read"
