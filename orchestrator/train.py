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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.device import autocast, grad_scaler, resolve_precision
from orchestrator.errors import TrialFailure
from orchestrator.models import count_parameters

if TYPE_CHECKING:
    import torch

    from orchestrator.config import OptimizerConfig, ScheduleConfig, TrainConfig
    from orchestrator.data import Splits

__all__ = [
    "EPOCH_METRICS",
    "EpochCallback",
    "FitResult",
    "build_optimizer",
    "data_fits",
    "evaluate",
    "fit",
    "lr_at",
    "seed_everything",
]

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]  # on_epoch_end(epoch (1-based), metrics)

# the keys of every epoch's metrics, in this order
EPOCH_METRICS = (
    "train_loss",  # mean over the epoch's batches, with label smoothing
    "val_loss",  # plain cross-entropy (no label smoothing), so it compares across trials
    "val_accuracy",
    "val_precision",  # macro averages over all classes, zero_division=0
    "val_recall",
    "val_f1",
    "lr",  # the learning rate of the epoch's last step
    "epoch_seconds",  # training plus validation
)
SELECTABLE_METRICS = EPOCH_METRICS[:6]  # what `metric` (best epoch, early stopping) may be

WARMUP_START = 0.1  # warmup ramps linearly from lr * 0.1 to lr
ONECYCLE_DIV = 25.0  # onecycle starts at lr / 25 (as torch's OneCycleLR) ...
ONECYCLE_FINAL_DIV = 1e4  # ... and anneals to lr / 25 / 1e4
EVAL_BATCH_SIZE = 1024  # samples per forward pass during evaluation
DATA_MEMORY_SHARE = 0.5  # data goes on a GPU if it takes at most this share of its free memory


@dataclass
class FitResult:
    """What :func:`fit` returns. The model itself is left at its last epoch's weights."""

    history: list[dict[str, float]]  # one EPOCH_METRICS dict per epoch run
    best_epoch: int  # 1-based, by `metric`
    best_metrics: dict[str, float]
    best_state: dict[str, Any] = field(repr=False)  # CPU copy of the best epoch's state_dict
    epochs_run: int
    stopped_early: bool
    n_parameters: int


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (every device's) global generators."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- learning rate --------------------------------------------------------------------------------


def lr_at(epoch: float, *, base_lr: float, schedule: ScheduleConfig, epochs: int) -> float:
    """The learning rate at a fractional epoch (``2.5`` = halfway through the third epoch).

    A linear warmup from ``base_lr * 0.1`` over ``schedule.warmup_epochs`` comes first; the
    schedule then runs over the remaining epochs:

    - ``none``: constant ``base_lr``;
    - ``cosine``: half a cosine from ``base_lr`` down to ``base_lr * min_lr_ratio`` at the end;
    - ``step``: times ``gamma`` every ``step_size`` epochs;
    - ``onecycle``: cosine rise from ``base_lr / 25`` to ``base_lr`` over the first ``pct_start``,
      then cosine decay to ``base_lr / 25 / 1e4`` (the shape of torch's ``OneCycleLR``).

    Raises:
        ValueError: an unknown schedule name.
    """
    warm = schedule.warmup_epochs
    if warm and epoch < warm:
        return base_lr * (WARMUP_START + (1 - WARMUP_START) * max(epoch, 0.0) / warm)
    since = epoch - warm  # epochs since the warmup ended
    span = epochs - warm
    progress = min(max(since / span, 0.0), 1.0) if span > 0 else 1.0

    if schedule.name == "none":
        return base_lr
    if schedule.name == "cosine":
        floor = base_lr * schedule.min_lr_ratio
        return floor + (base_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule.name == "step":
        return base_lr * schedule.gamma ** math.floor(max(since, 0.0) / schedule.step_size)
    if schedule.name == "onecycle":
        start = base_lr / ONECYCLE_DIV
        end = start / ONECYCLE_FINAL_DIV
        if progress < schedule.pct_start:
            rise = progress / schedule.pct_start
            return start + (base_lr - start) * 0.5 * (1 - math.cos(math.pi * rise))
        fall = (progress - schedule.pct_start) / (1 - schedule.pct_start)
        return end + (base_lr - end) * 0.5 * (1 + math.cos(math.pi * fall))
    raise ValueError(
        f"train.schedule.name: unknown schedule {schedule.name!r}; "
        "valid: none, cosine, step, onecycle"
    )


# --- optimizer ------------------------------------------------------------------------------------


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: OptimizerConfig
) -> torch.optim.Optimizer:
    """The optimizer ``config.name`` over ``params``.

    Weight decay applies to matrices and kernels (``dim >= 2``) only, never to biases or norm
    scales, as in nanoGPT. Adam and AdamW use the fused kernel where the device supports it.

    Raises:
        ValueError: an unknown optimizer name.
    """
    import torch

    groups = _param_groups(params, config.weight_decay)
    if config.name == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
        )
    if config.name in ("adam", "adamw"):
        cls = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
        betas = (config.beta1, config.beta2)
        try:  # fused: ~1.2x on CPU (FACTS.md); not every device or torch build has it
            return cls([dict(g) for g in groups], lr=config.lr, betas=betas, fused=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            logger.debug("fused %s unavailable (%s); using the default kernel", config.name, exc)
            return cls(groups, lr=config.lr, betas=betas)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=config.lr, alpha=config.alpha, momentum=config.momentum
        )
    raise ValueError(
        f"train.optimizer.name: unknown optimizer {config.name!r}; valid: sgd, adam, adamw, rmsprop"
    )


