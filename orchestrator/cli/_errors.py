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

from orchestrator.errors import HpoError, SpaceError

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
            raise
        for problem in exc.problems:
            click.echo(f"Error: {problem.format(exc.source)}", err=True)
        sys.exit(exc.exit_code)
    except HpoError as exc:
        if debug:
            raise
        click.echo(f"Error: {redact_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
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


def exit_for(result: Any) -> None:
    """A run stopped by its circuit breaker is a runtime failure (exit 1), said in one line."""
    if result.stopped_by == "failures":
        what = f": {result.breaker}" if result.breaker else " in a worker (see its lines above)"
        raise click.ClickException(
            f"stopped after consecutive failed trials{what}. Fix the cause and run the same "
            "command to resume"
        )
