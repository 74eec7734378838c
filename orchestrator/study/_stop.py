"""Why a run stops: one :class:`StopRequest` per run, carried in the run's context.

It serves every reason a run or a trial can stop: a signal (Ctrl-C, SIGTERM), the run's time limit
(``--timeout``), its deadline (``--until``), a trial's own limit (``--trial-timeout``) and the
circuit breaker (``max_failures`` consecutive failed trials). Limits are checked at safe points,
after every optimizer step and between trials, never raised from a timer signal: an exception
raised at an arbitrary point (in the middle of an import, say) could leave the process broken for
the trials that follow.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

__all__ = ["STORE_FAULTS", "StopRequest", "Terminated", "TrialStopped"]

STORE_FAULTS = 3  # consecutive trials failed by a store that stop the run


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that a run ends exactly as with Ctrl-C."""


class TrialStopped(BaseException):
    """Stops a running trial: its time limit (``timeout``) or the run's deadline (``deadline``).

    A BaseException, so that user code's ``except Exception`` cannot swallow it.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class StopRequest:
    """The limits of one run and the stop requests made to it.

    The entry point makes one before anything else (its signal handlers call :meth:`request`);
    the run sets its limits with :meth:`limit` once the search space is known.

    Args:
        timeout: seconds after the run's start at which it starts no new trial (``--timeout``).
        until: a deadline in epoch seconds: no trial starts that cannot finish by then, and a
            trial still running at it is stopped (``--until``).
        trial_timeout: seconds after which one trial fails with reason ``timeout``.
        max_failures: consecutive failed trials that stop the run (the circuit breaker).
        clock: seconds since the epoch (tests give their own).
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        until: float | None = None,
        trial_timeout: float | None = None,
        max_failures: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout = timeout
        self.until = until
        self.trial_timeout = trial_timeout
        self.max_failures = max_failures
        self._clock = clock
        self.started = clock()
        self._trial_started = self.started
        self.pending: type[BaseException] | None = None  # a signal not yet raised here
        self.handling = False  # an interrupt is being handled: later checks stay quiet
        self.streak: list[str] = []  # the reasons of the consecutive failed trials, in order
        self.store_faults: list[str] = []  # the reasons of the consecutive store faults

    def limit(
        self,
        *,
        timeout: float | None,
        until: float | None,
        trial_timeout: float | None,
        max_failures: int | None,
    ) -> None:
        """Set the run's limits; its clock (for ``timeout``) starts now."""
        self.timeout, self.until = timeout, until
        self.trial_timeout, self.max_failures = trial_timeout, max_failures
        self.started = self._clock()

    # --- signals ----------------------------------------------------------------------------------

    def request(self, exc_type: type[BaseException]) -> bool:
        """Record a signal (Ctrl-C: KeyboardInterrupt, SIGTERM: its subclass); False when one
        is being handled already (then the signal is ignored, so it cannot break the cleanup)."""
        if self.pending is not None:
            return False
        self.pending = exc_type
        return True

    def check(self) -> None:
        """Raise a requested interrupt that has not been raised here yet.

        The signal handler raises at once (so a blocking call is interrupted) and records the
        request; an interrupt that Python had to swallow (one that landed in a weakref callback
        or a ``__del__``) is raised again at the next safe point, the end of a step or a trial.
        """
        if self.pending is not None and not self.handling:
            self.handling = True
            raise self.pending()

    def interrupted(self) -> None:
        """Say that an interrupt is being handled: the cleanup is not interrupted again."""
        self.handling = True

    # --- the run's limits -------------------------------------------------------------------------

    def before_trial(self, estimate: float | None = None) -> str | None:
        """Why no new trial may start now (``timeout``, ``deadline``), or None.

        ``estimate``: the seconds a trial is expected to take (the median of finished ones), so
        that under ``--until`` no trial starts that cannot finish by the deadline.
        """
        self.check()
        now = self._clock()
        if self.timeout is not None and now - self.started >= self.timeout:
            return "timeout"
        if self.until is not None and now + (estimate or 0.0) >= self.until:
            return "deadline"
        return None

    def start_trial(self) -> None:
        """A trial starts now: its own time limit counts from here."""
        self._trial_started = self._clock()

    def check_trial(self) -> None:
        """After an optimizer step: a pending interrupt, the deadline, the trial's own limit.

        Raises:
            KeyboardInterrupt: an interrupt was requested.
            TrialStopped: the deadline passed (``deadline``) or the trial ran too long
                (``timeout``).
        """
        self.check()
        now = self._clock()
        if self.until is not None and now >= self.until:
            raise TrialStopped("deadline", "stopped at the --until deadline")
        if self.trial_timeout is not None and now - self._trial_started >= self.trial_timeout:
            raise TrialStopped("timeout", f"timeout: trial ran longer than {self.trial_timeout:g}s")

    # --- the circuit breaker ----------------------------------------------------------------------

    def trial_ended(self, state: str, reason: str | None = None) -> str | None:
        """Count a finished trial; why the run must stop now, or None: ``failures`` when the
        circuit breaker trips (``max_failures`` consecutive failures of configurations), ``store``
        after :data:`STORE_FAULTS` consecutive store faults. A trial that does not fail ends both
        streaks; a store fault is not the configuration's, and does not count for the breaker."""
        if state != "FAIL":
            self.streak.clear()
            self.store_faults.clear()
            return None
        if reason and reason.startswith("store:"):
            self.store_faults.append(reason)
            return "store" if len(self.store_faults) >= STORE_FAULTS else None
        self.store_faults.clear()
        self.streak.append(reason or "error")
        if self.max_failures is not None and len(self.streak) >= self.max_failures:
            return "failures"
        return None

    def breaker_summary(self) -> str:
        """The consecutive failures that tripped the breaker (only those), by kind, with the last
        reason of each: ``error x3 (e.g. error: ValueError: bad shape)``."""
        kinds = Counter(reason.split(":", 1)[0] for reason in self.streak)
        last = {reason.split(":", 1)[0]: reason for reason in self.streak}
        return "; ".join(f"{kind} x{n} (e.g. {last[kind]})" for kind, n in kinds.items())

    def store_summary(self) -> str:
        """The store faults that stopped the run: ``3 store faults in a row (the last: ...)``."""
        last = self.store_faults[-1].removeprefix("store: ") if self.store_faults else ""
        return f"{len(self.store_faults)} store faults in a row (the last: {last})"
