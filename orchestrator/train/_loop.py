"""The training loop: one model, one resolved :class:`TrainConfig`, reports through callbacks.

Written after nanoGPT's loop: data that fits lives on the device as tensors and batches are slices
of a per-epoch ``randperm`` (data that does not fit stays in host memory and each batch is copied
over); precision is decided once (:mod:`orchestrator.device`); the update step runs in a fixed
order (:mod:`._step`); learning-rate schedules are pure functions (:func:`lr_at`). Training
batches pass through the trial's augmentation (:mod:`orchestrator.augment`); evaluation never
does. :func:`fit` reads as its steps: check the metric, place the data, build the update step,
then per epoch train, score the validation split, keep the best epoch and ask early stopping.

The loop imports no search or tracking code: the study passes ``on_epoch_end`` callbacks, which
may raise (for example ``optuna.TrialPruned``) to stop a trial; such exceptions propagate
unchanged.

Expected failures of a trial become :class:`~orchestrator.errors.TrialFailure`: a non-finite loss
(``kind="nan"``), out of memory (``"oom"``), a model that cannot take the data (``"error"``).

torch is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.data import DataSpec
from orchestrator.device import grad_scaler, resolve_precision
from orchestrator.errors import TrialFailure
from orchestrator.models import count_parameters
from orchestrator.tasks import task_of
from orchestrator.train._evaluate import model_outputs
from orchestrator.train._failures import is_oom, probe_forward
from orchestrator.train._optim import build_optimizer, head_parameters
from orchestrator.train._state import state_to_save
from orchestrator.train._step import Batches, Updater, place_data

if TYPE_CHECKING:
    import torch

    from orchestrator.augment import Augmenter
    from orchestrator.config import TrainConfig
    from orchestrator.data import Splits
    from orchestrator.tasks import LossFunction, Task

__all__ = [
    "EpochCallback",
    "FitResult",
    "epoch_metrics",
    "fit",
    "seed_everything",
    "selectable_metrics",
]

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]  # on_epoch_end(epoch (1-based), metrics)


def epoch_metrics(spec: DataSpec) -> tuple[str, ...]:
    """The keys of every epoch's metrics for data of ``spec``'s task, in this order:
    ``train_loss`` (the mean over the epoch's batches of the training loss, label smoothing
    included), ``val_<metric>`` for each of the task's metrics (``val_loss`` is the plain loss,
    so that it compares across trials) and extras (a binary task's ``val_threshold``), ``lr``
    (the learning rate of the epoch's last step) and ``epoch_seconds`` (training plus
    validation)."""
    task = task_of(spec)
    scored = (*task.metric_names(spec), *task.extras)
    return ("train_loss", *(f"val_{m}" for m in scored), "lr", "epoch_seconds")


def selectable_metrics(spec: DataSpec) -> tuple[str, ...]:
    """What ``metric`` (the best epoch, early stopping) may be for data of ``spec``: the
    training loss and the task's validation metrics."""
    return ("train_loss", *task_of(spec).objectives(spec))


@dataclass
class FitResult:
    """What :func:`fit` returns. The model itself is left at its last epoch's weights."""

    history: list[dict[str, float]]  # one epoch_metrics() dict per epoch run
    best_epoch: int  # 1-based, by `metric`
    best_metrics: dict[str, float]
    # CPU copy of the best epoch's state_dict (or the part the model saves: see state_to_save)
    best_state: dict[str, Any] = field(repr=False)
    epochs_run: int
    stopped_early: bool
    n_parameters: int
    # the best epoch's predictions of the validation split (class probabilities, values):
    # what an ensemble of trials is built from
    best_predictions: Any = field(default=None, repr=False)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (every device's) global generators."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- training -------------------------------------------------------------------------------------


def fit(
    model: torch.nn.Module,
    splits: Splits,
    config: TrainConfig,
    *,
    device: torch.device | str,
    precision: str,
    seed: int,
    metric: str = "val_accuracy",
    direction: str = "maximize",
    callbacks: Sequence[EpochCallback] = (),
    on_step: Callable[[], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``splits.train`` and validate on ``splits.val`` after every epoch.

    Seed the global generators (:func:`seed_everything`) before building the model so that its
    initial weights are reproducible too; ``fit`` seeds them again for dropout and shuffling.

    Args:
        model: built for ``splits.spec``; moved to ``device`` and left at its last weights.
        splits: train and val tensors (the test split is not touched).
        config: epochs, batch size, gradient accumulation, optimizer (the head's learning rate
            may differ), schedule, clipping, early stopping.
        device: where to train.
        precision: ``auto``, ``32``, ``bf16-mixed`` or ``16-mixed``, resolved for ``device``.
        seed: shuffling and dropout.
        metric: one of :func:`selectable_metrics`: picks the best epoch and drives early
            stopping.
        direction: ``maximize`` or ``minimize`` ``metric``.
        callbacks: each called as ``callback(epoch, metrics)`` after every epoch; an exception
            raised by one stops training and propagates unchanged.
        on_step: called after every optimizer step (time limits, stop requests); an exception
            it raises stops training at that safe point and propagates unchanged.

    Raises:
        TrialFailure: non-finite loss (``nan``), out of memory (``oom``), or a model that fails on
            the data's shape (``error``).
        ConfigError: a precision the device cannot run.
        ValueError: an unknown ``metric`` or ``direction``.
    """
    import torch

    spec = splits.spec
    task = task_of(spec)
    sign = _sign(metric, direction, spec)
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    seed_everything(seed)

    model = model.to(device)
    n_parameters = count_parameters(model)
    augmenter = _augmenter(config, splits, seed=seed, device=device)
    data = place_data(splits, device)
    batches = Batches.of(len(data.y_train), config.batch_size)
    loss_fn = task.loss_function(config, spec, data.y_train)
    updater = _updater(model, config, loss_fn, device, precision, augmenter, on_step, splits)
    generator = torch.Generator().manual_seed(seed)
    # each batch's loss, read once per epoch: no per-step sync
    batch_losses = torch.zeros(batches.count, device=device)
    best = _Best()
    stopping = _EarlyStopping(config.early_stopping.patience, config.early_stopping.min_delta)
    history: list[dict[str, float]] = []
    stopped_early = False

    try:
        probe = splits.model_input(data.x_train[: min(batches.n, 2)].to(device))
        probe_forward(model, probe, device=device, precision=precision, spec=spec)
        model.train()
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(batches.n, generator=generator).to(data.home)
            lr = updater.train_epoch(
                epoch, data.x_train, data.y_train, perm, batches, batch_losses, data.resident
            )
            train_loss = _train_loss(batch_losses, batches, epoch)
            outputs = model_outputs(
                model, data.x_val, device=device, precision=precision, prepare=splits.model_input
            )
            val = _validation_scores(task, outputs, data.y_val, spec, epoch)
            metrics = {
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in task.epoch_values(val).items()},
                "lr": lr,
                "epoch_seconds": time.perf_counter() - t0,
            }
            history.append(metrics)
            logger.debug("epoch %d: %s", epoch, metrics)

            value = sign * metrics[metric]  # larger is better from here on
            if best.improves(value):
                best.keep(epoch, value, metrics, model, task.predictions(outputs, spec))
            for callback in callbacks:
                callback(epoch, dict(metrics))
            if stopping.exhausted(value) and epoch < config.epochs:
                stopped_early = True
                logger.debug("early stop at epoch %d (best %d)", epoch, best.epoch)
                break
    except Exception as exc:
        if isinstance(exc, TrialFailure) or not is_oom(exc):
            raise
        raise TrialFailure(
            f"out of memory on {device} at train.batch_size={config.batch_size} with "
            f"{n_parameters:,} parameters; lower train.batch_size or the model size",
            kind="oom",
        ) from exc

    return FitResult(
        history=history,
        best_epoch=best.epoch,
        best_metrics=best.metrics,
        best_state=best.state,
        epochs_run=len(history),
        stopped_early=stopped_early,
        n_parameters=n_parameters,
        best_predictions=best.predictions,
    )


# --- the steps of fit -----------------------------------------------------------------------------


def _sign(metric: str, direction: str, spec: DataSpec) -> float:
    """+1 to maximise ``metric``, -1 to minimise it, once both are known to be valid."""
    selectable = selectable_metrics(spec)
    if metric not in selectable:
        raise ValueError(f"metric: unknown {metric!r}; valid: {', '.join(selectable)}")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction: must be maximize or minimize, got {direction!r}")
    return 1.0 if direction == "maximize" else -1.0


def _augmenter(
    config: TrainConfig, splits: Splits, *, seed: int, device: torch.device
) -> Augmenter | None:
    """The trial's augmentation of training batches, or None when every change is off."""
    from orchestrator.augment import Augmenter, active

    if not active(config.augment):
        return None
    return Augmenter(config.augment, splits.spec.kind, seed=seed + 1, device=device)


def _updater(
    model: torch.nn.Module,
    config: TrainConfig,
    loss_fn: LossFunction,
    device: torch.device,
    precision: str,
    augmenter: Augmenter | None,
    on_step: Callable[[], None] | None,
    splits: Splits,
) -> Updater:
    """The update step's optimizer (the head's learning rate may differ) and gradient scaler,
    for a model already on ``device``; its batches enter the model through ``splits``'
    :meth:`~orchestrator.data.Splits.model_input`."""
    return Updater(
        model=model,
        optimizer=build_optimizer(
            model.parameters(),
            config.optimizer,
            head=head_parameters(model) if config.head_lr_factor != 1 else (),
            head_lr_factor=config.head_lr_factor,
        ),
        scaler=grad_scaler(device, precision),
        loss_fn=loss_fn,
        augmenter=augmenter,
        config=config,
        device=device,
        precision=precision,
        prepare=splits.model_input,
        on_step=on_step,
    )


def _train_loss(losses: torch.Tensor, batches: Batches, epoch: int) -> float:
    """The epoch's mean training loss over its rows; a non-finite batch loss fails the trial."""
    import torch

    losses = losses.double().cpu()
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        first = int(bad[0])
        raise TrialFailure(
            f"loss became {_word(losses[first].item())} at epoch {epoch}, "
            f"batch {first + 1}; lower train.optimizer.lr or set train.grad_clip",
            kind="nan",
        )
    return float((losses * batches.weights).sum() / batches.weights.sum())


def _validation_scores(
    task: Task, outputs: torch.Tensor, y_val: torch.Tensor, spec: DataSpec, epoch: int
) -> dict[str, Any]:
    """The task's scores of the validation outputs; a non-finite loss fails the trial."""
    val = task.score(outputs, y_val.cpu(), spec)
    if not math.isfinite(val["loss"]):
        raise TrialFailure(
            f"validation loss became {_word(val['loss'])} at epoch {epoch}; "
            "lower train.optimizer.lr or set train.grad_clip",
            kind="nan",
        )
    return val


@dataclass
class _Best:
    """The best epoch so far, by the signed metric (larger is better)."""

    value: float = -math.inf
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    predictions: Any = None

    def improves(self, value: float) -> bool:
        return value > self.value

    def keep(
        self, epoch: int, value: float, metrics: dict[str, float], model: Any, predictions: Any
    ) -> None:
        self.value, self.epoch, self.metrics = value, epoch, dict(metrics)
        self.state = state_to_save(model)  # a CPU copy
        self.predictions = predictions


@dataclass
class _EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of more than ``min_delta`` over the
    last value that had one; ``patience`` None never stops."""

    patience: int | None
    min_delta: float
    reference: float = -math.inf
    waited: int = 0

    def exhausted(self, value: float) -> bool:
        """Count this epoch's ``value``; whether the patience has run out."""
        if self.patience is None:
            return False
        if value - self.reference > self.min_delta:
            self.reference, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def _word(value: float) -> str:
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
