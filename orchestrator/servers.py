"""Servers that hpo starts stop with hpo, whatever stops it (short of SIGKILL).

A server hpo runs as a subprocess (``hpo ui``'s ``mlflow server``) gets a process group of its own
(a new session), so that the group holds the server and every worker it forks, and a Ctrl-C in the
terminal reaches hpo alone. On SIGTERM or SIGINT, hpo passes the signal on to the whole group,
waits up to :data:`GRACE_SECONDS` for the group to be gone (a second signal cuts the wait short),
then kills what is left with SIGKILL. A server that hpo runs in its own process (``hpo
dashboard``) is stopped by the same signals through :func:`stopping_on_signals`.

Either way :class:`ServerStopped` then tells the caller which signal it was; the CLI exits with the
shell's code for it (128 + the signal: 143 for SIGTERM, 130 for SIGINT).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "GRACE_SECONDS",
    "ServerStopped",
    "Signals",
    "group_alive",
    "run_server",
    "stop_group",
    "stopping_on_signals",
]

logger = logging.getLogger(__name__)

GRACE_SECONDS = 10.0  # from the forwarded signal to SIGKILL of what is left of the group
POLL_SECONDS = 0.1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ServerStopped(BaseException):
    """A signal stopped a server (SIGTERM or SIGINT). A BaseException, as KeyboardInterrupt is,
    so that no ``except Exception`` on the way up swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's exit code for the signal: 143 for SIGTERM, 130 for SIGINT."""
        return 128 + self.signum


class Signals:
    """The stop signals received while :func:`stopping_on_signals` is in effect.

    While armed, the first one raises :class:`ServerStopped` where the main thread is; disarmed
    (while a server starts, or while hpo cleans up after it), they are only recorded.
    """

    def __init__(self, *, armed: bool) -> None:
        self.received: list[int] = []
        self.armed = armed

    def __call__(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.armed and len(self.received) == 1:
            raise ServerStopped(signum)

    def arm(self) -> None:
        """Raise from now on, at once if a signal came meanwhile."""
        self.armed = True
        if self.received:
            raise ServerStopped(self.received[0])

    def since(self) -> Callable[[], bool]:
        """A test of whether another signal has come since now (to cut a grace period short)."""
        seen = len(self.received)
        return lambda: len(self.received) > seen


@contextlib.contextmanager
def stopping_on_signals(*, armed: bool = True) -> Iterator[Signals]:
    """SIGTERM and SIGINT raise :class:`ServerStopped` (the first one, while armed); the previous
    handlers are back on leaving."""
    signals = Signals(armed=armed)
    previous = {sig: signal.signal(sig, signals) for sig in STOP_SIGNALS}
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_server(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    grace: float = GRACE_SECONDS,
) -> int:
    """Run ``command`` in a process group of its own until it exits or hpo gets SIGTERM or
    SIGINT; either way nothing of the group is left running on return.

    Returns:
        The server's exit code, when it stopped by itself.

    Raises:
        ServerStopped: a signal stopped it; it was passed on to the group, which is gone.
    """
    with stopping_on_signals(armed=False) as signals:  # not while Popen is half done
        process = subprocess.Popen(
            list(command), env=dict(env) if env is not None else None, start_new_session=True
        )
        try:
            signals.arm()
            code = process.wait()
            signals.armed = False
            # it stopped by itself: workers it left behind (if any) go too
            stop_group(process, signal.SIGTERM, grace=grace, hurry=signals.since())
        except ServerStopped as stopped:
            signals.armed = False
            stop_group(process, stopped.signum, grace=grace, hurry=signals.since())
            raise
        except BaseException:  # an error of hpo's own: the server must not outlive it either
            signals.armed = False
            stop_group(process, signal.SIGTERM, grace=grace, hurry=signals.since())
            raise
        if signals.received:  # one came while it was being cleaned up
            raise ServerStopped(signals.received[0])
        return code


def stop_group(
    process: subprocess.Popen[Any],
    signum: int,
    *,
    grace: float = GRACE_SECONDS,
    hurry: Callable[[], bool] | None = None,
) -> None:
    """Send ``signum`` to the process group that ``process`` leads, wait up to ``grace`` seconds
    (less once ``hurry()`` is true) for the group to be gone, then SIGKILL what is left."""
    pgid = process.pid
    started = time.monotonic()
    _signal_group(pgid, signum)
    logger.debug("sent %s to process group %d", signal.Signals(signum).name, pgid)
    while time.monotonic() < started + grace and not (hurry is not None and hurry()):
        process.poll()  # reaps the leader once it has exited (killpg counts an unreaped one)
        if not group_alive(pgid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)  # the leader has exited: reap it
            logger.debug("process group %d ended in %.1f s", pgid, time.monotonic() - started)
            return
        time.sleep(POLL_SECONDS)
    logger.debug("process group %d still runs after %.1f s: SIGKILL", pgid, grace)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    deadline = time.monotonic() + 5  # SIGKILL cannot be refused: only a moment to vanish
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    logger.debug("process group %d ended in %.1f s", pgid, time.monotonic() - started)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still runs (zombies, dead already, do not
    count where /proc tells them apart)."""
    proc = Path("/proc")
    if sys.platform.startswith("linux") and proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            # after the command name in parentheses: state, ppid, pgrp, ...
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: it is there
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
