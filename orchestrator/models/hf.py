"""Fine-tuning a pretrained Hugging Face Transformer on text (family ``hf``): classes, labels or
values, as the data's task says (Transformers' ``problem_type``).

``AutoModelForSequenceClassification`` and its tokenizer are loaded from ``pretrained`` (a folder
saved with ``save_pretrained``, or an installed package that ships one), offline: hpo never
downloads. The classification head is sized from the data's classes and newly initialised. The
data is a CSV text column, tokenised by the model's own tokenizer at ``max_length`` (once per
length, cached: :func:`adapt_data`); the model takes ``(N, 2, max_length)`` (ids, attention mask)
and the batch's trailing padding is cut before the forward pass.

What trains: ``unfreeze_layers`` counts the encoder's layers from the top: ``0`` trains the head
only, ``k`` the top ``k`` layers, what sits above them (a pooler, a final norm) and the head,
``all`` everything (embeddings included). With ``adapter: lora`` the pretrained weights stay
frozen and LoRA adapters (``peft``) train in those layers' ``target_modules`` instead, beside the
head. A trial saves only what trained (``HFClassifier.state_to_save`` in :mod:`._hf_net`): with
LoRA the adapter and the head, a few hundred kB instead of the whole network; it is loaded back
on top of the base model, whose path and content digest the trial run records
(:func:`run_params`).

Needs the optional packages ``transformers`` (and ``peft`` for an adapter): ``pip install
'hpo[hf]'``. This module imports neither, nor torch, until a model is built.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, field_validator

from orchestrator.errors import ConfigError, DataError
from orchestrator.models._config import StrictConfig

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.config import DataConfig
    from orchestrator.data import DataSpec, Splits

__all__ = [
    "DATA_KINDS",
    "SHIP_FORMAT",
    "SHIP_REQUIREMENTS",
    "Config",
    "adapt_data",
    "build",
    "check",
    "run_params",
]

DATA_KINDS: tuple[str, ...] = ("tokens",)  # a CSV text column, re-tokenised by adapt_data
# hpo retrain ships the model pickled by reference: the base model is loaded from its folder and
# only the trained part travels (see HFClassifier.__reduce__)
SHIP_FORMAT = "pickle"
SHIP_REQUIREMENTS = ("transformers", "peft", "tokenizers", "safetensors")


class NoAdapterConfig(StrictConfig):
    name: Literal["none"] = "none"


class LoraAdapterConfig(StrictConfig):
    name: Literal["lora"] = "lora"
    r: int = Field(default=8, gt=0)  # rank; typical 4 .. 64
    alpha: float = Field(default=16, gt=0)  # updates scaled by alpha / r; typical r .. 4r
    dropout: float = Field(default=0.0, ge=0, lt=1)  # on the adapter's input
    target_modules: list[str] = Field(default_factory=lambda: ["query", "value"], min_length=1)


AdapterConfig = Annotated[Union[NoAdapterConfig, LoraAdapterConfig], Field(discriminator="name")]  # noqa: UP007


class Config(StrictConfig):
    family: Literal["hf"] = "hf"
    pretrained: str  # a folder saved with save_pretrained, or an installed package shipping one
    # tokens per text, special tokens included; None: 128, or the model's own limit if lower
    max_length: int | None = Field(default=None, ge=2)
    # a saved classification head of the right size is kept and trains on (keep), or is
    # initialised anew (new); a head of another size, or none, is always new
    head: Literal["keep", "new"] = "keep"
    unfreeze_layers: int | Literal["all"] = "all"  # top layers that train; 0 = the head only
    adapter: AdapterConfig = Field(default_factory=NoAdapterConfig)

    @field_validator("unfreeze_layers")
    @classmethod
    def _not_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"must be >= 0 or 'all', got {value}")
        return value


# --- before any trial ---------------------------------------------------------------------------


def _choices(value: Any) -> list[Any]:
    """The values a space entry may take: a fixed value, or a categorical's choices."""
    if isinstance(value, Mapping) and "type" in value:
        choices = value.get("choices")
        return list(choices) if isinstance(choices, list) else []
    return [value]


