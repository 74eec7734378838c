"""Resolved configuration: what one trial runs with, once every search parameter is sampled.

Every default of hpo lives here, with its unit or a typical value beside it. The search-space file
(see :mod:`orchestrator.space`) uses the same key names; each key is either a fixed value or a
search parameter. Model-family configs live beside their family in :mod:`orchestrator.models`.

Importing this module is cheap (pydantic only): ``hpo validate`` relies on it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "METRICS",
    "PRECISIONS",
    "PRUNERS",
    "SAMPLERS",
    "DataConfig",
    "EarlyStoppingConfig",
    "OptimizerConfig",
    "PrunerConfig",
    "SamplerConfig",
    "ScheduleConfig",
    "StudyConfig",
    "TrainConfig",
    "parse_duration",
]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration: ``90``, ``"90s"``, ``"30m"``, ``"8h"``, ``"1h30m"``, ``"2d"``.

    Raises:
        ValueError: with the value received and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90s, 30m or 8h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
                raise ValueError(
                    f"expected a duration such as 90s, 30m, 8h or 1h30m, got {value!r}"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class _Strict(BaseModel):
    """Unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- study ---------------------------------------------------------------------------------------

# metric name -> natural direction
METRICS: dict[str, str] = {
    "val_accuracy": "maximize",
    "val_f1": "maximize",
    "val_precision": "maximize",
    "val_recall": "maximize",
    "val_loss": "minimize",
}
SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes", "qmc", "nsga2")
PRUNERS = (
    "median",
    "percentile",
    "successive_halving",
    "hyperband",
    "patient",
    "threshold",
    "none",
)


class SamplerConfig(_Strict):
    """An Optuna sampler by name; ``options`` go to its constructor (seed is set by hpo)."""

    name: Literal["tpe", "random", "grid", "gp", "cmaes", "qmc", "nsga2"] = "tpe"
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerConfig(_Strict):
    """An Optuna pruner by name; ``options`` go to its constructor.

    ``patient`` wraps another pruner: ``options: {patience: 2, wrapped: median}``.
    """

    name: Literal[
        "median", "percentile", "successive_halving", "hyperband", "patient", "threshold", "none"
    ] = "median"
    options: dict[str, Any] = Field(default_factory=dict)


class StudyConfig(_Strict):
    name: str | None = None  # default: the space file's stem, e.g. "cnn"
    metric: str = "val_accuracy"  # one of METRICS
    direction: Literal["maximize", "minimize"] | None = None  # default: the metric's own
    n_trials: int = Field(default=20, gt=0)  # total finished trials over every run and worker
    timeout: str | float | None = None  # "90s", "30m", "8h" or seconds; per `hpo run` call
    seed: int = 0  # study seed: sampler, splits, and every trial's seed derive from it
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else parse_duration(self.timeout)

    @property
    def resolved_direction(self) -> str:
        return self.direction or METRICS.get(self.metric, "maximize")


# --- data ----------------------------------------------------------------------------------------


class DataConfig(_Strict):
    name: str = "digits"  # a bundled data set (digits, ...) or a loader (csv, npz, images)
    val_fraction: float = Field(default=0.15, gt=0, lt=1)  # of the whole data set
    test_fraction: float = Field(default=0.15, gt=0, lt=1)  # held out; never used by the search
    normalize: bool = True  # standardize with train-split statistics


# --- train ---------------------------------------------------------------------------------------


class _Optimizer(_Strict):
    lr: float = Field(default=1e-3, gt=0)  # typical 1e-4 .. 1e-1
    weight_decay: float = Field(default=0.0, ge=0)  # decoupled for adamw, L2 otherwise


class SGDConfig(_Optimizer):
    name: Literal["sgd"] = "sgd"
    lr: float = Field(default=1e-2, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False  # needs momentum > 0


class AdamConfig(_Optimizer):
    name: Literal["adam"] = "adam"
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)


class AdamWConfig(_Optimizer):
    name: Literal["adamw"] = "adamw"
    weight_decay: float = Field(default=1e-2, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)


class RMSpropConfig(_Optimizer):
    name: Literal["rmsprop"] = "rmsprop"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    alpha: float = Field(default=0.99, gt=0, lt=1)


OptimizerConfig = Annotated[
    SGDConfig | AdamConfig | AdamWConfig | RMSpropConfig, Field(discriminator="name")
]
OPTIMIZERS = {"sgd": SGDConfig, "adam": AdamConfig, "adamw": AdamWConfig, "rmsprop": RMSpropConfig}


class ScheduleConfig(_Strict):
    """Learning-rate schedule over epochs, after an optional linear warmup."""

    name: Literal["none", "cosine", "step", "onecycle"] = "none"
    warmup_epochs: int = Field(default=0, ge=0)  # linear ramp from lr/10 (0 = no warmup)
    step_size: int = Field(default=5, gt=0)  # step: epochs between decays
    gamma: float = Field(default=0.1, gt=0, le=1)  # step: decay factor
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)  # cosine: floor as a fraction of lr
    pct_start: float = Field(default=0.3, gt=0, lt=1)  # onecycle: fraction spent rising


SCHEDULES = ("none", "cosine", "step", "onecycle")


class EarlyStoppingConfig(_Strict):
    patience: int | None = None  # epochs without improvement of the study metric; None = off
    min_delta: float = Field(default=0.0, ge=0)


PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")


class TrainConfig(_Strict):
    epochs: int = Field(default=10, gt=0)
    batch_size: int = Field(default=64, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=AdamWConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    grad_clip: float | None = Field(default=None, gt=0)  # max gradient norm; None = off
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"  # auto: bf16 on CUDA

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> TrainConfig:
        opt = self.optimizer
        if isinstance(opt, SGDConfig) and opt.nesterov and opt.momentum <= 0:
            raise ValueError("optimizer: nesterov=true needs momentum > 0")
        return self
