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

__all__ = ["build_optimizer", "lr_at"]

logger = logging.getLogger(__name__)

WARMUP_START = 0.1  # warmup ramps linearly from lr * 0.1 to lr
ONECYCLE_DIV = 25.0  # onecycle starts at lr / 25 (as torch's OneCycleLR) ...
ONECYCLE_FINAL_DIV = 1e4  # ... and anneals to lr / 25 / 1e4


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
    """The optimizer ``config`` describes (its ``torch_class``) over ``params``.

    Weight decay applies to matrices and kernels (``dim >= 2``) only, never to biases or norm
    scales, as in nanoGPT. Adam and AdamW use the fused kernel where the device supports it.
    """
    import torch

    groups = _param_groups(params, config.weight_decay)
    cls = getattr(torch.optim, config.torch_class)
    options = {"lr": config.lr, **config.torch_options()}
    if config.fused:
        try:  # fused: ~1.2x faster on CPU; not every device or torch build has it
            return cls([dict(g) for g in groups], fused=True, **options)
        except (RuntimeError, TypeError, ValueError) as exc:
            logger.debug("fused %s unavailable (%s); using the default kernel", config.name, exc)
    return cls(groups, **options)


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
