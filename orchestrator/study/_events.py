"""What a run reports as it goes (epochs, trials, notices) and what it returns."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochEvent:
    """One epoch of a running trial, for a live progress line."""

    number: int
    epoch: int
    epochs: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialEvent:
    """A finished trial, for the per-trial progress line."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    value: float | None  # the primary objective
    best_value: float | None
    best_number: int | None
    seconds: float
    epochs: int
    reason: str | None = None
    finished: int = 0  # trials counted towards the budget so far
    n_trials: int = 0
    values: tuple[float, ...] | None = None  # every objective of a multi-objective study
    pareto: int | None = None  # size of the Pareto front (multi-objective)


@dataclass(frozen=True)
class StageEvent:
    """What a run is doing before its first trial (loading data, opening the stores)."""

    text: str


@dataclass(frozen=True)
class NoticeEvent:
    """Something the person running the study should read (a repair, a dead worker, a note)."""

    text: str


@dataclass
class StudyResult:
    """What one ``run_study`` call did."""

    study_name: str
    storage: str  # redacted
    tracking_uri: str  # redacted
    parent_run_id: str | None
    n_trials: int
    finished: int
    metrics: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)  # of the metrics: maximize, minimize
    ran: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    pareto: list[int] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # kind -> reasons (this run)
    repaired: list[int] = field(default_factory=list)  # stale trials failed by this run
    # budget, timeout, deadline, failures (the circuit breaker), store (store faults), interrupt,
    # workers (under --jobs: the other workers stopped)
    stopped_by: str = "budget"
    breaker: str | None = None  # what stopped it when it was failures or store
    # trials still RUNNING on other hosts when this run stopped: (number, host:pid, lease expiry)
    elsewhere: list[tuple[int, str, float]] = field(default_factory=list)
    seconds: float = 0.0
    experiment_id: str | None = None  # the study's MLflow experiment
    model_uri: str | None = None  # the best trial's MLflow model, logged at the study's end

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


Progress = Callable[[object], None]
