"""What the storage timings replace: fit() by a learning curve that takes no time, MLflow by a
tracker that logs nothing, so that what a trial costs is the product's own Optuna work."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def offline_trials(timers: Any) -> Iterator[None]:
    """Trials without training or MLflow: fit() replays a learning curve, tracking is a no-op.

    Everything else of ``run_study`` is the product's own: storage, sampler, pruner, the trial
    loop and its per-trial bookkeeping in Optuna.

    Two module attributes are replaced, and the study loop sees the stand-ins only because it
    looks both up when it calls them (imports inside its functions): ``orchestrator.train.fit``
    and ``orchestrator.tracking.Tracker``. A study module that bound either name at import time
    would keep the originals.
    """
    from _common import patch_optuna

    import orchestrator.tracking as tracking
    import orchestrator.train as train

    saved = (train.fit, tracking.Tracker)
    train.fit = fake_fit
    tracking.Tracker = NullTracker  # type: ignore[misc,assignment]
    patch_optuna(timers)
    try:
        yield
    finally:
        timers.restore()
        train.fit, tracking.Tracker = saved  # type: ignore[misc]


def fake_fit(model: Any, splits: Any, config: Any, **kwargs: Any) -> Any:
    """A stand-in for fit(): a learning curve that depends on the learning rate, no training."""
    import dataclasses

    from orchestrator.train import FitResult, epoch_metrics

    rng = random.Random(kwargs.get("seed", 0))
    final = 0.95 - 0.05 * abs(math.log10(config.optimizer.lr) + 2.5) + rng.uniform(-0.01, 0.01)
    history = []
    for epoch in range(1, config.epochs + 1):
        value = final * (1 - 0.5**epoch)
        metrics = dict.fromkeys(epoch_metrics(splits.spec), 0.0)
        metrics.update(
            val_accuracy=value,
            val_f1=value,
            val_precision=value,
            val_recall=value,
            val_loss=1 - value,
            train_loss=1 - value,
            lr=config.optimizer.lr,
        )
        history.append(metrics)
        for callback in kwargs.get("callbacks", ()):
            callback(epoch, dict(metrics))
    values = {
        "history": history,
        "best_epoch": len(history),
        "best_metrics": history[-1],
        "best_state": {},
        "epochs_run": len(history),
        "stopped_early": False,
        "n_parameters": 0,
    }
    names = {f.name for f in dataclasses.fields(FitResult)}
    return FitResult(**{k: v for k, v in values.items() if k in names})


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class NullRun:
    """Stands in for orchestrator.tracking.TrialRun: logs nothing."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.ended = False

    def end(self, *args: Any, **kwargs: Any) -> None:
        self.ended = True

    def __getattr__(self, name: str) -> Any:
        return _noop


class NullWriter:
    """Stands in for orchestrator.tracking.Writer: makes each call at once, on the caller's
    thread (there is nothing to write)."""

    def later(self, fn: Any, *, check: bool = True) -> None:
        fn()

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return _noop


class NullTracker:
    """Stands in for orchestrator.tracking.Tracker: logs nothing, keeps no artifacts."""

    tracking_uri = "null:"

    def __init__(self, experiment: str, *args: Any, **kwargs: Any) -> None:
        self.writer = NullWriter()
        self.experiment_name = experiment
        self.experiment_id = "0"
        self.parent_run_id: str | None = None

    def start_parent(self, *args: Any, **kwargs: Any) -> str:
        self.parent_run_id = "parent"
        return "parent"

    def start_trial(self, trial_number: int, *args: Any, **kwargs: Any) -> NullRun:
        return NullRun(f"run-{trial_number}")

    def find_parent_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def running_trial_runs(self, *args: Any, **kwargs: Any) -> list:
        return []

    def download(self, *args: Any, **kwargs: Any) -> Path:
        raise FileNotFoundError("the null tracker keeps no artifacts")

    def __getattr__(self, name: str) -> Any:
        return _noop