def _lora_targets(adapter: Any) -> list[list[str]]:
    """Every fixed ``target_modules`` list a LoRA branch of the space's ``adapter`` may use."""
    if isinstance(adapter, str):
        adapter = {"name": adapter}
    if not isinstance(adapter, Mapping):
        return []
    if "type" in adapter:
        choices = adapter.get("choices")
        branches = choices.items() if isinstance(choices, Mapping) else []
        lora = [dict(sub or {}) for name, sub in branches if name == "lora"]
        lora += [{} for name in (choices if isinstance(choices, list) else []) if name == "lora"]
    else:
        lora = [dict(adapter)] if adapter.get("name") == "lora" else []
    default = LoraAdapterConfig().target_modules
    targets = [sub.get("target_modules", default) for sub in lora]
    return [t for t in targets if isinstance(t, list)]


def check(model: Mapping[str, Any], spec: DataSpec) -> None:
    """Before any trial: the extra is installed, every base model the space names is a whole
    folder, and the fixed settings fit it (layers, positions, LoRA's target modules).

    Raises:
        ConfigError: one line each, naming the setting, the value and the fix.
    """
    from orchestrator.data import import_hf, resolve_pretrained

    targets = _lora_targets(model.get("adapter"))
    import_hf("transformers", *(("peft",) if targets else ()))
    for given in _choices(model.get("pretrained")):
        if not isinstance(given, str):
            continue
        network_config = _network_config(resolve_pretrained(given), spec)
        layers = getattr(network_config, "num_hidden_layers", None)
        unfreeze = model.get("unfreeze_layers", Config.model_fields["unfreeze_layers"].default)
        highest = unfreeze.get("high") if isinstance(unfreeze, Mapping) else unfreeze
        if isinstance(highest, int) and layers is not None and highest > layers:
            raise ConfigError(
                f"model.unfreeze_layers: {given} has {layers} layers, got {highest}; "
                f"give at most {layers}, or all"
            )
        positions = getattr(network_config, "max_position_embeddings", None)
        for length in _choices(model.get("max_length")):  # None: the model's limit, at most
            if isinstance(length, int) and positions is not None and length > positions:
                raise ConfigError(
                    f"model.max_length: {given} takes at most {positions} tokens, got {length}"
                )
        if targets:
            _check_targets(network_config, targets, given=given)


# a task -> the problem_type Transformers' sequence classifiers know it by
PROBLEM_TYPES = {
    "multiclass": "single_label_classification",
    "binary": "single_label_classification",
    "multilabel": "multi_label_classification",
    "regression": "regression",
}


def _network_config(folder: Path, spec: DataSpec) -> Any:
    from transformers import AutoConfig

    from orchestrator.data import quiet_hf

    with quiet_hf():
        return AutoConfig.from_pretrained(
            str(folder),
            num_labels=spec.n_outputs,
            problem_type=PROBLEM_TYPES.get(spec.task),
            local_files_only=True,
        )


def _check_targets(network_config: Any, targets: list[list[str]], *, given: str) -> None:
    """Each LoRA target names modules of the network (built on the meta device: no weights)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from orchestrator.data import quiet_hf

    with quiet_hf(), torch.device("meta"):
        network = AutoModelForSequenceClassification.from_config(network_config)
    leaves = {name.rsplit(".", 1)[-1] for name, _ in network.named_modules()}
    for target in targets:
        unknown = [t for t in target if t not in leaves]
        if unknown:
            linear = sorted(
                {
                    n.rsplit(".", 1)[-1]
                    for n, m in network.named_modules()
                    if type(m).__name__ == "Linear"
                }
            )
            raise ConfigError(
                f"model.adapter.lora.target_modules: {given} has no module {unknown[0]!r}; "
                f"its linear layers are named {', '.join(linear)}"
            )


# --- the data and the trial run ------------------------------------------------------------------


def adapt_data(config: Config, splits: Splits, data: DataConfig) -> Splits:
    """The CSV text column's splits, tokenised by the base model's tokenizer at ``max_length``."""
    from orchestrator.data import hf_text_splits

    return hf_text_splits(
        splits, data, pretrained=config.pretrained, max_length=max_length_of(config)
    )


DEFAULT_MAX_LENGTH = 128  # tokens per text when model.max_length is not given ...


def max_length_of(config: Config) -> int:
    """Tokens per text: ``model.max_length``, else :data:`DEFAULT_MAX_LENGTH`, or the base
    model's own limit (``max_position_embeddings``) where it is lower."""
    if config.max_length is not None:
        return config.max_length
    from orchestrator.data import resolve_pretrained

    limit = _positions(str(resolve_pretrained(config.pretrained)))
    return min(DEFAULT_MAX_LENGTH, limit) if limit else DEFAULT_MAX_LENGTH