def _param_groups(
    params: Iterable[torch.nn.Parameter], weight_decay: float
) -> list[dict[str, Any]]:
    params = [p for p in params if p.requires_grad]
    if weight_decay == 0:
        return [{"params": params, "weight_decay": 0.0}]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


# --- evaluation -----------------------------------------------------------------------------------


def evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device | str,
    precision: str = "32",
    batch_size: int = EVAL_BATCH_SIZE,
    num_classes: int,
    label_smoothing: float = 0.0,
) -> dict[str, Any]:
    """Loss and classification metrics of ``model`` on ``(x, y)``, without gradients.

    Returns:
        ``loss`` (mean cross-entropy), ``accuracy``, macro ``precision``/``recall``/``f1`` over
        classes ``0..num_classes-1`` (zero_division=0), ``per_class_precision``/``_recall``/``_f1``
        lists, and ``confusion_matrix`` (rows: true class, columns: predicted).

    Raises:
        ValueError: no samples.
    """
    import torch
    import torch.nn.functional as F

    n = len(y)
    if n == 0:
        raise ValueError("evaluate: got no samples")
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    total_loss = torch.zeros((), device=device)
    predictions = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = y[start : start + batch_size].to(device, non_blocking=True)
            with autocast(device, precision):
                logits = model(xb)
            logits = logits.float()
            total_loss += F.cross_entropy(
                logits, yb, reduction="sum", label_smoothing=label_smoothing
            )
            predictions.append(logits.argmax(dim=1))
    model.train(was_training)

    pred = torch.cat(predictions).cpu()
    true = y.cpu()
    # rows: true class, columns: predicted (sklearn's layout); on the cpu, where it is deterministic
    cm = torch.bincount(true * num_classes + pred, minlength=num_classes**2)
    return {"loss": total_loss.item() / n, **_classification_metrics(cm.view(num_classes, -1))}


