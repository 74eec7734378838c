"""Training and evaluation of one model: the loop reports through callbacks.

- :mod:`._loop`: :func:`fit` (the training loop, after nanoGPT's), :class:`FitResult`, the epoch
  metrics and :func:`seed_everything`;
- :mod:`._evaluate`: :func:`evaluate`, loss and classification metrics without gradients;
- :mod:`._optim`: :func:`build_optimizer` and the learning-rate schedules (:func:`lr_at`);
- :mod:`._failures`: the forward probe and out-of-memory detection behind ``TrialFailure``.

Nothing here imports search, tracking or CLI code; torch is imported where it is used.
"""

from __future__ import annotations

from orchestrator.train._evaluate import (
    classification_metrics,
    evaluate,
    load_weights,
    measure_latency,
)
from orchestrator.train._loop import (
    EPOCH_METRICS,
    SELECTABLE_METRICS,
    EpochCallback,
    FitResult,
    data_fits,
    fit,
    seed_everything,
)
from orchestrator.train._optim import build_optimizer, lr_at

__all__ = [
    "EPOCH_METRICS",
    "SELECTABLE_METRICS",
    "EpochCallback",
    "FitResult",
    "build_optimizer",
    "classification_metrics",
    "data_fits",
    "evaluate",
    "fit",
    "load_weights",
    "lr_at",
    "measure_latency",
    "seed_everything",
]
