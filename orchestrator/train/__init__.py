"""Training and evaluation of one model: the loop reports through callbacks.

- :mod:`._loop`: :func:`fit` (the training loop, after nanoGPT's), :class:`FitResult`, the epoch
  metrics and :func:`seed_everything`;
- :mod:`._step`: one epoch of the update step (forward, loss, backward, clip, step), which
  :func:`fit` runs once per epoch;
- :mod:`._evaluate`: :func:`evaluate`, a model's outputs on a split scored by the data's task
  (:mod:`orchestrator.tasks`), without gradients;
- :mod:`._optim`: :func:`build_optimizer` (per-group learning rates: the head's may differ) and
  the learning-rate schedules (:func:`lr_at`);
- :mod:`._state`: what a trial saves of a model and how it is loaded back (:func:`load_weights`);
- :mod:`._failures`: the forward probe and out-of-memory detection behind ``TrialFailure``.

Nothing here imports search, tracking or CLI code; torch is imported where it is used.
"""

from __future__ import annotations

from orchestrator.train._evaluate import evaluate, measure_latency, model_outputs
from orchestrator.train._loop import (
    EpochCallback,
    FitResult,
    epoch_metrics,
    fit,
    seed_everything,
    selectable_metrics,
)
from orchestrator.train._optim import build_optimizer, head_parameters, lr_at, set_lr
from orchestrator.train._state import load_saved_state, load_weights, state_to_save
from orchestrator.train._step import data_fits

__all__ = [
    "EpochCallback",
    "FitResult",
    "build_optimizer",
    "data_fits",
    "epoch_metrics",
    "evaluate",
    "fit",
    "head_parameters",
    "load_saved_state",
    "load_weights",
    "lr_at",
    "measure_latency",
    "model_outputs",
    "seed_everything",
    "selectable_metrics",
    "set_lr",
    "state_to_save",
]
