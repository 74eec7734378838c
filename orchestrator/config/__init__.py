"""Resolved configuration: what one trial runs with, once every search parameter is sampled.

Every default of hpo lives here, with its unit or a typical value beside it. The search-space file
(see :mod:`orchestrator.space`) uses the same key names; each key is either a fixed value or a
search parameter. Model-family configs live beside their family in :mod:`orchestrator.models`.

Importing this module is cheap (pydantic only): ``hpo validate`` relies on it.

The settings live by concern: :mod:`._study`, :mod:`._data`, :mod:`._train`.
"""

from __future__ import annotations

from orchestrator.config._data import DataConfig, MNIST1DConfig
from orchestrator.config._study import (
    PRUNERS,
    SAMPLERS,
    Factory,
    PrunerConfig,
    SamplerConfig,
    StudyConfig,
    WarmStartConfig,
)
from orchestrator.config._train import (
    OPTIMIZERS,
    PRECISIONS,
    AdamConfig,
    AdamWConfig,
    AugmentConfig,
    EarlyStoppingConfig,
    OptimizerConfig,
    RMSpropConfig,
    ScheduleConfig,
    SGDConfig,
    TrainConfig,
)
from orchestrator.durations import format_duration, parse_duration
from orchestrator.tasks import METRICS

__all__ = [
    "METRICS",
    "OPTIMIZERS",
    "PRECISIONS",
    "PRUNERS",
    "SAMPLERS",
    "AdamConfig",
    "AdamWConfig",
    "AugmentConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "Factory",
    "MNIST1DConfig",
    "OptimizerConfig",
    "PrunerConfig",
    "RMSpropConfig",
    "SGDConfig",
    "SamplerConfig",
    "ScheduleConfig",
    "StudyConfig",
    "TrainConfig",
    "WarmStartConfig",
    "format_duration",
    "parse_duration",
]
