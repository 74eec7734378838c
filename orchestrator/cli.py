"""The ``hpo`` command line: a thin Click layer over :mod:`orchestrator.study`.

The only module that prints or sets exit codes. Exit codes: 0 success; 1 a runtime failure
(including a run stopped by repeated trial failures); 2 bad input (a space file, data, an option);
130 interrupted by Ctrl-C; 143 stopped by SIGTERM. Every study survives all of them and resumes
with the same command.
"""

from __future__ import annotations

import contextlib
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
from orchestrator.names import REPORT_FORMATS, TRIAL_STATES

EXIT_INTERRUPT = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so a run ends exactly as with Ctrl-C."""


def _on_stop_signal(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: stop the run cleanly, once; later signals must not break the cleanup."""
    from orchestrator.study import STOP_REQUESTS

    exc_type = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    if STOP_REQUESTS.request(exc_type):
        raise exc_type()


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


def _managed_worker() -> bool:
    """True in a worker that ``hpo run --jobs`` started (``hpo worker --managed``)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.params.get("managed"))


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
            if not _managed_worker():  # hpo run --jobs says it once for all its workers
                click.echo(
                    "\nStopped by SIGTERM; the study is saved: run the same command to resume.",
                    err=True,
                )
            sys.exit(EXIT_TERMINATED)
        except KeyboardInterrupt:
            if not _managed_worker():
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
    # MLflow sets its own logger's level when imported; this is its documented knob (workers
    # inherit it): no "Creating initial MLflow database tables" lines in hpo's output
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if debug else "WARNING")
    if not debug:
        import warnings

        warnings.filterwarnings("ignore", module="mlflow")
        warnings.filterwarnings("ignore", category=FutureWarning)
        # hpo chooses Optuna's experimental options (TPE's group=True) itself: nothing to act on
        warnings.filterwarnings("ignore", message=".* is an experimental feature")


def _quiet_optuna() -> None:
    """Optuna logs each study it creates or loads at INFO on a handler of its own, set up when it
    is imported; hpo says what matters itself (``--debug`` keeps Optuna's lines). Only for the
    commands that open studies: importing Optuna costs ``hpo --help`` and ``validate`` 0.4 s."""
    if _debug_enabled():
        return
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


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
    """A live line per running trial on a terminal; one plain line per finished trial otherwise.

    Plain lines carry a timestamp (and the worker's label under ``--jobs``), for logs under cron.
    """

    def __init__(self, metrics: list[str], *, live: bool, label: str | None = None) -> None:
        self.metrics = metrics
        self.metric = metrics[0]
        self.live = live
        self.prefix = f"[{label}] " if label else ""
        self._line_open = False

    def _clear(self) -> None:
        if self._line_open:
            click.echo("\r\033[2K", nl=False)
            self._line_open = False

    def _stamp(self) -> str:
        return ("" if self.live else time.strftime("%Y-%m-%d %H:%M:%S ")) + self.prefix

    def __call__(self, event: object) -> None:
        from orchestrator.study import EpochEvent, NoticeEvent, TrialEvent

        if isinstance(event, EpochEvent) and self.live:
            value = event.metrics.get(self.metric)
            text = (
                f"  trial {event.number:>4}  epoch {event.epoch}/{event.epochs}  "
                f"{self.metric}={_fmt_value(value)}  loss={event.metrics.get('train_loss', 0):.4f}"
            )
            click.echo("\r\033[2K" + text, nl=False)
            self._line_open = True
        elif isinstance(event, NoticeEvent):
            self._clear()
            click.echo(f"{self._stamp()}note: {event.text}")
        elif isinstance(event, TrialEvent):
            self._clear()
            if event.values is not None and len(self.metrics) > 1:
                detail = "  ".join(
                    f"{m}={_fmt_value(v)}" for m, v in zip(self.metrics, event.values, strict=True)
                )
                best = f"pareto={event.pareto}"
            else:
                detail = f"{self.metric}={_fmt_value(event.value)}"
                best = (
                    f"best={_fmt_value(event.best_value)} (#{event.best_number})"
                    if event.best_number is not None
                    else "best=-"
                )
            if event.state != "COMPLETE" and event.reason:
                detail = event.reason if event.state == "FAIL" else f"{detail} ({event.reason})"
            click.echo(
                f"{self._stamp()}trial {event.number:>4}  {event.state:<8}  {detail}  {best}  "
                f"{_fmt_seconds(event.seconds)}  [{event.finished}/{event.n_trials}]"
            )


def _parse_until(text: str, *, now: float | None = None) -> float:
    """``HH:MM`` or ``HH:MM:SS`` local time -> epoch seconds of its next occurrence."""
    import datetime as dt

    try:
        parts = [int(p) for p in text.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        clock = dt.time(*parts)
    except (ValueError, TypeError):
        raise click.BadParameter(
            f"expected a local time HH:MM or HH:MM:SS such as 06:30, got {text!r}",
            param_hint="--until",
        ) from None
    current = dt.datetime.fromtimestamp(time.time() if now is None else now)
    target = dt.datetime.combine(current.date(), clock)
    if target <= current:
        target += dt.timedelta(days=1)
    return target.timestamp()


# --- commands ----------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hpo")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """hpo: find the best PyTorch network for your data with Optuna, and see why in MLflow."""
    _configure_logging(debug)


def space_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--space FILE`` (Click reports a missing file) and repeatable ``--set KEY=VALUE``."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a value of the space, e.g. --set train.epochs=2 (repeatable).",
    )(func)
    return click.option(
        "--space",
        "space_path",
        required=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Search-space YAML file.",
    )(func)


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by `hpo run` and `hpo worker`: budgets, limits, device."""
    options = [
        click.option(
            "--n-trials", type=click.IntRange(min=1), help="The study's total of finished trials."
        ),
        click.option(
            "--timeout", type=DURATION, help="Start no new trial after this long: 90s, 30m, 8h."
        ),
        click.option(
            "--until",
            metavar="HH:MM",
            help="Deadline, local time (next occurrence): start no trial that cannot finish by "
            "then; stop trials still running at it.",
        ),
        click.option(
            "--trial-timeout", type=DURATION, help="Fail a trial that runs longer (reason timeout)."
        ),
        click.option(
            "--max-failures",
            type=click.IntRange(min=1),
            help="Consecutive failed trials that stop the run (default: study.max_failures, 5).",
        ),
        click.option(
            "--device",
            envvar="HPO_DEVICE",
            default="auto",
            show_default=True,
            help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps. Env: HPO_DEVICE.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="CPU threads for training. Default: the cores divided among the workers.",
        ),
        storage_option,
        tracking_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
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
            from orchestrator.workers import run_parallel

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


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Any:
    """SIGTERM and SIGINT both stop a run as Ctrl-C does (exit 143 and 130)."""
    from orchestrator.study import STOP_REQUESTS

    STOP_REQUESTS.reset()
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    default_hook = sys.unraisablehook

    def quiet_interrupts(unraisable: Any) -> None:
        # an interrupt that landed in a weakref callback: STOP_REQUESTS raises it again later
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default_hook(unraisable)

    sys.unraisablehook = quiet_interrupts
    try:
        yield
    finally:
        sys.unraisablehook = default_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_for(result: Any) -> None:
    if result.stopped_by == "failures":
        reasons = "; ".join(
            f"{kind} x{len(items)} (e.g. {items[-1]})" for kind, items in result.failures.items()
        )
        raise click.ClickException(
            f"stopped after consecutive failed trials: {reasons}. Fix the cause and run the "
            "same command to resume"
        )


@cli.command()
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


@cli.command()
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


def _print_summary(result: Any) -> None:
    metric = result.metrics[0] if result.metrics else "value"
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.states.items())) or "none run"
    click.echo(
        f"\nStudy '{result.study_name}': {result.finished}/{result.n_trials} trials finished "
        f"({result.ran} run now: {states}) in {_fmt_seconds(result.seconds)}; "
        f"stopped by {result.stopped_by}."
    )
    if result.repaired:
        click.echo(f"Repaired stale trials: {', '.join(map(str, result.repaired))}")
    if result.pareto:
        click.echo(f"Pareto front ({', '.join(result.metrics)}): trials {result.pareto}")
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
@space_options
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


# --- comparing and shipping: leaderboard, report, retrain, predict; the web UIs ------------------

allow_remote_option = click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback: the UI has no authentication.",
)
allowed_host_option = click.option(
    "--allowed-host",
    "extra_hosts",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Another Host header to accept, e.g. the name the UI is reached by (repeatable).",
)


