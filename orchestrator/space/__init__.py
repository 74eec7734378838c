"""The search space: one YAML file, validated at once, sampled by Optuna one trial at a time.

The file format
===============

Four top-level sections, each optional except ``model``::

    study:   {...}   # how to search: fixed values only
    data:    {...}   # DataConfig fields
    model:   {...}   # `family` (required) plus that family's Config fields
    train:   {...}   # TrainConfig fields

Keys are exactly the pydantic field names of :mod:`orchestrator.config` and of the model family's
``Config``; anything left out keeps its default. Each value is either FIXED (a plain YAML value) or
a SEARCH PARAMETER in Optuna's own words::

    lr:         {type: float, low: 1.0e-5, high: 0.1, log: true}   # optional: step (not with log)
    batch_size: {type: int, low: 32, high: 256, step: 32}          # optional: step, log
    activation: {type: categorical, choices: [relu, gelu]}         # null, bools, numbers, strings

Conditional branches, for settings chosen by ``name`` (``train.optimizer``, ``train.schedule``):
``choices`` is a mapping of named alternatives, each with its own sub-parameters (fixed or search
parameters; ``{}`` or null for none). A branch's sub-parameters are suggested only when it is
chosen, and the setting resolves to ``{"name": <chosen>, **sub}``::

    optimizer:
      type: categorical
      choices:
        sgd:   {lr: {type: float, low: 1.0e-3, high: 0.3, log: true}, momentum: 0.9}
        adamw: {lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
        adam:  {}

``choices: [sgd, adamw]`` is short for branches without sub-parameters. The fixed form is a plain
mapping, ``optimizer: {name: adamw, lr: 0.001}`` (its other values may still be search
parameters), or just the name, ``schedule: cosine``.

Per-layer parameters after a sampled depth: a mapping with the reserved key ``repeat`` naming an
integer sibling (a fixed integer, an int parameter or a categorical of integers) resolves to a list
with one mapping per layer; layers at or beyond the sampled depth are never suggested::

    model:
      family: cnn
      depth: {type: int, low: 1, high: 4}
      blocks: {repeat: depth, channels: {type: int, low: 16, high: 64}, kernel_size: 3}

A mapping without ``repeat`` (``blocks: {channels: 32}``) is shared by every layer; a list gives
each layer its own mapping.

Free-form settings: a field that is a plain mapping (the custom family's ``model.params``) takes
any keys; each value is fixed or a search parameter (``model.params.width``), nested mappings
alike.

Optuna parameter names are the dotted paths: ``train.batch_size``, ``train.optimizer`` (the branch
choice), ``train.optimizer.sgd.lr`` (a branch's sub-parameters carry the branch name, since two
branches may give ``lr`` different ranges), ``model.blocks.0.channels`` (one per layer index).

``study`` takes fixed values only: ``name`` (default: the file's stem), ``metric`` (one of
``config.METRICS``), ``direction``, ``n_trials``, ``timeout`` (``"30m"``), ``seed``, and
``sampler``/``pruner``, each a name (``tpe``) or a mapping ``{name: tpe, <option>: value}`` whose
other keys become the constructor ``options``.

Overrides (``hpo run --set train.epochs=2``) are ``dotted.key=value`` strings, the value read as
YAML; they are applied to the file's mapping before validation and validated like the file. A
problem an override caused is blamed on it, as given: ``--set train.epoch=3: unknown key 'epoch';
did you mean 'epochs'? ...``; the file's own problems stay the file's.

Every problem in a file is reported at once (:class:`~orchestrator.errors.SpaceError`), each once,
with its dotted path, the value received, the rule and the fix, in plain words (never pydantic's
type names). This module imports neither torch nor optuna: ``hpo validate`` stays fast.
"""

from __future__ import annotations

from orchestrator.space._build import SECTIONS
from orchestrator.space._load import load_space, parse_space, parse_space_dict
from orchestrator.space._model import (
    ParamSpec,
    Space,
    TrialConfig,
    TrialLike,
    describe_space,
    flatten,
)
from orchestrator.space._params import PARAM_TYPES, CategoricalParam, FloatParam, IntParam
from orchestrator.space._sample import suggest

__all__ = [
    "PARAM_TYPES",
    "SECTIONS",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "ParamSpec",
    "Space",
    "TrialConfig",
    "TrialLike",
    "describe_space",
    "flatten",
    "load_space",
    "parse_space",
    "parse_space_dict",
    "suggest",
]
