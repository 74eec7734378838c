"""2D convolutional network for images ``(N, C, H, W)``: conv blocks, then a classifier head."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from orchestrator.errors import DataError, TrialFailure
from orchestrator.models._config import Activation, StrictConfig, check_per_layer, per_layer

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "ConvBlockConfig", "build"]

DATA_KINDS: tuple[str, ...] = ("image",)


class ConvBlockConfig(StrictConfig):
    """Conv (stride 1, 'same' padding) -> batch norm -> activation -> pool -> dropout."""

    channels: int = Field(default=32, gt=0)  # output channels; typical 16 .. 256
    kernel_size: int = Field(default=3, gt=0)  # odd, so 'same' padding keeps H and W
    pool: Literal["max", "avg", "none"] = "max"  # 2x2, stride 2: halves H and W
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
    batch_norm: bool = True  # BatchNorm2d after each conv
    activation: Activation = "relu"
    head_hidden: int = Field(default=0, ge=0)  # 0 = linear classifier; else one hidden layer
    head_dropout: float = Field(default=0.0, ge=0, lt=1)  # before the classifier's last Linear

    @model_validator(mode="after")
    def _blocks_match_depth(self) -> Config:
        check_per_layer(self.blocks, depth=self.depth, field="blocks", unit="conv block")
        return self

    def block_configs(self) -> list[ConvBlockConfig]:
        """Each conv block's settings, first block first."""
        return per_layer(self.blocks, self.depth)


def output_size(config: Config, height: int, width: int) -> tuple[int, int]:
    """Spatial size after every block's pooling (each 2x2 pool floors H/2 and W/2).

    Raises:
        TrialFailure: the poolings would shrink a side below 1 pixel.
    """
    n_pool = sum(block.pool != "none" for block in config.block_configs())
    need = 2**n_pool
    if min(height, width) < need:
        raise TrialFailure(
            f"cnn: {n_pool} poolings need inputs of at least {need}x{need}, "
            f"got {height}x{width}; lower model.depth or set pool: none",
            kind="error",
        )
    return height // need, width // need


def build(config: Config, spec: DataSpec) -> nn.Module:
    """``features`` (the conv blocks) then ``head`` (flatten, optional hidden layer, classifier)."""
    from collections import OrderedDict

    from torch import nn

    from orchestrator.models._layers import activation, dense_block

    if spec.kind not in DATA_KINDS or len(spec.input_shape) != 3:
        raise DataError(
            f"model.family: cnn takes image data of shape (C, H, W), "
            f"got {spec.kind} of shape {tuple(spec.input_shape)}"
        )
    channels, height, width = spec.input_shape
    out_h, out_w = output_size(config, height, width)

    features: list[nn.Module] = []
    for block in config.block_configs():
        features.append(
            nn.Conv2d(
                channels,
                block.channels,
                block.kernel_size,
                padding=block.kernel_size // 2,
                bias=not config.batch_norm,
            )
        )
        if config.batch_norm:
            features.append(nn.BatchNorm2d(block.channels))
        features.append(activation(config.activation))
        if block.pool == "max":
            features.append(nn.MaxPool2d(2))
        elif block.pool == "avg":
            features.append(nn.AvgPool2d(2))
        if block.dropout > 0:
            features.append(nn.Dropout(block.dropout))
        channels = block.channels

    flat = channels * out_h * out_w
    head: list[nn.Module] = [nn.Flatten()]
    if config.head_hidden:
        head += dense_block(flat, config.head_hidden, act=config.activation)
        flat = config.head_hidden
    if config.head_dropout > 0:
        head.append(nn.Dropout(config.head_dropout))
    head.append(nn.Linear(flat, spec.num_classes))
    return nn.Sequential(
        OrderedDict([("features", nn.Sequential(*features)), ("head", nn.Sequential(*head))])
    )
