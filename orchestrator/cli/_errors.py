"""Exit codes, stop signals, and the one place where errors reach the user.

Exit codes: 0 success; 1 a runtime failure (including a run stopped by repeated trial failures);
2 bad input (a space file, data, an option, a storage URL); 130 interrupted by Ctrl-C; 143 stopped
by SIGTERM.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from orchestrator.errors import HpoError, SpaceError, first_line

EXIT_INTERRUPT = 130
EXIT_TERMINATED = 143


def _debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


@contextlib.contextmanager
def reporting_errors(*, debug: bool | None = None, quiet_stop: bool = False) -> Iterator[None]:
    """Turn hpo's errors into one line each and an exit code; tracebacks only with --debug.

    ``quiet_stop``: say nothing on an interrupt (a worker of ``hpo run --jobs``, whose
    coordinator says it once for all).
    """
    from orchestrator.redact import redact_text
    from orchestrator.study import Terminated

    debug = _debug_enabled() if debug is None else debug
    try:
        yield
    except SpaceError as exc:
        if debug:
            _echo_traceback(exc)
        for problem in exc.problems:
            click.echo(f"Error: {redact_text(problem.format(exc.source))}", err=True)
        sys.exit(exc.exit_code)
    except HpoError as exc:
        if debug:
            _echo_traceback(exc)
        click.echo(f"Error: {redact_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `hpo best | head -1`: the reader has what it wanted
        quiet_stdout()
        sys.exit(0)
    except Terminated:
        if not quiet_stop:
            click.echo(
                "\nStopped by SIGTERM; the study is saved: run the same command to resume.",
                err=True,
            )
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        if not quiet_stop:
            click.echo(
                "\nInterrupted; the study is saved: run the same command to resume.", err=True
            )
        sys.exit(EXIT_INTERRUPT)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise  # Click's own: it prints them
    except Exception as exc:  # a bug of hpo's: one line, the traceback only with --debug
        if debug:
            _echo_traceback(exc)
        click.echo(
            f"Error: {redact_text(first_line(exc, with_type=True))} (a bug in hpo; run with "
            "--debug for the traceback)",
            err=True,
        )
        sys.exit(1)


def _echo_traceback(exc: BaseException) -> None:
    """The traceback of ``exc`` on stderr, every URL's secret redacted (``--debug``)."""
    import traceback

    from orchestrator.redact import redact_text

    click.echo(redact_text("".join(traceback.format_exception(exc))).rstrip(), err=True)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class HpoGroup(click.Group):
    """The ``hpo`` group: every error of a command, its options' callbacks included, reaches the
    user through :func:`reporting_errors`."""

    def invoke(self, ctx: click.Context) -> Any:
        with reporting_errors(debug=bool(ctx.params.get("debug"))):
            return super().invoke(ctx)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose errors go through :func:`reporting_errors` (as the group's do)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reporting_errors():
            return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def stopping_on_signals(stop: Any) -> Iterator[None]:
    """SIGINT and SIGTERM both stop a run as Ctrl-C does (exit 130 and 143), through ``stop``
    (the run's :class:`~orchestrator.study.StopRequest`): once; later signals must not break the
    cleanup."""
    from orchestrator.study import Terminated

    def on_signal(signum: int, frame: Any) -> None:
        exc_type = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if stop.request(exc_type):
            raise exc_type()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    default_hook = sys.unraisablehook

    def quiet_interrupts(unraisable: Any) -> None:
        # an interrupt that landed in a weakref callback: the stop request raises it again later
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default_hook(unraisable)

    sys.unraisablehook = quiet_interrupts
    try:
        yield
    finally:
        sys.unraisablehook = default_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_message(result: Any) -> str | None:
    """Why a run stopped, when that is a runtime failure: its circuit breaker or store faults."""
    if result.stopped_by == "store":
        return (
            f"stopped after {result.breaker}; the trials are queued again. Fix the store and "
            "run the same command to resume"
        )
    if result.stopped_by == "failures":
        what = f": {result.breaker}" if result.breaker else " in a worker (see its lines above)"
        return (
            f"stopped after consecutive failed trials{what}. Fix the cause and run the same "
            "command to resume"
        )
    return None


def exit_for(result: Any) -> None:
    """A run stopped by its circuit breaker or by store faults is a runtime failure (exit 1),
    said in one line."""
    message = stop_message(result)
    if message is not None:
        raise click.ClickException(message)
