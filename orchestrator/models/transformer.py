"""Transformer encoder for token ids ``(L,)``, sequences ``(C, L)`` and images ``(C, H, W)``.

Token ids are embedded; real-valued sequences are cut into patches of ``patch_size`` steps
(``1``: every step is a token) and images into ``patch_size`` x ``patch_size`` patches, each
projected linearly to ``d_model``. Learned or sinusoidal positions are added, pre-norm encoder
layers follow, and the classifier reads a ``cls`` token or the ``mean`` over the tokens (padding
excluded). ``heads`` must divide ``d_model``: a sampled pair that breaks it fails the trial with
that reason; search ``d_model`` among multiples of every ``heads`` choice to avoid it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from orchestrator.errors import DataError
from orchestrator.models._config import StrictConfig

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "build"]

DATA_KINDS: tuple[str, ...] = ("tokens", "sequence", "image")


class Config(StrictConfig):
    family: Literal["transformer"] = "transformer"
    layers: int = Field(default=2, ge=1)  # encoder layers; typical 1 .. 6
    d_model: int = Field(default=64, gt=0)  # token width; typical 32 .. 512
    heads: int = Field(default=4, gt=0)  # attention heads; must divide d_model
    ff_size: int = Field(default=128, gt=0)  # feed-forward width; typical 2-4 x d_model
    dropout: float = Field(default=0.1, ge=0, lt=1)
    activation: Literal["relu", "gelu"] = "gelu"
    positions: Literal["learned", "sinusoidal"] = "learned"
    pooling: Literal["cls", "mean"] = "cls"
    patch_size: int = Field(default=1, gt=0)  # sequences: steps per token; images: patch side

    @model_validator(mode="after")
    def _heads_divide_d_model(self) -> Config:
        if self.d_model % self.heads:
            raise ValueError(
                f"heads must divide d_model, got heads={self.heads}, d_model={self.d_model}; "
                "search d_model among multiples of every heads choice"
            )
        return self


def build(config: Config, spec: DataSpec) -> nn.Module:
    """The :class:`~orchestrator.models._nets.TransformerNet` for ``spec``."""
    from orchestrator.models._layers import token_embedding
    from orchestrator.models._nets import TransformerNet

    shape = tuple(spec.input_shape)
    p = config.patch_size
    embedding = None
    if spec.kind == "tokens" and len(shape) == 1:
        in_features, n_tokens = 0, shape[0]
        embedding = token_embedding(spec.vocab_size, config.d_model)
    elif spec.kind == "sequence" and len(shape) == 2:
        in_features, n_tokens = shape[0] * p, math.ceil(shape[1] / p)
    elif spec.kind == "image" and len(shape) == 3:
        in_features = shape[0] * p * p
        n_tokens = math.ceil(shape[1] / p) * math.ceil(shape[2] / p)
    else:
        raise DataError(
            f"model.family: transformer takes tokens (L,), sequences (C, L) or images "
            f"(C, H, W), got {spec.kind} of shape {shape}"
        )
    return TransformerNet(
        kind=spec.kind,
        in_features=in_features,
        patch_size=p,
        n_tokens=n_tokens,
        d_model=config.d_model,
        heads=config.heads,
        ff_size=config.ff_size,
        layers=config.layers,
        dropout=config.dropout,
        activation=config.activation,
        positions=config.positions,
        pooling=config.pooling,
        n_outputs=spec.n_outputs,
        embedding=embedding,
    )
