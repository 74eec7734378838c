"""Helpers of the training tests: a tiny model and a quick training configuration."""

from __future__ import annotations

from torch import nn

from orchestrator.config import AdamConfig, TrainConfig
from orchestrator.data import Splits
from orchestrator.models import build_model, family_config
from orchestrator.train import fit, seed_everything


def tiny_mlp(splits: Splits, *, seed: int = 0) -> nn.Module:
    seed_everything(seed)
    return build_model(family_config("mlp")(depth=1, layers={"width": 32}), splits.spec)


def quick(**overrides: object) -> TrainConfig:
    """Two epochs of Adam at 1e-2: enough to learn digits well past chance."""
    settings: dict = {"epochs": 2, "batch_size": 64, "optimizer": AdamConfig(lr=1e-2)}
    settings.update(overrides)
    return TrainConfig(**settings)


def run(model: nn.Module, splits: Splits, config: TrainConfig, **kwargs: object):
    return fit(model, splits, config, device="cpu", precision="32", seed=0, **kwargs)
