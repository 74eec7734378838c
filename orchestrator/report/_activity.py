"""When a study ran: its runs, the worker processes of each, and its wall clock, defined once.

A *run* is a stretch of time in which trials ran without a pause: one ``hpo run`` (with all its
``--jobs`` workers), or several started at the same time. Each worker process (a trial's
``hpo.worker`` record: host, pid, process start) spans its first trial's start to its last
trial's end; processes whose spans overlap belong to one run. The *wall clock* of a study is the
sum over its runs of the time from the run's first trial's start to its last trial's end: the
hours between a run and its resumption do not count, and neither do the start-up before the
first trial or the test evaluation after the last, which ``hpo run``'s own "in 19s" includes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.report._data import worker_of

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class Run:
    """One run: from its first trial's start to its last trial's end."""

    start: dt.datetime
    end: dt.datetime
    trials: int
    processes: int  # worker processes in all
    peak: int  # worker processes at the same time, at most

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Activity:
    """The runs of a study (or of the trials of a report's window), first first."""

    runs: list[Run]
    known: bool  # False: no trial carries a worker record, so all are taken as one process

    @property
    def wall_seconds(self) -> float:
        """The wall clock: each run's first trial start to last trial end, summed."""
        return sum(run.seconds for run in self.runs)

    @property
    def peak(self) -> int:
        """Worker processes at the same time, at most, over all runs."""
        return max((run.peak for run in self.runs), default=0)

    @property
    def processes(self) -> int:
        return sum(run.processes for run in self.runs)


@dataclass
class _Span:
    """One worker process: its first trial's start, its last trial's end, its trials."""

    start: dt.datetime
    end: dt.datetime
    trials: int = 0


def study_activity(trials: Sequence[FrozenTrial]) -> Activity:
    """The runs of ``trials`` (those that started), their processes and the wall clock.

    A trial still running counts up to its start; trials without a worker record share one
    process of their own.
    """
    spans: dict[tuple[str, int, str] | None, _Span] = {}
    for trial in trials:
        if trial.datetime_start is None:
            continue
        end = trial.datetime_complete or trial.datetime_start
        span = spans.setdefault(worker_of(trial), _Span(trial.datetime_start, end))
        span.start, span.end = min(span.start, trial.datetime_start), max(span.end, end)
        span.trials += 1
    groups: list[list[_Span]] = []
    for span in sorted(spans.values(), key=lambda s: s.start):
        if groups and span.start <= max(s.end for s in groups[-1]):
            groups[-1].append(span)  # overlaps the run so far: the same run
        else:
            groups.append([span])
    runs = [
        Run(
            start=min(s.start for s in group),
            end=max(s.end for s in group),
            trials=sum(s.trials for s in group),
            processes=len(group),
            peak=_peak([(s.start, s.end) for s in group]),
        )
        for group in groups
    ]
    return Activity(runs=runs, known=any(key is not None for key in spans))


def _peak(spans: Sequence[tuple[dt.datetime, dt.datetime]]) -> int:
    """How many of ``spans`` overlap at once, at most (one ending as another starts: not)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in events:  # at equal times -1 sorts first: an end before a start
        running += step
        peak = max(peak, running)
    return peak
