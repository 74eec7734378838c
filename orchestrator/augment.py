"""Augmentation of training batches, on the training device, searchable like any setting.

``train.augment`` (:class:`~orchestrator.config.AugmentConfig`) lists what to apply; each is off
at its default. The training loop calls :class:`Augmenter` on every training batch; evaluation
never does. Every random draw comes from the augmenter's own generators, seeded by the trial, so
a run is repeatable and the loop's shuffling is unaffected.

What applies to which data (inputs are standardized, so a zeroed value is the mean):

- ``shift``: images and sequences: each sample moves by up to +-shift pixels or steps, the
  uncovered border zero-filled (the usual "random crop with padding");
- ``flip``: images: horizontal and/or vertical mirror, each with probability 0.5, only where the
  classes allow it (a mirrored digit is not a digit);
- ``noise``: images, sequences, feature tables: Gaussian noise of that standard deviation;
- ``cutout``: images: one square of that side, at a random centre, zeroed (DeVries & Taylor);
- ``time_mask``: sequences: one span of 0..time_mask steps zeroed (SpecAugment's time mask);
- ``mixup``: every kind: pairs of samples and their labels mixed by ``lam ~ Beta(a, a)``
  (Zhang et al.); token data mixes the output of the model's embedding, since ids cannot be
  averaged.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.config import AugmentConfig
from orchestrator.errors import Problem, SpaceError, TrialFailure

if TYPE_CHECKING:
    import torch

__all__ = ["APPLIES_TO", "Augmenter", "active", "check_augment", "check_augment_space"]

# each augmentation -> the data kinds it applies to
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "shift": ("image", "sequence"),
    "flip": ("image",),
    "noise": ("image", "sequence", "features"),
    "cutout": ("image",),
    "time_mask": ("sequence",),
    "mixup": ("image", "sequence", "features", "tokens"),
}
_DEFAULTS: dict[str, Any] = {
    name: AugmentConfig.model_fields[name].default for name in AugmentConfig.model_fields
}


def active(config: AugmentConfig) -> list[str]:
    """The augmentations ``config`` switches on, in :data:`APPLIES_TO` order."""
    return [name for name in APPLIES_TO if getattr(config, name) != _DEFAULTS[name]]


def _mismatch(name: str, kind: str) -> str:
    kinds = " and ".join(APPLIES_TO[name])
    return f"{name} applies to {kinds} data, but the data is {kind}; remove it"


def check_augment(config: AugmentConfig, kind: str) -> None:
    """Every augmentation switched on must apply to ``kind``.

    Raises:
        TrialFailure: (kind ``error``) naming the first that does not.
    """
    for name in active(config):
        if kind not in APPLIES_TO[name]:
            raise TrialFailure(f"train.augment.{name}: {_mismatch(name, kind)}", kind="error")


def check_augment_space(train: Any, kind: str, *, source: str) -> None:
    """Before any trial: no augmentation the space may switch on is foreign to ``kind``.

    Args:
        train: the space's ``train:`` mapping (search parameters unsampled).
        kind: the data's kind.
        source: the space file, for the error.

    Raises:
        SpaceError: one problem per augmentation that may be on but cannot apply.
    """
    augment = train.get("augment") if isinstance(train, Mapping) else None
    if not isinstance(augment, Mapping):
        return
    problems = [
        Problem(f"train.augment.{name}", _mismatch(name, kind))
        for name in APPLIES_TO
        if kind not in APPLIES_TO[name] and _may_be_on(augment.get(name), _DEFAULTS[name])
    ]
    if problems:
        raise SpaceError(source, problems)


def _may_be_on(value: Any, default: Any) -> bool:
    """Whether a fixed value or a search parameter can take a value other than ``default``."""
    if value is None:
        return False
    if isinstance(value, Mapping) and "type" in value:
        if value.get("type") == "categorical":
            return any(choice != default for choice in value.get("choices") or [])
        high = value.get("high")
        return not isinstance(high, (int, float)) or high != default
    return value != default


class Augmenter:
    """Applies ``config`` to training batches of ``kind`` data on ``device``.

    Args:
        config: what to apply.
        kind: the data's kind (``image``, ``sequence``, ``features``, ``tokens``).
        seed: seeds the augmenter's own generators.
        device: where the batches are.

    Raises:
        TrialFailure: an augmentation that does not apply to ``kind``.
    """

    def __init__(
        self, config: AugmentConfig, kind: str, *, seed: int, device: torch.device | str
    ) -> None:
        import torch

        check_augment(config, kind)
        self.config = config
        self.kind = kind
        self.device = torch.device(device)
        try:  # draw where the batches are, so no copy per batch
            self.generator = torch.Generator(device=self.device).manual_seed(seed)
            self.draw_device = self.device
        except RuntimeError:  # a device without its own generator
            self.generator = torch.Generator().manual_seed(seed)
            self.draw_device = torch.device("cpu")
        self.rng = random.Random(seed)  # mixup's lam, one per batch
        self.names = active(config)

    @property
    def transforms_inputs(self) -> bool:
        """Whether :meth:`__call__` changes anything (mixup aside)."""
        return any(name != "mixup" for name in self.names)

    @property
    def mixes(self) -> bool:
        return self.config.mixup > 0

    # -- random draws on the augmenter's generator --

    def _uniform(self, *shape: int) -> torch.Tensor:
        import torch

        out = torch.rand(shape, generator=self.generator, device=self.draw_device)
        return out.to(self.device)

    def _randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        import torch

        out = torch.randint(low, high, shape, generator=self.generator, device=self.draw_device)
        return out.to(self.device)

    def _normal(self, shape: torch.Size) -> torch.Tensor:
        import torch

        out = torch.randn(shape, generator=self.generator, device=self.draw_device)
        return out.to(self.device)

    # -- the input transforms --

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The batch ``x`` with every switched-on input transform applied (a new tensor)."""
        c = self.config
        if c.shift:
            x = self._shift(x, c.shift)
        if c.flip != "none":
            x = self._flip(x, c.flip)
        if c.cutout:
            x = self._cutout(x, c.cutout)
        if c.time_mask:
            x = self._time_mask(x, c.time_mask)
        if c.noise:
            x = x + c.noise * self._normal(x.shape).to(x.dtype)
        return x

    def _shift(self, x: torch.Tensor, s: int) -> torch.Tensor:
        """Per-sample shift by up to +-s along every spatial axis, zero-filled."""
        import torch
        import torch.nn.functional as F

        n, _, *size = x.shape
        offsets = self._randint(0, 2 * s + 1, n, len(size))  # 0..2s into the padded input
        out = F.pad(x, (s, s) * len(size))
        for axis, side in enumerate(size):  # gather each axis's window in turn
            dim = 2 + axis
            index = offsets[:, axis : axis + 1] + torch.arange(side, device=x.device)  # (N, side)
            shape = [n] + [1] * (out.ndim - 1)
            shape[dim] = side
            index = index.view(shape).expand(*out.shape[:dim], side, *out.shape[dim + 1 :])
            out = out.gather(dim, index)
        return out

    def _flip(self, x: torch.Tensor, how: str) -> torch.Tensor:
        import torch

        axes = {"horizontal": [-1], "vertical": [-2], "both": [-1, -2]}[how]
        for axis in axes:
            chosen = (self._uniform(len(x)) < 0.5).view(-1, *[1] * (x.ndim - 1))
            x = torch.where(chosen, x.flip(axis), x)
        return x

    def _cutout(self, x: torch.Tensor, side: int) -> torch.Tensor:
        import torch

        n, _, h, w = x.shape
        top = self._randint(0, h, n) - side // 2  # the square's centre is anywhere in the image
        left = self._randint(0, w, n) - side // 2
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # (N, H)
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # (N, W)
        hole = in_rows[:, :, None] & in_cols[:, None, :]
        return x.masked_fill(hole[:, None], 0.0)

    def _time_mask(self, x: torch.Tensor, longest: int) -> torch.Tensor:
        import torch

        n, _, steps = x.shape
        longest = min(longest, steps)
        span = self._randint(0, longest + 1, n)
        start = (self._uniform(n) * (steps - span + 1)).long()
        t = torch.arange(steps, device=x.device)
        hole = (t >= start[:, None]) & (t < (start + span)[:, None])  # (N, L)
        return x.masked_fill(hole[:, None], 0.0)

    # -- mixup --

    def mixup(self, n: int) -> tuple[float, torch.Tensor]:
        """This batch's mixing weight and partner of each sample."""
        import torch

        lam = self.rng.betavariate(self.config.mixup, self.config.mixup)
        perm = torch.randperm(n, generator=self.generator, device=self.draw_device)
        return lam, perm.to(self.device)

    @contextlib.contextmanager
    def mixing(
        self, model: torch.nn.Module, x: torch.Tensor, lam: float, perm: torch.Tensor
    ) -> Iterator[torch.Tensor]:
        """Within the block, ``model(<the yielded input>)`` sees mixed samples: the inputs are
        mixed, or for token data the output of the model's first ``nn.Embedding``.

        Raises:
            TrialFailure: token data and a model without an ``nn.Embedding``.
        """
        from torch import nn

        if self.kind != "tokens":
            yield lam * x + (1.0 - lam) * x[perm]
            return
        embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
        if embedding is None:
            raise TrialFailure(
                "train.augment.mixup: token data is mixed in the model's embedding, but the "
                "model has no torch.nn.Embedding; remove mixup",
                kind="error",
            )

        def mix(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            return lam * output + (1.0 - lam) * output[perm]

        handle = embedding.register_forward_hook(mix)
        try:
            yield x
        finally:
            handle.remove()
