"""Retrain the winners of a study on train+val with several seeds, test them, ship the first.

- :mod:`._run`: :func:`retrain`, from the study's ranking to the shipped model;
- :mod:`._seeds`: one configuration's seeds, trained and tested under MLflow runs;
- :mod:`._ship`: the model logged with its preprocessing, and registered;
- :mod:`._summary`: the results, :func:`summarize` (mean and std over seeds) and what the study
  remembers.
"""

from __future__ import annotations

from orchestrator.retrain._run import retrain
from orchestrator.retrain._summary import (
    ATTR_RETRAIN,
    ConfigResult,
    RetrainResult,
    SeedEvent,
    SeedResult,
    retrain_seeds,
    summarize,
)

__all__ = [
    "ATTR_RETRAIN",
    "ConfigResult",
    "RetrainResult",
    "SeedEvent",
    "SeedResult",
    "retrain",
    "retrain_seeds",
    "summarize",
]