@cli.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option("--top", type=click.IntRange(min=1), help="Only the best K trials.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="table and markdown to read; csv and json (every column, full precision) for programs.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(TRIAL_STATES, case_sensitive=False),
    help="Only trials in this state (repeatable).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead.")
@storage_option
@tracking_option
@handle_errors
def leaderboard(
    study_name: str,
    top: int | None,
    fmt: str,
    states: tuple[str, ...],
    out: str | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Rank a study's trials: objective(s), validation metrics, duration, parameters, MLflow run.

    With several objectives, rank 1 is the Pareto front (column pareto), rank 2 the next front.
    """
    from orchestrator.report import format_leaderboard, leaderboard, load_study_data

    data = load_study_data(study_name, storage=storage, tracking_uri=tracking_uri)
    frame = leaderboard(data, top=top, states=states)
    text = format_leaderboard(frame, fmt)  # type: ignore[arg-type]
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"Wrote {len(frame)} trials of study '{study_name}' to {out} ({fmt}).")
        return
    if fmt == "table":
        objectives = ", ".join(
            f"{d} {m}" for m, d in zip(data.metrics, data.directions, strict=True)
        )
        click.echo(f"Study '{study_name}' ({objectives}): {len(frame)} of {data.n_total} trials")
    click.echo(text, nl=False)


@cli.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@click.option(
    "--since", type=DURATION, help="Only trials started in the last 12h (90s, 30m, 8h, 1d)."
)
@click.option(
    "--no-mlflow", is_flag=True, help="Do not log the report on the study's MLflow parent run."
)
@storage_option
@tracking_option
@handle_errors
def report(
    study_name: str,
    out: str,
    since: float | None,
    no_mlflow: bool,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Write a study's report: one self-contained HTML page that opens offline.

    Summary, best trial, leaderboard, optimization history, parameter importances, parallel
    coordinates, slice plots, learning curves, the Pareto front (several objectives), failures
    and compute used. Also logged, with the plots as images, on the study's MLflow parent run.
    """
    from orchestrator.report import build_report

    result = build_report(
        study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        out=out,
        since=since,
        log_to_mlflow=not no_mlflow,
    )
    window = (
        f" ({result.n_trials} of {result.n_total} started in the last {_fmt_seconds(since)})"
        if since
        else ""
    )
    size = result.path.stat().st_size / 1024
    click.echo(
        f"Report of study '{study_name}'{window}: {result.path} "
        f"({size:.0f} KB, {len(result.plots)} plots, {result.seconds:.1f}s)"
    )
    for plot, reason in result.skipped.items():
        click.echo(f"  {plot}: not drawn: {reason}")
    if result.logged_run_id:
        click.echo(f"Logged on MLflow run {result.logged_run_id} (artifacts report/)")


@cli.command()
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Retrain the best K configurations.",
)
@click.option(
    "--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds for each."
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Epochs per seed. Default: the trial's best epoch.",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Register the shipped model under the study's name.",
)
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
    help="CPU threads for training. Default: half the cores.",
)
@storage_option
@tracking_option
@handle_errors
def retrain(
    study_name: str,
    top: int,
    seeds: int,
    epochs: int | None,
    register: bool,
    device: str,
    threads: int | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Retrain the best configurations on train+val with several seeds and test them.

    Prints test accuracy and macro and per-class precision, recall and F1 as mean +- std over
    seeds, and the confusion matrix. The best-ranked configuration's first seed is logged with
    mlflow.pytorch.log_model and registered in the MLflow Model Registry under the study name.
    """
    from orchestrator.retrain import retrain as retrain_study

    def on_seed(event: Any) -> None:
        if event.failure:
            detail = f"FAIL {event.failure}"
        else:
            detail = "  ".join(f"{k}={event.metrics[f'test_{k}']:.4f}" for k in ("accuracy", "f1"))
        click.echo(
            f"  [{event.index}/{event.total}] trial #{event.trial} seed {event.seed}: "
            f"{detail}  {_fmt_seconds(event.seconds)}"
        )

    click.echo(
        f"Retraining the best {top} configuration{'s' * (top > 1)} of study '{study_name}' "
        f"with {seeds} seed{'s' * (seeds > 1)} each, on train+val; testing on the test split."
    )
    result = retrain_study(
        study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        top=top,
        seeds=seeds,
        epochs=epochs,
        device=device,
        threads=threads or max(1, (os.cpu_count() or 2) // 2),
        register=register,
        progress=on_seed,
    )
    for config in result.configs:
        _print_retrained(config, result.class_names, result.sizes)
    model = result.model
    if model is not None:
        what = "Registered" if model.version is not None else "Logged"
        click.echo(
            f"\n{what} {model.model_uri} (trial #{result.shipped_trial}, seed "
            f"{result.shipped_seed}; run {model.run_id}; log_model {model.seconds:.2f}s)"
        )
        click.echo(
            f"Predict with: hpo predict --model {model.model_uri} --input FILE "
            "--out predictions.csv"
        )
    click.echo(f"Done in {_fmt_seconds(result.seconds)}.")


def _print_retrained(config: Any, class_names: list[str], sizes: dict[str, int]) -> None:
    summary = config.summary
    failed = [s for s in config.seeds if s.failure]
    click.echo(
        f"\nTrial #{config.trial} (rank {config.rank}): {summary.get('n', 0)} seeds x "
        f"{config.epochs} epochs on {sizes['train']} samples; test split ({sizes['test']} "
        f"samples), mean +- std over seeds; MLflow run {config.run_id}"
    )
    if failed:
        click.echo(f"  {len(failed)} seed(s) failed: " + "; ".join(str(s.failure) for s in failed))
    if not summary:
        return
    for key in ("accuracy", "precision", "recall", "f1"):
        mean, std = summary["mean"][f"test_{key}"], summary["std"][f"test_{key}"]
        label = key if key == "accuracy" else f"{key} (macro)"
        click.echo(f"  {label:<17} {mean:.4f} +- {std:.4f}")
    width = max(5, *(len(c) for c in class_names))
    click.echo(f"  {'class':<{width}}  {'precision':>15}  {'recall':>15}  {'f1':>15}")
    per_class = summary["per_class"]
    for i, name in enumerate(class_names):
        cells = "  ".join(
            f"{per_class[k]['mean'][i]:.3f} +- {per_class[k]['std'][i]:.3f}".rjust(15)
            for k in ("precision", "recall", "f1")
        )
        click.echo(f"  {name:<{width}}  {cells}")
    matrix = summary["confusion_matrix"]
    if len(class_names) <= 20:
        cell = max(3, len(str(max(max(row) for row in matrix))), *(len(c) for c in class_names))
        click.echo("  confusion matrix, summed over seeds (rows: true, columns: predicted):")
        click.echo("  " + " " * width + " " + " ".join(c.rjust(cell) for c in class_names))
        for name, row in zip(class_names, matrix, strict=True):
            click.echo(f"  {name:<{width}} " + " ".join(str(v).rjust(cell) for v in row))
    else:
        click.echo("  confusion matrix: in retrain_evaluation.json on the run above")


@cli.command()
@click.option(
    "--model",
    "model_ref",
    required=True,
    metavar="URI",
    help="models:/NAME/VERSION (see hpo retrain), models:/NAME/latest, a run id or a model folder.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Raw samples: a CSV (one sample per row), .npy or .npz file.",
)
@click.option(
    "--out",
    default="predictions.csv",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The CSV file to write.",
)
@tracking_option
@handle_errors
def predict(model_ref: str, input_path: str, out: str, tracking_uri: str | None) -> None:
    """Predict the class of every sample in a file with a shipped model; write a CSV.

    The model's stored preprocessing is applied to the raw input; each row of the output holds
    the predicted class, its probability and the probability of every class.
    """
    from orchestrator.predict import predict as predict_file

    result = predict_file(model_ref, input_path, out=out, tracking_uri=tracking_uri)
    counts = ", ".join(f"{name}: {n}" for name, n in result.counts.items())
    click.echo(f"Wrote {result.rows} predictions to {result.out} (model {model_ref}).")
    click.echo(f"Predicted classes: {counts}")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; any but loopback needs --allow-remote.",
)
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@allow_remote_option
@allowed_host_option
@tracking_option
@handle_errors
def ui(
    host: str,
    port: int,
    allow_remote: bool,
    extra_hosts: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Open the MLflow UI over the same tracking store as `hpo run`.

    It binds to 127.0.0.1 unless --allow-remote is given, and MLflow's Host-header check stays on
    (the accepted names are printed; add others with --allowed-host).
    """
    from orchestrator.dashboards import allowed_hosts, check_bind, mlflow_server_command

    warning = check_bind(host, allow_remote=allow_remote, what="the MLflow UI")
    if warning:
        click.echo(warning, err=True)
    hosts = allowed_hosts(host, port, extra_hosts)
    command, env = mlflow_server_command(
        host=host, port=port, tracking_uri=tracking_uri, hosts=hosts
    )
    click.echo(f"MLflow UI on http://{_url_host(host)}:{port} (Ctrl-C to stop)")
    if not allow_remote:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}")
    else:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}; add others with --allowed-host")
    if shutil.which(sys.executable) is None:  # pragma: no cover - a broken interpreter path
        raise click.ClickException("cannot find the Python interpreter to start MLflow")
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too: let it shut down
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            code = process.wait()
        click.echo("\nStopped.", err=True)
        code = 0
    raise SystemExit(code)


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; any but loopback needs --allow-remote.",
)
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option("--study", "study_name", metavar="NAME", help="Print the address of this study.")
@allow_remote_option
@allowed_host_option
@storage_option
@handle_errors
def dashboard(
    host: str,
    port: int,
    study_name: str | None,
    allow_remote: bool,
    extra_hosts: tuple[str, ...],
    storage: str | None,
) -> None:
    """Serve optuna-dashboard over the study storage: history, importances, Pareto front, live.

    It binds to 127.0.0.1 unless --allow-remote is given, and refuses requests whose Host header
    is not one of the accepted names (add others with --allowed-host).
    """
    from orchestrator.dashboards import allowed_hosts, check_bind, serve_dashboard, study_page

    warning = check_bind(host, allow_remote=allow_remote, what="optuna-dashboard")
    if warning:
        click.echo(warning, err=True)
    page = study_page(study_name, storage=storage) if study_name else ""
    hosts = allowed_hosts(host, port, extra_hosts)
    url = f"http://{_url_host(host)}:{port}/dashboard/{page}"

    def ready() -> None:
        click.echo(f"optuna-dashboard on {url} (Ctrl-C to stop)")
        click.echo(f"Accepted Host headers: {', '.join(hosts)}")

    try:
        serve_dashboard(storage, host=host, port=port, hosts=hosts, ready=ready)
    except KeyboardInterrupt:
        click.echo("\nStopped.", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hpo")


__all__ = ["cli", "main"]
