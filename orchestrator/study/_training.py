"""Training one trial's configuration: once on the validation split, or once per fold of
``data.cv``, each epoch reported to MLflow, the progress line and Optuna's pruner."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.storage._optuna import flush_trial
from orchestrator.study._events import EpochEvent
from orchestrator.study._factories import prunes_from
from orchestrator.study._faults import MLFLOW, OPTUNA, store_call, user_code

if TYPE_CHECKING:
    import optuna

    from orchestrator.data import Splits
    from orchestrator.space import TrialConfig
    from orchestrator.study._setup import RunContext

__all__ = [
    "LIVE_SECONDS",
    "OOF_PREDICTIONS",
    "VAL_PREDICTIONS",
    "Progress",
    "Trained",
    "train_trial",
]

LIVE_SECONDS = 5.0  # a running trial's epochs reach the study storage at least this often
VAL_PREDICTIONS = "val_predictions.npy"  # a trial's best epoch on the validation split
OOF_PREDICTIONS = "oof_predictions.npy"  # with data.cv: out of fold, one per searched row


@dataclass
class Trained:
    """What training a trial's configuration gave: on one validation split, or the mean over
    cross-validation folds."""

    values: list[float]  # the objectives, as Optuna is told them
    best_state: dict[str, Any]  # weights saved as model.pt (the first fold's with cv)
    best_epoch: int
    epochs_run: int
    best_metrics: dict[str, float]
    n_parameters: int
    predictions: Any  # the best epoch's validation predictions (out-of-fold with cv)
    spread: dict[str, float] = field(default_factory=dict)  # with cv: each metric's std
    folds: int | None = None  # data.cv's K: the predictions are out of fold

    @property
    def predictions_file(self) -> str:
        """The artifact the predictions are stored as."""
        return OOF_PREDICTIONS if self.folds else VAL_PREDICTIONS


@dataclass
class Progress:
    """How far a trial got, for its end whatever ends it."""

    epochs: int = 0  # steps reported (epochs; with cv, epochs of every fold so far)
    last_value: float | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)  # the last epoch's


def train_trial(
    ctx: RunContext,
    trial: optuna.Trial,
    run: Any,
    config: TrialConfig,
    splits: Splits,
    *,
    seed: int,
    progress: Progress,
) -> Trained:
    """Train the configuration, reporting every epoch (to MLflow, the progress line and, with
    one objective, to Optuna's pruner).

    With ``data.cv: K`` each fold trains in turn, on the other folds, and the steps run on
    across folds (fold 2's first epoch is step ``epochs + 1``): every trial meets the same folds
    in the same order, so the pruner compares like with like. The objective is the mean over the
    folds of each fold's best epoch; the predictions are out of fold, one per searched row.
    """
    import numpy as np

    from orchestrator.data import cv_folds

    folds = config.data.cv
    if not folds:
        fitted, model = _fit(ctx, trial, run, config, splits, seed=seed, progress=progress)
        values = _objective_values(ctx, fitted, model, splits)
        return Trained(
            values=values,
            best_state=fitted.best_state,
            best_epoch=fitted.best_epoch,
            epochs_run=fitted.epochs_run,
            best_metrics=fitted.best_metrics,
            n_parameters=fitted.n_parameters,
            predictions=fitted.best_predictions,
        )
    parts = cv_folds(splits, folds, seed=ctx.space.study.seed)
    results, all_values, predictions = [], [], None
    for index, (fold, rows) in enumerate(parts):
        fitted, model = _fit(
            ctx,
            trial,
            run,
            config,
            fold,
            seed=seed + index,
            progress=progress,
            offset=index * config.train.epochs,
            fold=index + 1,
        )
        results.append(fitted)
        all_values.append(_objective_values(ctx, fitted, model, fold))
        if predictions is None:
            shape = (sum(len(r) for _, r in parts), *fitted.best_predictions.shape[1:])
            predictions = np.zeros(shape, dtype=np.float64)
        predictions[rows] = fitted.best_predictions
    keys = [k for k in results[0].best_metrics if all(k in r.best_metrics for r in results)]
    table = {k: [r.best_metrics[k] for r in results] for k in keys}
    return Trained(
        values=[float(np.mean(column)) for column in zip(*all_values, strict=True)],
        best_state=results[0].best_state,
        best_epoch=round(float(np.mean([r.best_epoch for r in results]))),
        epochs_run=sum(r.epochs_run for r in results),
        best_metrics={k: float(np.mean(v)) for k, v in table.items()},
        n_parameters=results[0].n_parameters,
        predictions=predictions,
        spread={k: float(np.std(v)) for k, v in table.items() if k in ctx.metrics},
        folds=folds,
    )


def _fit(
    ctx: RunContext,
    trial: optuna.Trial,
    run: Any,
    config: TrialConfig,
    splits: Splits,
    *,
    seed: int,
    progress: Progress,
    offset: int = 0,
    fold: int | None = None,
) -> tuple[Any, Any]:
    """One training of the configuration on ``splits``, its epochs reported at steps
    ``offset + epoch``; the fit's result and the model (at its last weights)."""
    import optuna

    from orchestrator.models import build_model
    from orchestrator.train import fit

    study, stop = ctx.study, ctx.stop
    multi = ctx.space.study.is_multi_objective
    prune_from = prunes_from(study.pruner)
    epochs = config.train.epochs * (config.data.cv or 1)
    flushed = [time.monotonic()]

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        step = offset + epoch
        progress.epochs, progress.last_value = step, metrics.get(ctx.metric)
        progress.last_metrics = dict(metrics)
        logged = metrics if fold is None else {**metrics, "fold": float(fold)}
        with store_call(MLFLOW):
            run.log_epoch(step, logged)
        if ctx.progress is not None:
            ctx.progress(EpochEvent(trial.number, step, epochs, dict(metrics)))
        stop.check_trial()
        if not multi:
            with store_call(OPTUNA):
                trial.report(metrics[ctx.metric], step)
                # never after the last epoch: it would save nothing, and a trial that ran
                # every epoch is complete (it ranks, and can win, by its value)
                prune = prune_from is not None and prune_from <= step < epochs
                prune = prune and trial.should_prune()
            if prune:
                raise optuna.TrialPruned(f"pruned at epoch {step}")
            if time.monotonic() - flushed[0] >= LIVE_SECONDS:
                # the learning curve so far reaches the storage while the trial runs:
                # optuna-dashboard and hpo studies show it live
                with store_call(OPTUNA):
                    flush_trial(study, trial)
                flushed[0] = time.monotonic()

    with user_code():
        model = build_model(config.model, splits.spec, seed=seed)
        fitted = fit(
            model,
            splits,
            config.train,
            device=ctx.device,
            precision=ctx.precision,
            seed=seed,
            metric=ctx.metric,
            direction=ctx.direction,
            callbacks=[on_epoch_end],
            on_step=stop.check_trial,
        )
    return fitted, model


def _objective_values(ctx: RunContext, fitted: Any, model: Any, splits: Splits) -> list[float]:
    from orchestrator.train import measure_latency

    values = []
    for metric in ctx.metrics:
        if metric == "n_parameters":
            values.append(float(fitted.n_parameters))
        elif metric == "latency_ms":
            latency = measure_latency(
                model,
                splits.val[0],
                device=ctx.device,
                precision=ctx.precision,
                prepare=splits.model_input,
            )
            values.append(latency)
        else:
            values.append(float(fitted.best_metrics[metric]))
    return values
