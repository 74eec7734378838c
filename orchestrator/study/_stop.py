"""Stop requests (Ctrl-C, SIGTERM) and the limits of a running trial (its timeout, the run's
deadline)."""

from __future__ import annotations

import time


class _StopRequests:
    """Ctrl-C and SIGTERM, as requested by the CLI's signal handler.

    The handler raises at once (so a blocking call is interrupted) and also records the request
    here: an interrupt that Python had to swallow (one that landed in a weakref callback or a
    ``__del__``) is raised again at the next safe point, the end of an epoch or of a trial.
    """

    def __init__(self) -> None:
        self.pending: type[BaseException] | None = None
        self.handling = False

    def request(self, exc_type: type[BaseException]) -> bool:
        """Record a stop request; False when one is already being handled (ignore it)."""
        if self.pending is not None:
            return False
        self.pending = exc_type
        return True

    def check(self) -> None:
        if self.pending is not None and not self.handling:
            self.handling = True
            raise self.pending()

    def reset(self) -> None:
        self.pending, self.handling = None, False


STOP_REQUESTS = _StopRequests()


class _Stop(BaseException):
    """Stops a running trial: its time limit (``timeout``) or the run's deadline (``deadline``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Limits:
    """A trial's time limit and the run's deadline, checked after every optimizer step.

    Checked at that safe point rather than raised from a timer signal: an exception raised at an
    arbitrary point (in the middle of an import, say) could leave the process broken for the
    trials that follow.
    """

    def __init__(self, *, trial_timeout: float | None, deadline: float | None) -> None:
        self.trial_timeout = trial_timeout
        self.deadline = deadline
        self.started = time.time()

    def start(self) -> None:
        self.started = time.time()

    def check(self) -> None:
        now = time.time()
        if self.deadline is not None and now >= self.deadline:
            raise _Stop("deadline", "stopped at the --until deadline")
        if self.trial_timeout is not None and now - self.started >= self.trial_timeout:
            raise _Stop("timeout", f"timeout: trial ran longer than {self.trial_timeout:g}s")
