"""The study's settings: its objectives, budget, sampler, pruner, retries and warm start, and the
registries of samplers and pruners by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from orchestrator.config._base import _Strict
from orchestrator.durations import parse_duration
from orchestrator.tasks import METRICS

# metric name -> natural direction: every task's val_<metric> (orchestrator.tasks, which says
# which task scores which), and n_parameters and latency_ms, measured of the trained model


@dataclass(frozen=True)
class Factory:
    """One entry of a registry: the class that implements a name, the extra packages it needs
    (checked before the first trial, with the command that installs them), and hpo's defaults
    for its options (the space's ``options`` override them)."""

    target: str  # "module:ClassName", imported only when the study is built
    packages: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)


# The registries: a new sampler or pruner is one entry here (the names the space accepts derive
# from them). Options a few of them need computed from the space (a grid, hyperband's
# max_resource, what patient wraps) are filled in by orchestrator.study when it builds them.
# `window`: the samplers whose cost grows with the study learn from its 500 most recent
# finished trials and the best 50 (hpo's own option, null for every trial)
SAMPLERS: dict[str, Factory] = {
    "tpe": Factory("optuna.samplers:TPESampler", defaults={"window": 500}),
    "random": Factory("optuna.samplers:RandomSampler"),
    "grid": Factory("optuna.samplers:GridSampler"),
    "gp": Factory(
        "optuna.samplers:GPSampler", packages=("scipy", "torch"), defaults={"window": 500}
    ),
    "cmaes": Factory("optuna.samplers:CmaEsSampler", packages=("cmaes",)),
    "qmc": Factory("optuna.samplers:QMCSampler", packages=("scipy",)),
    "nsga2": Factory("optuna.samplers:NSGAIISampler"),
}
PRUNERS: dict[str, Factory] = {
    # steps are 1-based epochs: a trial is never judged on its first epoch alone
    "median": Factory(
        "optuna.pruners:MedianPruner", defaults={"n_warmup_steps": 2, "n_startup_trials": 5}
    ),
    "percentile": Factory(
        "optuna.pruners:PercentilePruner", defaults={"percentile": 25.0, "n_warmup_steps": 2}
    ),
    "successive_halving": Factory("optuna.pruners:SuccessiveHalvingPruner"),
    "hyperband": Factory("optuna.pruners:HyperbandPruner", defaults={"min_resource": 1}),
    "patient": Factory("optuna.pruners:PatientPruner", defaults={"patience": 1}),
    "threshold": Factory("optuna.pruners:ThresholdPruner"),
    "none": Factory("optuna.pruners:NopPruner"),
}
SamplerName = Literal[tuple(SAMPLERS)]  # type: ignore[valid-type]
PrunerName = Literal[tuple(PRUNERS)]  # type: ignore[valid-type]


class SamplerConfig(_Strict):
    """An Optuna sampler by name; ``options`` go to its constructor (seed is set by hpo)."""

    name: SamplerName = "tpe"
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerConfig(_Strict):
    """An Optuna pruner by name; ``options`` go to its constructor.

    ``patient`` wraps another pruner: ``options: {patience: 2, wrapped: median}``.
    """

    name: PrunerName = "median"
    options: dict[str, Any] = Field(default_factory=dict)


class WarmStartConfig(_Strict):
    """Queue the best configurations of another study first (``hpo refine`` writes one: the
    study it narrowed). The same as ``hpo run --warm-start STUDY --top K``."""

    study: str  # the study whose trials are queued, in the same storage
    top: int = Field(default=10, gt=0)  # its best trials that fit this space