def _classification_metrics(cm: torch.Tensor) -> dict[str, Any]:
    """Accuracy and per-class/macro precision, recall and F1 from a confusion matrix.

    The same numbers as ``sklearn.metrics.precision_recall_fscore_support(..., labels=range(K),
    zero_division=0)`` (macro = unweighted mean over all K classes), at a fraction of its cost
    per epoch (~0.1 ms instead of ~6 ms for 270 samples).
    """
    import torch

    cm = cm.double().cpu()
    hits = cm.diagonal()
    predicted = cm.sum(dim=0)  # per class: how often it was predicted
    actual = cm.sum(dim=1)  # per class: how often it is the true class
    precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, hits / actual.clamp(min=1), 0.0)
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-300), 0.0)
    return {
        "accuracy": float(hits.sum() / cm.sum()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "confusion_matrix": cm.long().tolist(),
    }


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
        config: epochs, batch size, optimizer, schedule, clipping, early stopping.
        device: where to train.
        precision: ``auto``, ``32``, ``bf16-mixed`` or ``16-mixed``, resolved for ``device``.
        seed: shuffling and dropout.
        metric: one of :data:`SELECTABLE_METRICS`: picks the best epoch and drives early stopping.
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

    if metric not in SELECTABLE_METRICS:
        raise ValueError(f"metric: unknown {metric!r}; valid: {', '.join(SELECTABLE_METRICS)}")
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
    num_classes = splits.spec.num_classes
    n = len(y_train)
    batch_size = config.batch_size
    n_batches = math.ceil(n / batch_size)
    if n % batch_size == 1 and n_batches > 1:
        n_batches -= 1  # a final batch of one sample would break BatchNorm; it is left out
    batch_weights = torch.tensor(
        [min(batch_size, n - b * batch_size) for b in range(n_batches)], dtype=torch.float64
    )

    optimizer = build_optimizer(model.parameters(), config.optimizer)
    scaler = grad_scaler(device, precision)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    generator = torch.Generator().manual_seed(seed)
    batch_losses = torch.zeros(n_batches, device=device)  # read once per epoch: no per-step sync
    patience = config.early_stopping.patience
    min_delta = config.early_stopping.min_delta

    history: list[dict[str, float]] = []
    best_value = -math.inf
    best_epoch = 0
    best_metrics: dict[str, float] = {}
    best_state: dict[str, Any] = {}
    reference = -math.inf  # early stopping: the last value that improved by more than min_delta
    waited = 0
    stopped_early = False

    try:
        _probe_forward(model, x_train[: min(n, 2)].to(device), device, precision, num_classes)
        model.train()
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=generator).to(home)
            lr = config.optimizer.lr
            for b in range(n_batches):
                lr = lr_at(
                    epoch - 1 + b / n_batches,
                    base_lr=config.optimizer.lr,
                    schedule=config.schedule,
                    epochs=config.epochs,
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
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
                # 2. backward, on the scaled loss for 16-mixed (the scaler passes through otherwise)
                scaler.scale(loss).backward()
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
                batch_losses[b] = loss.detach()
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

            val = evaluate(
                model, x_val, y_val, device=device, precision=precision, num_classes=num_classes
            )
            if not math.isfinite(val["loss"]):
                raise TrialFailure(
                    f"validation loss became {_word(val['loss'])} at epoch {epoch}; "
                    "lower train.optimizer.lr or set train.grad_clip",
                    kind="nan",
                )
            metrics = {
                "train_loss": train_loss,
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_precision": val["precision"],
                "val_recall": val["recall"],
                "val_f1": val["f1"],
                "lr": lr,
                "epoch_seconds": time.perf_counter() - t0,
            }
            history.append(metrics)
            logger.debug("epoch %d: %s", epoch, metrics)

            value = sign * metrics[metric]  # larger is better from here on
            if value > best_value:
                best_value, best_epoch, best_metrics = value, epoch, dict(metrics)
                best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                }

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
        if isinstance(exc, TrialFailure) or not _is_oom(exc):
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
    )


def _probe_forward(
    model: torch.nn.Module, x: torch.Tensor, device: torch.device, precision: str, num_classes: int
) -> None:
    """One forward pass on a couple of samples, so that a model that cannot take the data fails
    with the reason before training starts."""
    import torch

    model.eval()
    try:
        with torch.inference_mode(), autocast(device, precision):
            out = model(x)
    except RuntimeError as exc:
        if _is_oom(exc):
            raise
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        raise TrialFailure(
            f"model failed on input of shape {tuple(x.shape)}: {first_line}", kind="error"
        ) from exc
    finally:
        model.train()
    if tuple(out.shape) != (len(x), num_classes):
        raise TrialFailure(
            f"model output has shape {tuple(out.shape)} for input of shape {tuple(x.shape)}; "
            f"expected ({len(x)}, {num_classes}): one logit per class",
            kind="error",
        )


def _is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeErrors the CPU and MPS allocators raise."""
    import torch

    types = tuple(
        t
        for t in (
            getattr(torch, "OutOfMemoryError", None),
            getattr(torch.cuda, "OutOfMemoryError", None),
        )
        if isinstance(t, type)
    )
    if types and isinstance(exc, types):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def _word(value: float) -> str:
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
