"""Model families behind one registry: one module per family, one line in :data:`FAMILIES`.

A family module defines:

- ``Config``: a pydantic model with ``family: Literal["<name>"]`` and the family's settings
  (unknown keys rejected, frozen);
- ``DATA_KINDS``: the data kinds (see :class:`orchestrator.data.DataSpec`) it can take;
- ``build(config, spec) -> torch.nn.Module``: the model, sized from the :class:`DataSpec`; it may
  raise :class:`~orchestrator.errors.TrialFailure` for a sampled combination that cannot work;
- optionally ``check(model, spec)``: run once before any trial on the space's ``model:`` mapping
  (search parameters unsampled), for what must fail early (the custom family's factory path);
- optionally ``adapt_data(config, splits, data) -> Splits``: the data as this family takes it
  (the ``hf`` family re-tokenises a text column with its pretrained tokenizer), and
  ``run_params(config) -> dict``: what the trial run records beside the sampled values;
- optionally ``SHIP_FORMAT`` and ``SHIP_REQUIREMENTS``: how ``hpo retrain`` logs the model
  (``pt2`` by default; ``pickle`` for a model that pickles as a reference to its base model).

A model that saves only part of its state (a LoRA adapter) says so itself: see
:mod:`orchestrator.train._state`.

Families: ``mlp`` (any data, flattened), ``cnn`` (2D on images, 1D on sequences and tokens),
``rnn`` (LSTM/GRU on sequences and tokens), ``transformer`` (tokens, sequences, images),
``hf`` (a pretrained Hugging Face Transformer fine-tuned on a text column) and ``custom`` (the
user's own factory).

Family modules import torch only inside ``build``, so parsing a config stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DataError

if TYPE_CHECKING:
    import torch
    from pydantic import BaseModel

    from orchestrator.config import DataConfig
    from orchestrator.data import DataSpec, Splits

__all__ = [
    "FAMILIES",
    "adapt_data",
    "build_model",
    "check_compatible",
    "count_parameters",
    "family_config",
    "parse_model_config",
    "run_params",
    "ship_format",
]

# model.family -> module
FAMILIES: dict[str, str] = {
    "mlp": "orchestrator.models.mlp",
    "cnn": "orchestrator.models.cnn",
    "rnn": "orchestrator.models.rnn",
    "transformer": "orchestrator.models.transformer",
    "hf": "orchestrator.models.hf",
    "custom": "orchestrator.models.custom",
}


def _family(name: str) -> ModuleType:
    try:
        path = FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"model.family: unknown family {name!r}; valid: {', '.join(sorted(FAMILIES))}"
        ) from None
    return importlib.import_module(path)


def family_config(name: str) -> type[BaseModel]:
    """The ``Config`` class of family ``name`` (imports no torch).

    Raises:
        ValueError: an unknown family, listing the valid names.
    """
    return _family(name).Config


def parse_model_config(data: Mapping[str, Any]) -> BaseModel:
    """Validate a ``model:`` mapping with its family's ``Config``, e.g. ``{"family": "cnn", ...}``.

    Raises:
        ValueError: a missing or unknown ``family``; pydantic.ValidationError for bad settings.
    """
    if "family" not in data:
        raise ValueError(f"model.family: missing; valid: {', '.join(sorted(FAMILIES))}")
    return family_config(str(data["family"])).model_validate(dict(data))


def check_compatible(
    family: str, spec: DataSpec, *, model: Mapping[str, Any] | None = None
) -> None:
    """Check, before any trial runs, that ``family`` can take data described by ``spec``.

    Args:
        family: the model family.
        spec: the data.
        model: the space's ``model:`` mapping (search parameters unsampled), for the family's own
            early checks (the custom family imports its factory and checks its signature).

    Raises:
        DataError: naming the family, the data's kind and shape, and the families that fit.
        ConfigError: the family's own check failed (e.g. a factory that cannot be imported).
        ValueError: an unknown family.
    """
    module = _family(family)
    kinds: tuple[str, ...] = module.DATA_KINDS
    if spec.kind in kinds:
        hook = getattr(module, "check", None)
        if hook is not None and model is not None:
            hook(model, spec)
        return
    fitting = [name for name in sorted(FAMILIES) if spec.kind in _family(name).DATA_KINDS]
    either = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
    raise DataError(
        f"model.family: {family} takes {either} data, but the data is {spec.kind} "
        f"of shape {tuple(spec.input_shape)}; use one of: {', '.join(fitting) or '(none yet)'}"
    )


def build_model(config: BaseModel, spec: DataSpec, *, seed: int | None = None) -> torch.nn.Module:
    """Build the model ``config`` describes, sized for ``spec``; ``config.family`` picks the family.

    Args:
        config: a family's ``Config``.
        spec: the data the model will take.
        seed: seeds the initial weights without touching the global generators' state;
            ``None`` draws them from torch's global generator.

    Raises:
        TrialFailure: a sampled combination that cannot work on this data (e.g. too many poolings).
    """
    family = _family(config.family)  # type: ignore[attr-defined]
    if seed is None:
        return family.build(config, spec)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return family.build(config, spec)


def adapt_data(config: BaseModel, splits: Splits, data: DataConfig) -> Splits:
    """The splits the family of ``config`` trains on: ``splits`` as loaded for ``data``, or what
    the family's ``adapt_data`` makes of them (its own tokenisation).

    Raises:
        DataError: data the family cannot take; ConfigError: a resource it needs is missing.
    """
    hook = getattr(_family(config.family), "adapt_data", None)  # type: ignore[attr-defined]
    return splits if hook is None else hook(config, splits, data)


def run_params(config: BaseModel) -> dict[str, Any]:
    """What a trial run records of ``config`` beside its sampled values (the base model of a
    pretrained family); never raises."""
    hook = getattr(_family(config.family), "run_params", None)  # type: ignore[attr-defined]
    return {} if hook is None else dict(hook(config))


def ship_format(family: str) -> tuple[str, tuple[str, ...]]:
    """How ``hpo retrain`` logs a model of ``family``: the MLflow serialization format and the
    packages the logged model needs beyond torch."""
    module = _family(family)
    return getattr(module, "SHIP_FORMAT", "pt2"), tuple(getattr(module, "SHIP_REQUIREMENTS", ()))


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters (those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