class StudyConfig(_Strict):
    name: str | None = None  # default: the space file's stem, e.g. "cnn"
    # one of METRICS, or a list of them for a multi-objective study; default the task's own
    # (val_accuracy for classes, val_roc_auc for two, val_micro_f1 for labels, val_rmse for
    # values), known once the data is: see for_task
    metric: str | list[str] | None = None
    # default: each metric's own; a list for several metrics
    direction: Literal["maximize", "minimize"] | list[Literal["maximize", "minimize"]] | None = None
    n_trials: int = Field(default=20, gt=0)  # total finished trials over every run and worker
    timeout: str | float | None = None  # "90s", "30m", "8h" or seconds; per `hpo run` call
    seed: int = 0  # study seed: sampler, splits, and every trial's seed derive from it
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    # times a failed configuration is queued again, per failure class (stale, oom, nan, timeout,
    # error); interrupted and deadline-stopped trials are always queued again
    retries: dict[Literal["stale", "oom", "nan", "timeout", "error"], int] = Field(
        default_factory=lambda: {"stale": 2}
    )
    max_failures: int = Field(default=5, gt=0)  # consecutive failed trials that stop a run
    warm_start: WarmStartConfig | None = None  # a study whose best trials are queued first
    # the winner's network, as it trained in the search, logged as an MLflow model on its trial
    # run when the study ends (the Models tab, mlflow.pyfunc.load_model, mlflow models serve)
    log_model: bool = True

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else parse_duration(self.timeout)

    @model_validator(mode="after")
    def _directions_match_metrics(self) -> StudyConfig:
        if self.metric is None:
            if isinstance(self.direction, list):
                raise ValueError(
                    "direction: a list of directions needs the metrics too; give metric: [...]"
                )
            return self
        metrics = self.metrics
        if not metrics:
            raise ValueError("metric: give at least one metric")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric: each metric may appear once, got {metrics}")
        if isinstance(self.direction, list) and len(self.direction) != len(metrics):
            raise ValueError(
                f"direction: {len(self.direction)} directions for {len(metrics)} metrics; "
                "give one direction per metric, or leave direction out"
            )
        if isinstance(self.direction, str) and len(metrics) > 1:
            raise ValueError(
                f"direction: one direction ({self.direction}) for {len(metrics)} metrics; "
                "give a list with one direction per metric, or leave direction out"
            )
        return self

    @field_validator("retries")
    @classmethod
    def _non_negative_retries(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, count in value.items():
            if count < 0:
                raise ValueError(f"retries.{kind} must be >= 0, got {count}")
        return value

    @property
    def metrics(self) -> list[str]:
        """Every objective, in order (one for a single-objective study).

        Raises:
            RuntimeError: no metric was given and the task's default is not filled in yet
                (:meth:`for_task`): a programming error.
        """
        if self.metric is None:
            raise RuntimeError(
                "study.metric: the task's default is known once the data is; resolve the space "
                "first (preflight, Space.for_task)"
            )
        return list(self.metric) if isinstance(self.metric, list) else [self.metric]

    def for_task(
        self, default_metric: str, valid: Sequence[str], *, task: str = "this task"
    ) -> StudyConfig:
        """This config with the task's ``default_metric`` where no metric was given, every
        metric checked to be one the task scores (``valid``) or measures.

        Raises:
            ValueError: a metric the task does not score, naming the valid ones.
        """
        study = self
        if self.metric is None:
            study = self.model_copy(update={"metric": default_metric})
        allowed = [*valid, *(m for m in METRICS if not m.startswith("val_"))]
        for metric in study.metrics:
            if metric not in allowed:
                raise ValueError(
                    f"{metric} is not a metric of {task}; valid: {', '.join(allowed)}; or set "
                    "data.task"
                )
        return study

    @property
    def primary_metric(self) -> str:
        """The first objective: the one reported each epoch (pruning, early stopping)."""
        return self.metrics[0]

    @property
    def directions(self) -> list[str]:
        if isinstance(self.direction, list):
            return list(self.direction)
        if isinstance(self.direction, str):
            return [self.direction]
        return [METRICS.get(m, "maximize") for m in self.metrics]

    @property
    def is_multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def resolved_direction(self) -> str:
        """The direction of the primary metric."""
        return self.directions[0]
