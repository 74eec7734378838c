"""What a retraining gives back: per-seed and per-configuration results, their summary.

:func:`summarize` turns the seeds' test evaluations into mean and standard deviation;
:func:`study_summary` is the small record the study keeps in its ``hpo.retrain`` attribute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.tasks import Task
    from orchestrator.tracking import LoggedModel

__all__ = [
    "ATTR_RETRAIN",
    "ConfigResult",
    "RetrainResult",
    "SeedEvent",
    "SeedResult",
    "retrain_seeds",
    "study_summary",
    "summarize",
]

ATTR_RETRAIN = "hpo.retrain"  # study user attr: the last retraining's summary


@dataclass(frozen=True)
class SeedEvent:
    """One seed retrained and tested, for a progress line."""

    trial: int
    seed: int
    index: int  # 1-based, over every configuration and seed
    total: int
    metrics: dict[str, float]  # test_* of this seed; empty when it failed
    seconds: float
    failure: str | None = None


@dataclass
class SeedResult:
    seed: int
    run_id: str
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # test_loss, test_accuracy, ...
    evaluation: dict[str, Any] = field(default_factory=dict)  # train.evaluate's whole report
    failure: str | None = None


@dataclass
class ConfigResult:
    """One configuration retrained with every seed."""

    trial: int
    rank: int | None
    params: dict[str, Any]
    epochs: int
    run_id: str
    seeds: list[SeedResult]
    summary: dict[str, Any] = field(default_factory=dict)  # see summarize()
    decision: dict[str, float] | None = None  # what the trial's validation split decided

    @property
    def mean(self) -> dict[str, float]:
        return self.summary.get("mean", {})

    @property
    def std(self) -> dict[str, float]:
        return self.summary.get("std", {})


@dataclass
class RetrainResult:
    study: str
    configs: list[ConfigResult]
    class_names: list[str]
    sizes: dict[str, int]  # rows trained on (train+val) and tested on
    model: LoggedModel | None
    shipped_trial: int | None = None
    shipped_seed: int | None = None
    seconds: float = 0.0
    task: str = "multiclass"  # what the models predict (orchestrator.tasks)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def retrain_seeds(base: int, n: int) -> list[int]:
    """The seeds of a retraining: the trial's own seed first, then the next ``n - 1`` integers."""
    return [base + i for i in range(n)]


def summarize(evaluations: Sequence[dict[str, Any]], task: Task | None = None) -> dict[str, Any]:
    """Mean and standard deviation over seeds of the test split's scores: ``task``'s
    :meth:`~orchestrator.tasks.Task.summarize` (classes by default).

    Returns:
        ``mean``/``std``: ``test_<metric>`` for each of the task's metrics; per class (or label)
        ``{precision|recall|f1: {"mean": [...], "std": [...]}}`` under ``per_class``;
        ``confusion_matrix``: summed over seeds (rows: true class, columns: predicted);
        ``n``: the number of seeds. The std is the sample standard deviation (0 for one seed).
    """
    from orchestrator.tasks import DEFAULT_TASK, get_task

    return (task or get_task(DEFAULT_TASK)).summarize(evaluations)


def study_summary(result: RetrainResult) -> dict[str, Any]:
    """What the study remembers of its last retraining (small: macro metrics only)."""
    model = result.model
    return {
        "at": dt.datetime.now().isoformat(timespec="seconds"),
        "configs": [
            {
                "trial": c.trial,
                "rank": c.rank,
                "epochs": c.epochs,
                "seeds": [s.seed for s in c.seeds],
                "failed_seeds": [s.seed for s in c.seeds if s.failure],
                "mean": c.mean,
                "std": c.std,
                "run_id": c.run_id,
            }
            for c in result.configs
        ],
        "model": None
        if model is None
        else {
            "model_uri": model.model_uri,
            "name": model.name,
            "version": model.version,
            "run_id": model.run_id,
            "trial": result.shipped_trial,
            "seed": result.shipped_seed,
        },
    }
