"""Multi-layer perceptron: flattens any input, ``depth`` hidden layers, then a linear classifier."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from orchestrator.models._config import Activation, StrictConfig, check_per_layer, per_layer

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "MLPLayerConfig", "build"]

# data kinds this family takes: anything with float samples (it flattens them)
DATA_KINDS: tuple[str, ...] = ("image", "sequence", "features")


class MLPLayerConfig(StrictConfig):
    """One hidden layer."""

    width: int = Field(default=128, gt=0)  # units; typical 32 .. 1024
    dropout: float = Field(default=0.0, ge=0, lt=1)  # after the activation


class Config(StrictConfig):
    """``layers`` is one :class:`MLPLayerConfig` shared by every hidden layer, or a list of
    exactly ``depth`` of them (first layer first)."""

    family: Literal["mlp"] = "mlp"
    depth: int = Field(default=2, ge=0)  # hidden layers; 0 = logistic regression
    layers: list[MLPLayerConfig] | MLPLayerConfig = Field(default_factory=MLPLayerConfig)
    activation: Activation = "relu"
    norm: Literal["none", "batch", "layer"] = "none"  # after each hidden Linear

    @model_validator(mode="after")
    def _layers_match_depth(self) -> Config:
        check_per_layer(self.layers, depth=self.depth, field="layers", unit="hidden layer")
        return self

    def layer_configs(self) -> list[MLPLayerConfig]:
        """Each hidden layer's settings, first layer first."""
        return per_layer(self.layers, self.depth)


def build(config: Config, spec: DataSpec) -> nn.Module:
    """Flatten -> ``depth`` x (Linear -> norm -> activation -> dropout) -> Linear(n_outputs)."""
    from torch import nn

    from orchestrator.models._layers import dense_block

    width = math.prod(spec.input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for layer in config.layer_configs():
        layers += dense_block(
            width, layer.width, act=config.activation, norm=config.norm, dropout=layer.dropout
        )
        width = layer.width
    layers.append(nn.Linear(width, spec.n_outputs))
    return nn.Sequential(*layers)
