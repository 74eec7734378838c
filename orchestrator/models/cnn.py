"""Convolutional network: conv blocks, then a classifier head.

2D convolutions for images ``(C, H, W)``; 1D convolutions for sequences ``(C, L)`` (signals, time
series) and for token ids ``(L,)``, which are embedded first (a text CNN after Kim, 2014). The
data's kind decides which; the settings are the same.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from orchestrator.errors import DataError, TrialFailure
from orchestrator.models._config import Activation, StrictConfig, check_per_layer, per_layer

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "ConvBlockConfig", "build"]

DATA_KINDS: tuple[str, ...] = ("image", "sequence", "tokens")


class ConvBlockConfig(StrictConfig):
    """Conv (stride 1, 'same' padding) -> batch norm -> activation -> pool -> dropout."""

    channels: int = Field(default=32, gt=0)  # output channels; typical 16 .. 256
    kernel_size: int = Field(default=3, gt=0)  # odd, so 'same' padding keeps the size
    pool: Literal["max", "avg", "none"] = "max"  # window 2, stride 2: halves each side
    dropout: float = Field(default=0.0, ge=0, lt=1)

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {value}")
        return value


class Config(StrictConfig):
    """``blocks`` is one :class:`ConvBlockConfig` shared by every block, or a list of exactly
    ``depth`` of them (first block first)."""

    family: Literal["cnn"] = "cnn"
    depth: int = Field(default=2, ge=1)  # conv blocks
    blocks: list[ConvBlockConfig] | ConvBlockConfig = Field(default_factory=ConvBlockConfig)
    batch_norm: bool = True  # BatchNorm after each conv
    activation: Activation = "relu"
    # how the last feature map reaches the head: flatten it, or average / max over positions
    global_pool: Literal["flatten", "avg", "max"] = "flatten"
    head_hidden: int = Field(default=0, ge=0)  # 0 = linear classifier; else one hidden layer
    head_dropout: float = Field(default=0.0, ge=0, lt=1)  # before the classifier's last Linear
    embedding_dim: int = Field(default=64, gt=0)  # tokens only: each id's vector (conv channels)

    @model_validator(mode="after")
    def _blocks_match_depth(self) -> Config:
        check_per_layer(self.blocks, depth=self.depth, field="blocks", unit="conv block")
        return self

    def block_configs(self) -> list[ConvBlockConfig]:
        """Each conv block's settings, first block first."""
        return per_layer(self.blocks, self.depth)


def output_size(config: Config, *size: int) -> tuple[int, ...]:
    """Spatial size after every block's pooling (each pool floors every side by half).

    Raises:
        TrialFailure: the poolings would shrink a side below 1.
    """
    n_pool = sum(block.pool != "none" for block in config.block_configs())
    need = 2**n_pool
    if min(size) < need:
        shown = "x".join(map(str, size))
        needed = "x".join([str(need)] * len(size))
        raise TrialFailure(
            f"cnn: {n_pool} poolings need inputs of at least {needed}, "
            f"got {shown}; lower model.depth or set pool: none",
            kind="error",
        )
    return tuple(side // need for side in size)


def build(config: Config, spec: DataSpec) -> nn.Module:
    """``features`` (the conv blocks) then ``head`` (pool or flatten, optional hidden layer,
    classifier); token data passes through ``embedding`` first."""
    from torch import nn

    from orchestrator.models._layers import activation, dense_block, token_embedding
    from orchestrator.models._nets import ConvNet

    shape = tuple(spec.input_shape)
    if spec.kind == "image" and len(shape) == 3:
        dims, channels, size = 2, shape[0], shape[1:]
    elif spec.kind == "sequence" and len(shape) == 2:
        dims, channels, size = 1, shape[0], shape[1:]
    elif spec.kind == "tokens" and len(shape) == 1:
        dims, channels, size = 1, config.embedding_dim, shape
    else:
        raise DataError(
            f"model.family: cnn takes images (C, H, W), sequences (C, L) or tokens (L,), "
            f"got {spec.kind} of shape {shape}"
        )
    out_size = output_size(config, *size)
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    pools = {
        "max": nn.MaxPool2d if dims == 2 else nn.MaxPool1d,
        "avg": nn.AvgPool2d if dims == 2 else nn.AvgPool1d,
    }

    features: list[nn.Module] = []
    for block in config.block_configs():
        features.append(
            conv(
                channels,
                block.channels,
                block.kernel_size,
                padding=block.kernel_size // 2,
                bias=not config.batch_norm,
            )
        )
        if config.batch_norm:
            features.append(norm(block.channels))
        features.append(activation(config.activation))
        if block.pool != "none":
            features.append(pools[block.pool](2))
        if block.dropout > 0:
            features.append(nn.Dropout(block.dropout))
        channels = block.channels

    head: list[nn.Module] = []
    if config.global_pool == "flatten":
        flat = channels * math.prod(out_size)
    else:
        adaptive = {
            ("avg", 1): nn.AdaptiveAvgPool1d,
            ("avg", 2): nn.AdaptiveAvgPool2d,
            ("max", 1): nn.AdaptiveMaxPool1d,
            ("max", 2): nn.AdaptiveMaxPool2d,
        }[(config.global_pool, dims)]
        head.append(adaptive(1))
        flat = channels
    head.append(nn.Flatten())
    if config.head_hidden:
        head += dense_block(flat, config.head_hidden, act=config.activation)
        flat = config.head_hidden
    if config.head_dropout > 0:
        head.append(nn.Dropout(config.head_dropout))
    head.append(nn.Linear(flat, spec.n_outputs))
    embedding = (
        token_embedding(spec.vocab_size, config.embedding_dim) if spec.kind == "tokens" else None
    )
    return ConvNet(nn.Sequential(*features), nn.Sequential(*head), embedding=embedding)
