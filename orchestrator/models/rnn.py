"""Recurrent network (LSTM or GRU) for sequences ``(C, L)`` and token ids ``(L,)``.

A sequence is read as ``L`` steps of ``C`` values; token ids are embedded first and padding is
never read (rows are packed). The steps' outputs are pooled into one vector per sample: the
final state (``last``, both directions when bidirectional), their ``mean`` or ``max``, or a
learnt ``attention`` average. Dropout sits between recurrent layers and before the classifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from orchestrator.errors import DataError
from orchestrator.models._config import StrictConfig

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "build"]

DATA_KINDS: tuple[str, ...] = ("sequence", "tokens")


class Config(StrictConfig):
    family: Literal["rnn"] = "rnn"
    cell: Literal["lstm", "gru"] = "gru"
    layers: int = Field(default=1, ge=1)  # stacked recurrent layers; typical 1 .. 3
    hidden_size: int = Field(default=128, gt=0)  # per direction; typical 32 .. 512
    bidirectional: bool = False
    dropout: float = Field(default=0.0, ge=0, lt=1)  # between layers and before the classifier
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    embedding_dim: int = Field(default=64, gt=0)  # tokens only: each id's vector


def build(config: Config, spec: DataSpec) -> nn.Module:
    """The :class:`~orchestrator.models._nets.RecurrentNet` for ``spec``."""
    from orchestrator.models._layers import token_embedding
    from orchestrator.models._nets import RecurrentNet

    shape = tuple(spec.input_shape)
    if spec.kind == "sequence" and len(shape) == 2:
        input_size, embedding = shape[0], None
    elif spec.kind == "tokens" and len(shape) == 1:
        input_size = config.embedding_dim
        embedding = token_embedding(spec.vocab_size, config.embedding_dim)
    else:
        raise DataError(
            f"model.family: rnn takes sequences (C, L) or tokens (L,), "
            f"got {spec.kind} of shape {shape}"
        )
    return RecurrentNet(
        cell=config.cell,
        input_size=input_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        pooling=config.pooling,
        n_outputs=spec.n_outputs,
        embedding=embedding,
    )
