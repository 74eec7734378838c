"""The sample spaces and the problem helper that the tests of orchestrator.space share."""

from __future__ import annotations

import pytest

from orchestrator.errors import SpaceError
from orchestrator.space import parse_space

# A space with every feature: a sampled depth with per-layer parameters (written before the depth
# on purpose), a conditional optimizer, a fixed-form schedule and plain search parameters.
SPACE = """\
study:
  n_trials: 5
  sampler: {name: tpe, n_startup_trials: 3}
  pruner: median
data:
  name: digits
model:
  family: cnn
  blocks:
    repeat: depth
    channels: {type: int, low: 16, high: 64, step: 16}
    kernel_size: 3
  depth: {type: int, low: 1, high: 3}
  activation: {type: categorical, choices: [relu, gelu]}
train:
  epochs: 3
  batch_size: {type: categorical, choices: [32, 64]}
  optimizer:
    type: categorical
    choices:
      sgd:
        lr: {type: float, low: 1e-3, high: 0.3, log: true}
        momentum: {type: float, low: 0.0, high: 0.9}
        nesterov: {type: categorical, choices: [true, false]}
      adamw:
        lr: {type: float, low: 1e-5, high: 1e-2, log: true}
        weight_decay: 0.01
      adam: {}
  schedule: {name: cosine, warmup_epochs: {type: int, low: 0, high: 2}}
"""

MLP = "model: {family: mlp}\n"

CUSTOM = """\
model:
  family: custom
  factory: mypkg.models:build
  params:
    width: {type: int, low: 16, high: 128, log: true}
    act: {type: categorical, choices: [relu, gelu]}
    blocks: 2
    head: {dropout: {type: float, low: 0.0, high: 0.5}, bias: true}
"""


def problems(text: str, *, overrides: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(SpaceError) as info:
        parse_space(text, overrides=overrides)
    return [(p.path, p.message) for p in info.value.problems]
