"""An example of your own model for hpo: a residual MLP, built by ``build(params, spec)``.

Used by search_spaces/custom_model.yaml::

    model:
      family: custom
      factory: examples.custom_model:build
      params: {width: {type: int, low: 32, high: 256, log: true}, blocks: 2, ...}

hpo calls ``build`` once per trial with the sampled ``params`` (a dict) and the data's
:class:`orchestrator.data.DataSpec` (``kind``, ``input_shape`` per sample, ``num_classes``, ...),
and trains the module it returns: it must map ``(N, *input_shape)`` to ``(N, num_classes)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + Linear(act(Linear(LayerNorm(x)))), with dropout."""

    def __init__(self, width: int, *, activation: str, dropout: float) -> None:
        super().__init__()
        act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.body = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, 2 * width),
            act,
            nn.Dropout(dropout),
            nn.Linear(2 * width, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def build(params: dict[str, Any], spec: Any) -> nn.Module:
    """A residual MLP over the flattened input.

    Args:
        params: ``width`` (units), ``blocks`` (residual blocks), ``dropout``, ``activation``
            (relu or gelu); each has a default.
        spec: the data: ``input_shape`` and ``num_classes`` size the first and last layers.
    """
    if spec.kind == "tokens":
        raise ValueError("this example takes real-valued data, not token ids")
    width = int(params.get("width", 128))
    blocks = int(params.get("blocks", 2))
    dropout = float(params.get("dropout", 0.0))
    activation = str(params.get("activation", "relu"))
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(spec.input_shape), width),
        *[ResidualBlock(width, activation=activation, dropout=dropout) for _ in range(blocks)],
        nn.LayerNorm(width),
        nn.Linear(width, spec.num_classes),
    )
