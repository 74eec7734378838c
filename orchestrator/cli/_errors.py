"""Exit codes, stop signals, and the one place where errors reach the user."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from orchestrator.errors import HpoError, SpaceError

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
