"""Optimizers and learning-rate schedules.

:func:`build_optimizer` builds the optimizer a :class:`~orchestrator.config.OptimizerConfig` names,
with weight decay on matrices only; :func:`lr_at` is the schedule as a pure function of the
(fractional) epoch, which the loop applies before every step. torch is imported where used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from orchestrator.config import OptimizerConfig, ScheduleConfig

__all__ = ["build_optimizer", "head_parameters", "lr_at", "set_lr"]

logger = logging.getLogger(__name__)

WARMUP_START = 0.1  # warmup ramps linearly from lr * 0.1 to lr
ONECYCLE_DIV = 25.0  # onecycle starts at lr / 25 (as torch's OneCycleLR) ...
ONECYCLE_FINAL_DIV = 1e4  # ... and anneals to lr / 25 / 1e4


# --- learning rate --------------------------------------------------------------------------------


def lr_at(epoch: float, *, base_lr: float, schedule: ScheduleConfig, epochs: int) -> float:
    """The learning rate at a fractional epoch (``2.5`` = halfway through the third epoch).

    A linear warmup comes first, over ``schedule.warmup_epochs`` or ``warmup_fraction`` of all
    ``epochs``: from ``base_lr * 0.1`` (from 0 for ``linear``, as Transformers' schedule); the
    schedule then runs over the remaining epochs:

    - ``none``: constant ``base_lr``;
    - ``cosine``: half a cosine from ``base_lr`` down to ``base_lr * min_lr_ratio`` at the end;
    - ``step``: times ``gamma`` every ``step_size`` epochs;
    - ``onecycle``: cosine rise from ``base_lr / 25`` to ``base_lr`` over the first ``pct_start``,
      then cosine decay to ``base_lr / 25 / 1e4`` (the shape of torch's ``OneCycleLR``);
    - ``linear``: straight down from ``base_lr`` to 0 at the end (Transformers'
      ``get_linear_schedule_with_warmup``, the usual schedule for fine-tuning).

    Raises:
        ValueError: an unknown schedule name.
    """
    warm = schedule.warmup_epochs or schedule.warmup_fraction * epochs
    if warm and epoch < warm:
        start = 0.0 if schedule.name == "linear" else WARMUP_START
        return base_lr * (start + (1 - start) * max(epoch, 0.0) / warm)
    since = epoch - warm  # epochs since the warmup ended
    span = epochs - warm
    progress = min(max(since / span, 0.0), 1.0) if span > 0 else 1.0

    if schedule.name == "none":
        return base_lr
    if schedule.name == "linear":
        return base_lr * (1 - progress)
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
        "valid: none, cosine, step, onecycle, linear"
    )


# --- optimizer ------------------------------------------------------------------------------------


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    config: OptimizerConfig,
    *,
    head: Iterable[torch.nn.Parameter] = (),
    head_lr_factor: float = 1.0,
) -> torch.optim.Optimizer:
    """The optimizer ``config`` describes (its ``torch_class``) over ``params``.

    Weight decay applies to matrices and kernels (``dim >= 2``) only, never to biases or norm
    scales, as in nanoGPT. Adam and AdamW use the fused kernel where the device supports it.
    Each parameter group carries ``lr_factor``: the multiple of the schedule's learning rate it
    trains at, ``head_lr_factor`` for the parameters in ``head`` (also among ``params``), 1 for
    the others (see :func:`set_lr`).
    """
    import torch

    params = [p for p in params if p.requires_grad]
    in_head = {id(p) for p in head} if head_lr_factor != 1 else set()
    groups = [
        {**group, "lr": config.lr * factor, "lr_factor": factor}
        for factor, part in (
            (1.0, [p for p in params if id(p) not in in_head]),
            (head_lr_factor, [p for p in params if id(p) in in_head]),
        )
        for group in _param_groups(part, config.weight_decay)
        if part
    ]
    cls = getattr(torch.optim, config.torch_class)
    options = {"lr": config.lr, **config.torch_options()}
    if config.fused:
        try:  # fused: ~1.2x faster on CPU; not every device or torch build has it
            return cls([dict(g) for g in groups], fused=True, **options)
        except (RuntimeError, TypeError, ValueError) as exc:
            logger.debug("fused %s unavailable (%s); using the default kernel", config.name, exc)
    return cls(groups, **options)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group to ``lr`` times its ``lr_factor``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_factor", 1.0)


def head_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of a model's classifier head, for ``train.head_lr_factor``.

    The model's own ``head_parameters()`` if it has one (a pretrained model's newly initialised
    layers), else its ``head`` module (hpo's families), else its last ``nn.Linear``.
    """
    from torch import nn

    own = getattr(model, "head_parameters", None)
    if callable(own):
        return list(own())
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module):
        head = next((m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
    return list(head.parameters()) if head is not None else []


def _param_groups(params: list[torch.nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    if weight_decay == 0:
        return [{"params": params, "weight_decay": 0.0}]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]
