"""Pieces shared by the benchmark runner and its helper scripts: the fixed throughput model and
timers that attribute time to Optuna's storage, sampler and pruner, and to MLflow."""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

# The model and settings the throughput comparison trains: a typical digits CNN of cnn.yaml's space.
THROUGHPUT_MODEL: dict[str, Any] = {
    "family": "cnn",
    "depth": 2,
    "blocks": {"channels": 32, "kernel_size": 3, "pool": "max", "dropout": 0.1},
    "batch_norm": True,
    "activation": "relu",
    "head_hidden": 64,
    "head_dropout": 0.1,
}


def throughput_config(*, batch_size: int, epochs: int) -> dict[str, Any]:
    """A resolved configuration (``TrialConfig.to_dict()`` layout) of the throughput model."""
    from orchestrator.config import DataConfig, TrainConfig
    from orchestrator.models import family_config

    train = TrainConfig.model_validate(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-2},
            "label_smoothing": 0.05,
            "grad_clip": 5.0,  # as cnn.yaml
        }
    )
    return {
        "data": DataConfig(name="digits").model_dump(mode="json"),
        "model": family_config("cnn").model_validate(THROUGHPUT_MODEL).model_dump(mode="json"),
        "train": train.model_dump(mode="json"),
    }


def hpo_fit(config: dict[str, Any], splits: Any, *, device: Any, seed: int, precision: str) -> Any:
    """Train one resolved configuration with hpo's own trainer, as a trial does (no callbacks)."""
    from orchestrator.models import build_model
    from orchestrator.space import TrialConfig
    from orchestrator.train import fit

    resolved = TrialConfig.from_dict(config)
    model = build_model(resolved.model, splits.spec, seed=seed)
    return fit(model, splits, resolved.train, device=device, precision=precision, seed=seed)


class Timers:
    """Exclusive time per category (storage, sampler, pruner) of calls on the main thread."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []
        self._main = threading.main_thread()
        self._saved: list[tuple[type, str, Any]] = []

    def wrap(self, category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        timers = self
        label = f"{category}:{fn.__qualname__}"

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not timers._main:
                return fn(*args, **kwargs)
            timers._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                child = timers._stack.pop()
                timers.totals[category] += elapsed - child
                timers.totals[label] += elapsed - child
                timers.calls[label] += 1
                if not timers._stack:
                    timers.calls[category] += 1
                if timers._stack:
                    timers._stack[-1] += elapsed

        return inner

    def patch(self, category: str, classes: Sequence[type]) -> None:
        import inspect

        for cls in classes:
            for name, member in list(vars(cls).items()):
                if name.startswith("_") or not inspect.isfunction(member):
                    continue
                self._saved.append((cls, name, member))
                setattr(cls, name, self.wrap(category, member))

    def reset(self) -> None:
        self.totals.clear()
        self.calls.clear()

    def restore(self) -> None:
        for cls, name, member in reversed(self._saved):
            setattr(cls, name, member)
        self._saved.clear()


def patch_optuna(timers: Timers) -> None:
    """Time Optuna's storages, samplers and pruners (exclusive time, main thread only)."""
    import optuna
    from optuna.storages import _cached_storage

    from orchestrator.storage import BatchingStorage

    timers.patch(
        "storage",
        [
            BatchingStorage,  # the trial's writes, gathered by hpo's run, go out through it
            optuna.storages.BaseStorage,
            optuna.storages.RDBStorage,
            optuna.storages.JournalStorage,
            # private, and no public name serves: optuna.storages.get_storage wraps every
            # RDBStorage in it, and calls it answers from its cache never reach RDBStorage
            _cached_storage._CachedStorage,
        ],
    )
    timers.patch(
        "sampler",
        [optuna.samplers.BaseSampler, optuna.samplers.TPESampler, optuna.samplers.RandomSampler],
    )
    timers.patch(
        "pruner",
        [optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner, optuna.pruners.NopPruner],
    )


def patch_mlflow(timers: Timers) -> None:
    """Time what the main thread spends on MLflow (exclusive time): MLflow's client called
    there, and hpo's tracker asking its writer thread for writes or waiting on them (the writes
    themselves are made on that thread, while the main thread goes on)."""
    from mlflow import MlflowClient

    from orchestrator.tracking import TrialRun, Writer

    timers.patch("mlflow", [MlflowClient, Writer, TrialRun])
