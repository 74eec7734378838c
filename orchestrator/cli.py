"""The ``hpo`` command line: a thin Click layer over :mod:`orchestrator.study`.

The only module that prints or sets exit codes. Exit codes: 0 success; 1 a runtime failure
(including a run stopped by repeated trial failures); 2 bad input (a space file, data, an option);
130 interrupted by Ctrl-C; 143 stopped by SIGTERM. Every study survives all of them and resumes
with the same command.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from orchestrator import __version__
from orchestrator.errors import HpoError, SpaceError

EXIT_INTERRUPT = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so a run ends exactly as with Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


# --- shared options ----------------------------------------------------------------------------


class DurationType(click.ParamType):
    """A duration option: 90s, 30m, 8h, 1h30m or plain seconds; converted to seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from orchestrator.config import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()

storage_option = click.option(
    "--storage",
    envvar="HPO_STORAGE",
    default=None,
    metavar="URL",
    help="Optuna storage: a journal file path or a database URL (postgresql://...). "
    "Default: mlruns/optuna.journal. Env: HPO_STORAGE.",
)
tracking_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    metavar="URI",
    help="MLflow tracking URI. Default: MLflow's own (sqlite:///mlflow.db here). "
    "Env: MLFLOW_TRACKING_URI.",
)
study_option = click.option("--study", "study_name", metavar="NAME", help="Study name.")


def _debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one line each and an exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from orchestrator.redact import redact_text

        try:
            return func(*args, **kwargs)
        except SpaceError as exc:
            if _debug_enabled():
                raise
            for problem in exc.problems:
                click.echo(f"Error: {problem.format(exc.source)}", err=True)
            sys.exit(exc.exit_code)
        except HpoError as exc:
            if _debug_enabled():
                raise
            click.echo(f"Error: {redact_text(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except Terminated:
            click.echo(
                "\nStopped by SIGTERM; the study is saved: run the same command to resume.",
                err=True,
            )
            sys.exit(EXIT_TERMINATED)
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted; the study is saved: run the same command to resume.", err=True
            )
            sys.exit(EXIT_INTERRUPT)

    return wrapper


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "mlflow", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    if not debug:
        import warnings

        warnings.filterwarnings("ignore", module="mlflow")
        warnings.filterwarnings("ignore", category=FutureWarning)


def _load_space(path: str, overrides: tuple[str, ...]) -> Any:
    from orchestrator.space import load_space

    return load_space(path, overrides=overrides)


# --- progress ----------------------------------------------------------------------------------


def _fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _fmt_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class ProgressPrinter:
    """A live line per running trial on a terminal; one plain line per finished trial otherwise."""

    def __init__(self, metric: str, *, live: bool) -> None:
        self.metric = metric
        self.live = live
        self._line_open = False

    def __call__(self, event: object) -> None:
        from orchestrator.study import EpochEvent, TrialEvent

        if isinstance(event, EpochEvent) and self.live:
            value = event.metrics.get(self.metric)
            text = (
                f"  trial {event.number:>4}  epoch {event.epoch}/{event.epochs}  "
                f"{self.metric}={_fmt_value(value)}  loss={event.metrics.get('train_loss', 0):.4f}"
            )
            click.echo("\r\033[2K" + text, nl=False)
            self._line_open = True
        elif isinstance(event, TrialEvent):
            if self._line_open:
                click.echo("\r\033[2K", nl=False)
                self._line_open = False
            stamp = "" if self.live else time.strftime("%Y-%m-%d %H:%M:%S ")
            detail = f"{self.metric}={_fmt_value(event.value)}"
            if event.state != "COMPLETE" and event.reason:
                detail = event.reason if event.state == "FAIL" else f"{detail} ({event.reason})"
            best = (
                f"best={_fmt_value(event.best_value)} (#{event.best_number})"
                if event.best_number is not None
                else "best=-"
            )
            click.echo(
                f"{stamp}trial {event.number:>4}  {event.state:<8}  {detail}  {best}  "
                f"{_fmt_seconds(event.seconds)}  [{event.finished}/{event.n_trials}]"
            )


# --- commands ----------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hpo")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """hpo: find the best PyTorch network for your data with Optuna, and see why in MLflow."""
    _configure_logging(debug)


