"""One epoch of the update step: forward, loss, backward, clip, step, in a fixed order; and
where the data it reads lives (:func:`place_data`: on the device if it fits there).

:func:`train_epoch` is the inner loop of :func:`~orchestrator.train.fit`: the batches of one epoch
(slices of a per-epoch permutation), each made float by the data's ``model_input`` on the device,
then through the trial's augmentation, under autocast, with gradients accumulated over
``gradient_accumulation`` batches per optimizer step. It keeps each
batch's loss on the device (read once per epoch by the loop: no per-step sync).

torch is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.device import autocast
from orchestrator.train._optim import lr_at, set_lr

if TYPE_CHECKING:
    import torch

    from orchestrator.augment import Augmenter
    from orchestrator.config import TrainConfig
    from orchestrator.data import Splits
    from orchestrator.tasks import LossFunction

__all__ = ["DATA_MEMORY_SHARE", "Batches", "Placed", "Updater", "data_fits", "place_data"]

logger = logging.getLogger(__name__)

DATA_MEMORY_SHARE = 0.5  # data goes on a GPU if it takes at most this share of its free memory


def data_fits(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of data should live on ``device``: always on the CPU and MPS (unified
    memory), on a GPU if it takes at most :data:`DATA_MEMORY_SHARE` of the free memory."""
    import torch

    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DATA_MEMORY_SHARE * free


@dataclass(frozen=True)
class Placed:
    """The train and val tensors where the loop reads them, and whether that is the device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    home: torch.device  # where the data lives
    resident: bool  # on the training device: batches need no copy


def place_data(splits: Splits, device: torch.device) -> Placed:
    """Move the train and val splits onto ``device`` if they fit there (:func:`data_fits`), else
    keep them in host memory, from where each batch is copied over."""
    import torch

    nbytes = sum(t.nbytes for t in (*splits.train, *splits.val))
    resident = data_fits(nbytes, device)
    home = device if resident else torch.device("cpu")
    if not resident:
        logger.info(
            "data (%.1f GB) does not fit on %s: batches are copied from host memory",
            nbytes / 1e9,
            device,
        )
    x_train, y_train = (t.to(home) for t in splits.train)
    x_val, y_val = (t.to(home) for t in splits.val)
    return Placed(x_train, y_train, x_val, y_val, home=home, resident=resident)


@dataclass(frozen=True)
class Batches:
    """How an epoch's ``n`` training rows fall into batches of ``size``."""

    n: int
    size: int
    count: int
    weights: torch.Tensor  # each batch's row count (float64): the epoch's mean loss weighs by it

    @classmethod
    def of(cls, n: int, size: int) -> Batches:
        import torch

        count = math.ceil(n / size)
        if n % size == 1 and count > 1:
            count -= 1  # a final batch of one sample would break BatchNorm; it is left out
        weights = torch.tensor([min(size, n - b * size) for b in range(count)], dtype=torch.float64)
        return cls(n=n, size=size, count=count, weights=weights)


@dataclass
class Updater:
    """What the update step needs, built once per :func:`~orchestrator.train.fit`."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: Any  # torch.amp.GradScaler, a pass-through unless precision is 16-mixed
    loss_fn: LossFunction  # the task's
    augmenter: Augmenter | None
    config: TrainConfig
    device: torch.device
    precision: str
    # a batch as the model takes it (Splits.model_input: uint8 pixels become float)
    prepare: Callable[[torch.Tensor], torch.Tensor]
    on_step: Callable[[], None] | None = None

    def train_epoch(
        self,
        epoch: int,
        x: torch.Tensor,
        y: torch.Tensor,
        perm: torch.Tensor,
        batches: Batches,
        losses: torch.Tensor,
        resident: bool,
    ) -> float:
        """Train one epoch (1-based) over the rows of ``perm`` in order, writing each batch's
        loss into ``losses``; return the learning rate of the epoch's last step."""
        config = self.config
        accumulate = config.gradient_accumulation  # batches per optimizer step
        lr = config.optimizer.lr
        for b in range(batches.count):
            # the optimizer steps after every `accumulate` batches and after the epoch's last
            first = b - b % accumulate
            group_size = min(accumulate, batches.count - first)
            lr = lr_at(
                epoch - 1 + b / batches.count,
                base_lr=config.optimizer.lr,
                schedule=config.schedule,
                epochs=config.epochs,
            )
            set_lr(self.optimizer, lr)  # the head's group at head_lr_factor times lr
            idx = perm[b * batches.size : (b + 1) * batches.size]
            xb, yb = x[idx], y[idx]
            if not resident:
                xb = xb.to(self.device, non_blocking=True)
                yb = yb.to(self.device, non_blocking=True)
            loss = self.forward_backward(self.prepare(xb), yb, group_size)
            losses[b] = loss.detach()
            if b == first + group_size - 1:
                self.step()
        return lr

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor, group_size: int) -> torch.Tensor:
        """Steps 0 to 2 on one batch: augment, forward and loss, backward; return the loss."""
        augmenter = self.augmenter
        mix = None
        if augmenter is not None:
            # 0. augment the batch on the device (training only)
            if augmenter.transforms_inputs:
                xb = augmenter(xb)
            if augmenter.mixes:
                mix = augmenter.mixup(len(yb))

        loss_fn = self.loss_fn
        # 1. forward and loss under autocast (a no-op for "32")
        with autocast(self.device, self.precision):
            if mix is None:
                loss = loss_fn(self.model(xb), yb)
            else:  # mixup: the loss is mixed as the samples are
                assert augmenter is not None
                lam, partner = mix
                with augmenter.mixing(self.model, xb, lam, partner) as mixed:
                    logits = self.model(mixed)
                loss = lam * loss_fn(logits, yb) + (1 - lam) * loss_fn(logits, yb[partner])
        # 2. backward, on the scaled loss for 16-mixed (the scaler passes through otherwise);
        # gradients add up over the batches of one optimizer step
        self.scaler.scale(loss / group_size).backward()
        return loss

    def step(self) -> None:
        """Steps 3 to 7, once per optimizer step: unscale, clip, step, rescale, zero."""
        from torch import nn

        optimizer, scaler = self.optimizer, self.scaler
        # 3. unscale, so that clipping sees the true gradient norm
        scaler.unscale_(optimizer)
        # 4. clip
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        # 5. step (the scaler skips it when float16 gradients overflowed)
        scaler.step(optimizer)
        # 6. update the loss scale
        scaler.update()
        # 7. drop the gradients
        optimizer.zero_grad(set_to_none=True)
        if self.on_step is not None:
            self.on_step()
