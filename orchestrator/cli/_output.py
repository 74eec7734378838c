"""What the commands print: progress lines, summaries; logging set-up."""

from __future__ import annotations

import logging
import os
import statistics
import time
from typing import Any

import click

from orchestrator.cli._errors import _debug_enabled


class _Redacting(logging.Filter):
    """Every log line hpo's process prints passes here: URL secrets are redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        from orchestrator.redact import redact_text

        record.msg, record.args = redact_text(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class _HpoFormat(logging.Formatter):
    """Log lines in the form of hpo's own lines: ``2026-12-07 17:51:40 warning: ...`` (the
    worker's label under ``--jobs``; the module's name too with ``--debug``)."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__(datefmt="%Y-%m-%d %H:%M:%S")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        label = os.environ.get("HPO_WORKER_LABEL")
        where = f" {record.name}" if self.debug else ""
        text = (
            f"{self.formatTime(record, self.datefmt)} {f'[{label}] ' if label else ''}"
            f"{record.levelname.lower()}{where}: {record.getMessage()}"
        )
        if record.exc_info and self.debug:
            text += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return text


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_HpoFormat(debug=debug))
        if not any(isinstance(f, _Redacting) for f in handler.filters):
            handler.addFilter(_Redacting())
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


def _fmt_seconds(seconds: float) -> str:
    from orchestrator.durations import format_duration

    return format_duration(seconds)


def _fmt_value(value: float | None) -> str:
    from orchestrator.numbers import fmt_number

    return fmt_number(value)


