"""What a retraining gives back: per-seed and per-configuration results, their summary.

:func:`summarize` turns the seeds' test evaluations into mean and standard deviation;
:func:`study_summary` is the small record the study keeps in its ``hpo.retrain`` attribute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
SCALAR_METRICS = ("loss", "accuracy", "precision", "recall", "f1")
PER_CLASS = ("per_class_precision", "per_class_recall", "per_class_f1")


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

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def retrain_seeds(base: int, n: int) -> list[int]:
    """The seeds of a retraining: the trial's own seed first, then the next ``n - 1`` integers."""
    return [base + i for i in range(n)]


def summarize(evaluations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of :func:`orchestrator.train.evaluate` reports.

    Returns:
        ``mean``/``std``: ``test_<metric>`` for loss, accuracy and the macro precision, recall and
        F1; ``per_class``: ``{precision|recall|f1: {"mean": [...], "std": [...]}}``;
        ``confusion_matrix``: summed over seeds (rows: true class, columns: predicted);
        ``n``: the number of seeds. The std is the sample standard deviation (0 for one seed).
    """

    def spread(values: list[float]) -> tuple[float, float]:
        mean = statistics.fmean(values)
        return mean, statistics.stdev(values) if len(values) > 1 else 0.0

    if not evaluations:
        return {}
    mean, std = {}, {}
    for key in SCALAR_METRICS:
        mean[f"test_{key}"], std[f"test_{key}"] = spread([float(e[key]) for e in evaluations])
    per_class = {}
    for key in PER_CLASS:
        columns = list(zip(*(e[key] for e in evaluations), strict=True))
        pairs = [spread([float(v) for v in column]) for column in columns]
        per_class[key.removeprefix("per_class_")] = {
            "mean": [m for m, _ in pairs],
            "std": [s for _, s in pairs],
        }
    matrices = [e["confusion_matrix"] for e in evaluations]
    summed = [
        [sum(m[i][j] for m in matrices) for j in range(len(matrices[0][i]))]
        for i in range(len(matrices[0]))
    ]
    return {
        "n": len(evaluations),
        "mean": mean,
        "std": std,
        "per_class": per_class,
        "confusion_matrix": summed,
    }


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