@functools.lru_cache(maxsize=8)
def _positions(folder: str) -> int | None:
    """The tokens a saved model's position embeddings take, None if its config does not say."""
    from transformers import AutoConfig

    from orchestrator.data import quiet_hf

    with quiet_hf():
        network = AutoConfig.from_pretrained(folder, local_files_only=True)
    return getattr(network, "max_position_embeddings", None)


def run_params(config: Config) -> dict[str, str]:
    """The base model fine-tuned: its folder and content digest (empty if it cannot be found:
    building the model then fails the trial with the reason)."""
    from orchestrator.data import pretrained_digest, resolve_pretrained

    try:
        folder = resolve_pretrained(config.pretrained)
    except ConfigError:
        return {}
    return {
        "model.pretrained_path": str(folder),
        "model.pretrained_digest": pretrained_digest(folder),
    }


# --- the model ----------------------------------------------------------------------------------


def build(config: Config, spec: DataSpec) -> nn.Module:
    """The pretrained network with a new head for ``spec``'s classes, frozen or adapted as
    ``config`` says.

    Raises:
        DataError: data that was not tokenised for this model (see :func:`adapt_data`).
        ConfigError: the extra is missing, or the base model folder is missing or incomplete.
        TrialFailure: a sampled setting the network cannot take (too many layers, no such
            LoRA target).
    """
    from orchestrator.data import import_hf, pretrained_digest, resolve_pretrained

    import_hf("transformers", *(("peft",) if config.adapter.name != "none" else ()))
    length = max_length_of(config)
    if spec.kind != "tokens" or tuple(spec.input_shape) != (2, length):
        raise DataError(
            f"model.family: hf takes text tokenised by its own tokenizer, shape (2, "
            f"{length}), got {spec.kind} of shape {tuple(spec.input_shape)}"
        )
    folder = resolve_pretrained(config.pretrained)
    base = {"pretrained": config.pretrained, "path": str(folder)}
    base["digest"] = pretrained_digest(folder)
    return _assemble(config, folder, spec, base=base)


def _assemble(config: Config, folder: Path, spec: DataSpec, *, base: dict[str, str]) -> nn.Module:
    from orchestrator.models._hf_net import assemble

    lora = config.adapter.model_dump(exclude={"name"}) if config.adapter.name == "lora" else None
    return assemble(
        folder,
        given=config.pretrained,
        num_labels=spec.n_outputs,
        problem_type=PROBLEM_TYPES.get(spec.task),
        new_head=config.head == "new",
        unfreeze_layers=config.unfreeze_layers,
        lora=lora,
        meta={"config": config.model_dump(), "spec": spec.to_dict(), "base": base},
        rebuild=_rebuild,
    )


def _rebuild(meta: dict[str, Any], state: dict[str, Any]) -> nn.Module:
    """A pickled :class:`HFClassifier` (a shipped model) loaded back: the base model from its
    folder (checked to be the one fine-tuned), then the trained part on top, in eval mode."""
    from orchestrator.data import DataSpec, import_hf, locate_recorded

    config = Config.model_validate(meta["config"])
    import_hf("transformers", *(("peft",) if config.adapter.name != "none" else ()))
    spec = DataSpec.from_dict(meta["spec"])
    folder = locate_recorded(meta["base"])
    model = _assemble(config, folder, spec, base=dict(meta["base"]))
    model.load_saved_state(state)
    return model.eval()