class StagePrinter:
    """The stages of a long command (``hpo explain``): on a terminal, one live line with the
    stage and the elapsed time; elsewhere (cron, a log file) one timestamped line per stage."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self._started = time.monotonic()
        self._open = False

    def __call__(self, text: str) -> None:
        elapsed = _fmt_seconds(time.monotonic() - self._started)
        if self.live:
            click.echo(f"\r\033[2K  {text} ... [{elapsed} elapsed]", nl=False)
            self._open = True
        else:
            click.echo(time.strftime("%Y-%m-%d %H:%M:%S ") + f"{text} ...")

    def close(self) -> None:
        """End the live line (before the command's own output)."""
        if self._open:
            click.echo("\r\033[2K", nl=False)
            self._open = False


class ProgressPrinter:
    """What a run prints as it goes. On a terminal, a live line for the running trial with the
    run's elapsed time and an estimate of the time left; elsewhere (cron, a log file) nothing but
    one timestamped line per finished trial, notice and stage. Trial lines carry the same
    timestamp either way (and the worker's label under ``--jobs``).
    """

    def __init__(self, metrics: list[str], *, live: bool, label: str | None = None) -> None:
        self.metrics: list[str] = []
        self.metric = ""
        if metrics:
            self.use(metrics)
        self.live = live
        self.prefix = f"[{label}] " if label else ""
        self._line_open = False
        self._started = time.monotonic()
        self._trial_started = self._started
        self._trial: int | None = None
        self._durations: list[float] = []  # of the trials this process finished
        self._remaining: int | None = None  # trials left to the budget, as last reported

    def use(self, metrics: list[str]) -> None:
        """Show these objectives (known once the checks have read the data's task)."""
        self.metrics = list(metrics)
        self.metric = self.metrics[0]

    def _clear(self) -> None:
        if self._line_open:
            click.echo("\r\033[2K", nl=False)
            self._line_open = False

    def _stamp(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S ") + self.prefix

    def _live(self, text: str) -> None:
        click.echo("\r\033[2K" + text, nl=False)
        self._line_open = True

    def _eta(self, event: Any) -> str:
        """``3m05s elapsed, ~5m left``: the time left is the trials left to the budget times
        the median time of a trial (the running trial's pace until one has finished)."""
        now = time.monotonic()
        elapsed = f"{_fmt_seconds(now - self._started)} elapsed"
        if self._durations:
            per_trial = statistics.median(self._durations)
        elif event.epoch:
            per_trial = (now - self._trial_started) / event.epoch * event.epochs
        else:
            return elapsed
        if self._remaining is None:
            return elapsed
        left = max(self._remaining * per_trial - (now - self._trial_started), 0.0)
        return f"{elapsed}, ~{_fmt_seconds(left)} left"

    def __call__(self, event: object) -> None:
        from orchestrator.study import EpochEvent, NoticeEvent, StageEvent, TrialEvent

        if isinstance(event, EpochEvent):
            if event.number != self._trial:
                self._trial = event.number
            if self.live:
                value = event.metrics.get(self.metric)
                self._live(
                    f"  trial {event.number:>4}  epoch {event.epoch}/{event.epochs}  "
                    f"{self.metric}={_fmt_value(value)}  "
                    f"loss={_fmt_value(event.metrics.get('train_loss'))}  [{self._eta(event)}]"
                )
        elif isinstance(event, StageEvent):
            if self.live:
                elapsed = _fmt_seconds(time.monotonic() - self._started)
                self._live(f"  {event.text} ... [{elapsed}]")
            else:
                click.echo(f"{self._stamp()}{event.text} ...")
        elif isinstance(event, NoticeEvent):
            self._clear()
            click.echo(f"{self._stamp()}note: {event.text}")
        elif isinstance(event, TrialEvent):
            self._clear()
            self._durations.append(event.seconds)
            self._trial_started = time.monotonic()
            self._remaining = max(event.n_trials - event.finished, 0)
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


def print_budget_reached(
    name: str, finished: int, budget: int, *, command: str, err: bool = False
) -> None:
    """One line instead of a run with nothing to do, and how to extend the study (on stderr
    with ``err``: a command whose stdout is a file to keep)."""
    done = f"{finished}/{budget}" if finished == budget else f"{finished} (budget {budget})"
    click.echo(
        f"Study '{name}' has reached its budget: {done} trials finished. To run more, raise "
        f"its total: {command} --n-trials {finished + max(budget // 2, 1)}",
        err=err,
    )


def _print_summary(result: Any) -> None:
    metric = result.metrics[0] if result.metrics else "value"
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.states.items()))
    ran = f"this run: {states}" if result.ran else "this run ran no trial"
    done = (
        f"{result.finished}/{result.n_trials}"
        if result.finished <= result.n_trials
        else f"{result.finished} (budget {result.n_trials})"
    )
    click.echo(
        f"\nStudy '{result.study_name}': {done} trials finished ({ran}) in "
        f"{_fmt_seconds(result.seconds)}; stopped by {result.stopped_by}."
    )
    if result.repaired:
        click.echo(f"Repaired stale trials: {', '.join(map(str, result.repaired))}")
    if result.elsewhere and result.stopped_by != "budget":
        held = ", ".join(
            f"#{number} on {worker} (lease expires at {_clock(expires)})"
            for number, worker, expires in result.elsewhere
        )
        click.echo(
            f"{len(result.elsewhere)} trial(s) still RUNNING on other hosts: {held}; the same "
            "command waits for them, or runs them once their leases expire"
        )
    if result.pareto:
        click.echo(f"Pareto front ({', '.join(result.metrics)}): trials {result.pareto}")
    if result.best_number is not None:
        click.echo(f"Best trial #{result.best_number}: {metric}={_fmt_value(result.best_value)}")
        for key, value in result.best_params.items():
            click.echo(f"  {key} = {_fmt_value(value)}")
    if result.test_metrics:
        shown = "  ".join(
            f"{k.removeprefix('test_')}={_fmt_value(v)}"
            for k, v in result.test_metrics.items()
            if k != "test_loss"
        )
        click.echo(f"Test split (trial #{result.best_number}): {shown}")
    click.echo(f"Optuna storage: {result.storage}")
    click.echo(f"MLflow: {result.tracking_uri}, parent run {result.parent_run_id}")
    if result.model_uri:
        click.echo(
            f"Best trial's model: {result.model_uri} (mlflow.pyfunc.load_model, hpo predict "
            "--model; hpo retrain retrains it on train+val)"
        )
    click.echo(_runs_line(result))


def _runs_line(result: Any) -> str:
    """Where the study's runs table is in MLflow's UI: on a tracking server, its address; on a
    local store, the ``hpo ui`` command that serves it (with ``--tracking-uri`` unless that is
    the default ``hpo ui`` picks) and the address it then has."""
    import shlex

    from orchestrator.redact import redact_url
    from orchestrator.tracking import default_tracking_uri, runs_table_url, ui_base

    if result.experiment_id is None:  # pragma: no cover - every run has its experiment
        return "Open the runs with: hpo ui"
    single = len(result.metrics) == 1
    url = runs_table_url(
        ui_base(result.tracking_uri),
        result.experiment_id,
        metric=result.metrics[0] if single else None,
        minimize=single and result.directions[:1] == ["minimize"],
        view=True,  # the run saved the study's view of its trial runs on the experiment
    )
    if result.tracking_uri.startswith(("http://", "https://")):  # a tracking server's own UI
        return f"Runs table: {url}"
    command = f"hpo ui --study {shlex.quote(result.study_name)}"
    if result.tracking_uri != redact_url(default_tracking_uri()):
        command += f" --tracking-uri {shlex.quote(result.tracking_uri)}"
    return f"Runs table: {command}, then open {url}"


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host
