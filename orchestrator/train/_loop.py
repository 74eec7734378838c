"""The training loop: one model, one resolved :class:`TrainConfig`, reports through callbacks.

Written after nanoGPT's loop: data that fits lives on the device as tensors and batches are slices
of a per-epoch ``randperm`` (data that does not fit stays in host memory and each batch is copied
over); precision is decided once (:mod:`orchestrator.device`); the update step runs in a fixed
order; learning-rate schedules are pure functions (:func:`lr_at`). Training batches pass through
the trial's augmentation (:mod:`orchestrator.augment`); evaluation never does. The loop imports no
search or tracking code: the study passes ``on_epoch_end`` callbacks, which may raise (for example
``optuna.TrialPruned``) to stop a trial; such exceptions propagate unchanged.

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
from orchestrator.device import autocast, grad_scaler, resolve_precision
from orchestrator.errors import TrialFailure
from orchestrator.models import count_parameters
from orchestrator.tasks import task_of
from orchestrator.train._evaluate import model_outputs
from orchestrator.train._failures import is_oom, probe_forward
from orchestrator.train._optim import build_optimizer, head_parameters, lr_at, set_lr
from orchestrator.train._state import state_to_save

if TYPE_CHECKING:
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import Splits

__all__ = [
    "EpochCallback",
    "FitResult",
    "data_fits",
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


DATA_MEMORY_SHARE = 0.5  # data goes on a GPU if it takes at most this share of its free memory


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


def data_fits(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of data should live on ``device``: always on the CPU and MPS (unified
    memory), on a GPU if it takes at most :data:`DATA_MEMORY_SHARE` of the free memory."""
    import torch

    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DATA_MEMORY_SHARE * free


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
    from torch import nn

    spec = splits.spec
    task = task_of(spec)
    selectable = selectable_metrics(spec)
    if metric not in selectable:
        raise ValueError(f"metric: unknown {metric!r}; valid: {', '.join(selectable)}")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction: must be maximize or minimize, got {direction!r}")
    sign = 1.0 if direction == "maximize" else -1.0
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    seed_everything(seed)

    from orchestrator.augment import Augmenter, active

    model = model.to(device)
    n_parameters = count_parameters(model)
    augmenter = (
        Augmenter(config.augment, splits.spec.kind, seed=seed + 1, device=device)
        if active(config.augment)
        else None
    )
    nbytes = sum(t.nbytes for t in (*splits.train, *splits.val))
    resident = data_fits(nbytes, device)
    home = device if resident else torch.device("cpu")  # where the data lives
    if not resident:
        logger.info(
            "data (%.1f GB) does not fit on %s: batches are copied from host memory",
            nbytes / 1e9,
            device,
        )
    x_train, y_train = (t.to(home) for t in splits.train)
    x_val, y_val = (t.to(home) for t in splits.val)
    n = len(y_train)
    batch_size = config.batch_size
    n_batches = math.ceil(n / batch_size)
    if n % batch_size == 1 and n_batches > 1:
        n_batches -= 1  # a final batch of one sample would break BatchNorm; it is left out
    batch_weights = torch.tensor(
        [min(batch_size, n - b * batch_size) for b in range(n_batches)], dtype=torch.float64
    )

    optimizer = build_optimizer(
        model.parameters(),
        config.optimizer,
        head=head_parameters(model) if config.head_lr_factor != 1 else (),
        head_lr_factor=config.head_lr_factor,
    )
    accumulate = config.gradient_accumulation  # batches per optimizer step
    scaler = grad_scaler(device, precision)
    loss_fn = task.loss_function(config, spec, y_train)
    generator = torch.Generator().manual_seed(seed)
    batch_losses = torch.zeros(n_batches, device=device)  # read once per epoch: no per-step sync
    patience = config.early_stopping.patience
    min_delta = config.early_stopping.min_delta

    history: list[dict[str, float]] = []
    best_value = -math.inf
    best_epoch = 0
    best_metrics: dict[str, float] = {}
    best_state: dict[str, Any] = {}
    best_predictions = None
    reference = -math.inf  # early stopping: the last value that improved by more than min_delta
    waited = 0
    stopped_early = False

    try:
        probe = x_train[: min(n, 2)].to(device)
        probe_forward(model, probe, device=device, precision=precision, spec=spec)
        model.train()
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=generator).to(home)
            lr = config.optimizer.lr
            for b in range(n_batches):
                # the optimizer steps after every `accumulate` batches and after the epoch's last
                first = b - b % accumulate
                group_size = min(accumulate, n_batches - first)
                steps = b == first + group_size - 1
                lr = lr_at(
                    epoch - 1 + b / n_batches,
                    base_lr=config.optimizer.lr,
                    schedule=config.schedule,
                    epochs=config.epochs,
                )
                set_lr(optimizer, lr)  # the head's group at head_lr_factor times lr
                idx = perm[b * batch_size : (b + 1) * batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if not resident:
                    xb = xb.to(device, non_blocking=True)
                    yb = yb.to(device, non_blocking=True)
                mix = None
                if augmenter is not None:
                    # 0. augment the batch on the device (training only)
                    if augmenter.transforms_inputs:
                        xb = augmenter(xb)
                    if augmenter.mixes:
                        mix = augmenter.mixup(len(yb))

                # 1. forward and loss under autocast (a no-op for "32")
                with autocast(device, precision):
                    if mix is None:
                        loss = loss_fn(model(xb), yb)
                    else:  # mixup: the loss is mixed as the samples are
                        assert augmenter is not None
                        lam, partner = mix
                        with augmenter.mixing(model, xb, lam, partner) as mixed:
                            logits = model(mixed)
                        loss = lam * loss_fn(logits, yb) + (1 - lam) * loss_fn(logits, yb[partner])
                # 2. backward, on the scaled loss for 16-mixed (the scaler passes through
                # otherwise); gradients add up over the batches of one optimizer step
                scaler.scale(loss / group_size).backward()
                batch_losses[b] = loss.detach()
                if not steps:
                    continue
                # 3. unscale, so that clipping sees the true gradient norm
                scaler.unscale_(optimizer)
                # 4. clip
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                # 5. step (the scaler skips it when float16 gradients overflowed)
                scaler.step(optimizer)
                # 6. update the loss scale
                scaler.update()
                # 7. drop the gradients
                optimizer.zero_grad(set_to_none=True)
                if on_step is not None:
                    on_step()

            losses = batch_losses.double().cpu()
            bad = (~torch.isfinite(losses)).nonzero()
            if len(bad):
                first = int(bad[0])
                raise TrialFailure(
                    f"loss became {_word(losses[first].item())} at epoch {epoch}, "
                    f"batch {first + 1}; lower train.optimizer.lr or set train.grad_clip",
                    kind="nan",
                )
            train_loss = float((losses * batch_weights).sum() / batch_weights.sum())

            outputs = model_outputs(model, x_val, device=device, precision=precision)
            val = task.score(outputs, y_val.cpu(), spec)
            if not math.isfinite(val["loss"]):
                raise TrialFailure(
                    f"validation loss became {_word(val['loss'])} at epoch {epoch}; "
                    "lower train.optimizer.lr or set train.grad_clip",
                    kind="nan",
                )
            metrics = {
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in task.epoch_values(val).items()},
                "lr": lr,
                "epoch_seconds": time.perf_counter() - t0,
            }
            history.append(metrics)
            logger.debug("epoch %d: %s", epoch, metrics)

            value = sign * metrics[metric]  # larger is better from here on
            if value > best_value:
                best_value, best_epoch, best_metrics = value, epoch, dict(metrics)
                best_state = state_to_save(model)
                best_predictions = task.predictions(outputs, spec)

            for callback in callbacks:
                callback(epoch, dict(metrics))

            if patience is not None:
                if value - reference > min_delta:
                    reference, waited = value, 0
                else:
                    waited += 1
                    if waited >= patience and epoch < config.epochs:
                        stopped_early = True
                        logger.debug("early stop at epoch %d (best %d)", epoch, best_epoch)
                        break
    except Exception as exc:
        if isinstance(exc, TrialFailure) or not is_oom(exc):
            raise
        raise TrialFailure(
            f"out of memory on {device} at train.batch_size={batch_size} with "
            f"{n_parameters:,} parameters; lower train.batch_size or the model size",
            kind="oom",
        ) from exc

    return FitResult(
        history=history,
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        best_state=best_state,
        epochs_run=len(history),
        stopped_early=stopped_early,
        n_parameters=n_parameters,
        best_predictions=best_predictions,
    )


def _word(value: float) -> str:
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