@cli.command()
@click.option(
    "--space",
    "space_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Search-space YAML file.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value of the space, e.g. --set train.epochs=2 (repeatable).",
)
@study_option
@click.option(
    "--n-trials", type=click.IntRange(min=1), help="The study's total of finished trials."
)
@click.option("--timeout", type=DURATION, help="Start no new trial after this long: 90s, 30m, 8h.")
@click.option(
    "--device",
    envvar="HPO_DEVICE",
    default="auto",
    show_default=True,
    help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps. Env: HPO_DEVICE.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for training. Default: half the cores (1 on a 2-core machine).",
)
@storage_option
@tracking_option
@handle_errors
def run(
    space_path: str,
    overrides: tuple[str, ...],
    study_name: str | None,
    n_trials: int | None,
    timeout: float | None,
    device: str,
    threads: int | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Run (or resume) a study: trials train PyTorch models and log to MLflow."""
    from orchestrator.study import run_study

    space = _load_space(space_path, overrides)
    if threads is None:
        threads = max(1, (os.cpu_count() or 2) // 2)
    printer = ProgressPrinter(space.study.metric, live=sys.stdout.isatty())
    name = study_name or space.name
    click.echo(
        f"Study '{name}': {space.study.metric} ({space.study.resolved_direction}), "
        f"{n_trials or space.study.n_trials} trials, sampler {space.study.sampler.name}, "
        f"pruner {space.study.pruner.name}"
    )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = run_study(
            space,
            study_name=study_name,
            storage=storage,
            tracking_uri=tracking_uri,
            n_trials=n_trials,
            timeout=timeout,
            device=device,
            threads=threads,
            progress=printer,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_summary(result, space.study.metric)
    if result.stopped_by == "failures":
        raise click.ClickException(
            "stopped: the last trials all failed (see the reasons above); fix the space and "
            "run the same command to resume"
        )


def _print_summary(result: Any, metric: str) -> None:
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.states.items())) or "none run"
    click.echo(
        f"\nStudy '{result.study_name}': {result.finished}/{result.n_trials} trials finished "
        f"({result.ran} run now: {states}) in {_fmt_seconds(result.seconds)}; "
        f"stopped by {result.stopped_by}."
    )
    if result.best_number is not None:
        click.echo(f"Best trial #{result.best_number}: {metric}={_fmt_value(result.best_value)}")
        for key, value in result.best_params.items():
            click.echo(f"  {key} = {value}")
    if result.test_metrics:
        shown = "  ".join(
            f"{k.removeprefix('test_')}={v:.4f}"
            for k, v in result.test_metrics.items()
            if k != "test_loss"
        )
        click.echo(f"Test split (trial #{result.best_number}): {shown}")
    click.echo(f"Optuna storage: {result.storage}")
    click.echo(
        f"MLflow: {result.tracking_uri}, parent run {result.parent_run_id}; open with: hpo ui"
    )


@cli.command()
@click.option(
    "--space",
    "space_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Search-space YAML file.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value.")
@handle_errors
def validate(space_path: str, overrides: tuple[str, ...]) -> None:
    """Check a search-space file and summarise its parameters."""
    from orchestrator.space import describe_space

    space = _load_space(space_path, overrides)
    click.echo(describe_space(space))
    click.echo(f"OK: {space_path} is valid.")


@cli.command()
@storage_option
@handle_errors
def studies(storage: str | None) -> None:
    """List the studies in a storage: trials by state and the best value."""
    from orchestrator.study import describe_storage, list_studies

    infos = list_studies(storage=storage)
    if not infos:
        click.echo(f"No studies in {describe_storage(storage)}.")
        return
    for info in infos:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info.states.items()))
        best = (
            f"best {info.metric or 'value'}={_fmt_value(info.best_value)} (#{info.best_number})"
            if info.best_number is not None
            else "no completed trial"
        )
        click.echo(f"{info.name}: {sum(info.states.values())} trials ({states}); {best}")


@cli.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@storage_option
@handle_errors
def best(study_name: str, as_json: bool, storage: str | None) -> None:
    """Show the best trial of a study: number, value, params and MLflow run id."""
    from orchestrator.study import get_best

    info = get_best(study_name, storage=storage)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"Study '{info['study']}': best trial #{info['number']}")
    click.echo(f"  {info['metric'] or 'value'} = {_fmt_value(info['value'])}")
    for key, value in info["params"].items():
        click.echo(f"  {key} = {value}")
    click.echo(f"  seed = {info['seed']}")
    click.echo(f"  MLflow run: {info['mlflow_run_id']}")
    if info.get("test_metrics"):
        shown = "  ".join(
            f"{k}={v:.4f}"
            for k, v in info["test_metrics"].items()
            if k not in ("trial", "test_loss")
        )
        click.echo(f"  test: {shown}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
@tracking_option
@handle_errors
def ui(host: str, port: int, tracking_uri: str | None) -> None:
    """Open the MLflow UI over the same tracking store as `hpo run`."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: binding to {host} exposes the MLflow UI to the network.", err=True)
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port)]
    if tracking_uri:
        command += ["--backend-store-uri", tracking_uri]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    click.echo(f"MLflow UI on http://{host}:{port} (Ctrl-C to stop)")
    if shutil.which(sys.executable) is None:  # pragma: no cover - a broken interpreter path
        raise click.ClickException("cannot find the Python interpreter to start MLflow")
    raise SystemExit(subprocess.call(command, env=env))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hpo")


__all__ = ["cli", "main"]
