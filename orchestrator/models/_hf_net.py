"""The ``hf`` family's network: a pretrained sequence classifier with a new head, frozen from the
bottom or adapted with LoRA, behind hpo's one-tensor input. Imported by ``hf.build`` only (it
imports torch, transformers and, for LoRA, peft)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from orchestrator.data import quiet_hf
from orchestrator.errors import TrialFailure, first_line

__all__ = ["HFClassifier", "assemble"]


class HFClassifier(nn.Module):
    """A Transformers sequence classifier taking ``(N, 2, L)`` int64: token ids, then the
    attention mask. Columns that are padding in every row of the batch are cut first.

    Args:
        network: the Transformers model (or its ``peft`` wrapper).
        head: names (in this module) of the newly initialised head's parameters.
        meta: what rebuilds it elsewhere: the family config, the data spec, the base model.
        rebuild: ``rebuild(meta, state)``, a module-level function that makes it again; pickling
            stores only ``meta`` and :meth:`state_to_save` (see :meth:`__reduce__`).
    """

    eval_batch_size = 64  # texts per evaluation pass: activations of long texts are large

    def __init__(
        self,
        network: nn.Module,
        *,
        head: set[str],
        meta: dict[str, Any],
        rebuild: Callable[[dict[str, Any], dict[str, Any]], nn.Module],
    ) -> None:
        super().__init__()
        self.network = network
        self.head_names = frozenset(head)
        self.meta = meta
        self.rebuild = rebuild

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, mask = x[:, 0], x[:, 1]
        used = mask.any(dim=0)  # padding on either side: the columns some text uses
        if not bool(used.all()):
            ids, mask = ids[:, used], mask[:, used]
        return self.network(input_ids=ids, attention_mask=mask).logits

    def head_parameters(self) -> list[nn.Parameter]:
        """The new head's parameters (``train.head_lr_factor`` applies to them)."""
        return [p for n, p in self.named_parameters() if n in self.head_names]

    def state_to_save(self) -> dict[str, torch.Tensor]:
        """The parameters that train, and nothing of the frozen base model."""
        trained = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in trained}

    def load_saved_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`state_to_save`'s entries on top of the base model.

        Raises:
            RuntimeError: entries that are not this model's, or trained ones that are absent.
        """
        result = self.load_state_dict(state, strict=False)
        trained = {n for n, p in self.named_parameters() if p.requires_grad}
        absent = [k for k in result.missing_keys if k in trained]
        if result.unexpected_keys or absent:
            raise RuntimeError(
                "the saved weights do not fit this model: "
                f"unexpected {result.unexpected_keys[:3]}, absent {absent[:3]}"
            )

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (hpo retrain ships it so): the base model's reference and the trained part
        return (self.rebuild, (self.meta, self.state_to_save()))


def assemble(
    folder: Path,
    *,
    given: str,
    num_labels: int,
    problem_type: str | None = None,
    new_head: bool = False,
    unfreeze_layers: int | str,
    lora: dict[str, Any] | None,
    meta: dict[str, Any],
    rebuild: Callable[[dict[str, Any], dict[str, Any]], nn.Module],
) -> HFClassifier:
    """Load the base model with a head of ``num_labels``, then freeze or adapt it.

    A head saved with the model at that size is kept and trains on, as Transformers keeps it
    (``new_head``: initialised anew, as the model's own initialisation does); a head of
    another size, or none, is new.

    Raises:
        TrialFailure: no new head found, more layers asked than the model has, or a LoRA
            setting peft refuses.
    """
    from transformers import AutoModelForSequenceClassification

    with quiet_hf():
        network, info = AutoModelForSequenceClassification.from_pretrained(
            str(folder),
            num_labels=num_labels,
            problem_type=problem_type,
            local_files_only=True,
            ignore_mismatched_sizes=True,  # a saved head of another size is replaced
            output_loading_info=True,
        )
    if network.config.pad_token_id is None:  # decoder models: pad with the end-of-text token
        network.config.pad_token_id = network.config.eos_token_id
    mismatched = {k[0] if isinstance(k, tuple) else k for k in info["mismatched_keys"]}
    new = {str(k) for k in (*info["missing_keys"], *mismatched)}
    new &= {name for name, _ in network.named_parameters()}
    if not new:  # the saved head fits: kept (or made anew), and it is what trains first
        new = _saved_head(network)
        if not new:
            raise TrialFailure(
                f"{given}: found no classification head (no module named "
                f"{' or '.join(HEAD_MODULES)}); give a sequence classification model"
            )
        if new_head:
            _initialise(network, new)
    prefix, n_layers = _layer_stack(network)
    top = n_layers if unfreeze_layers == "all" else int(unfreeze_layers)
    if top > n_layers:
        raise TrialFailure(f"model.unfreeze_layers={top}: {given} has {n_layers} layers")
    layered = unfreeze_layers != "all"
    if lora is not None and top > 0:
        network = _add_lora(
            network,
            lora,
            new=new,
            prefix=prefix,
            layers=(n_layers - top, n_layers) if layered else None,
        )
        head = {n for n, _ in network.named_parameters() if ".modules_to_save." in n}
    else:
        if layered:
            _freeze(network, new=new, prefix=prefix, first=n_layers - top if top else None)
        head = new
    return HFClassifier(network, head={f"network.{n}" for n in head}, meta=meta, rebuild=rebuild)


HEAD_MODULES = ("pre_classifier", "classifier", "score", "classification_head")


def _saved_head(network: nn.Module) -> set[str]:
    """The parameters of a sequence classifier's head that came with the saved model: those of
    its top-level modules Transformers names heads with (``classifier``, ``score``, ...)."""
    heads = [name for name, _ in network.named_children() if name in HEAD_MODULES]
    return {
        name
        for name, _ in network.named_parameters()
        if any(name.startswith(f"{h}.") for h in heads)
    }


def _initialise(network: nn.Module, names: set[str]) -> None:
    """Initialise the modules holding ``names`` anew as Transformers initialises a new head:
    linear weights from a normal of the model's ``initializer_range`` (0.02 without one),
    biases 0, norms to 1 and 0; anything else by its own ``reset_parameters``."""
    std = float(getattr(network.config, "initializer_range", 0.02))
    for owner in sorted({name.rsplit(".", 1)[0] for name in names}):
        module = network.get_submodule(owner)
        with torch.no_grad():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif hasattr(module, "reset_parameters"):
                module.reset_parameters()


def _layer_stack(network: nn.Module) -> tuple[str, int]:
    """The encoder's layers: the name and length of the ``nn.ModuleList`` with the most
    parameters (``bert.encoder.layer``, ``transformer.h``, ...)."""
    stacks = [(n, m) for n, m in network.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    if not stacks:
        return "", 0
    name, stack = max(stacks, key=lambda s: sum(p.numel() for p in s[1].parameters()))
    return name, len(stack)


def _freeze(network: nn.Module, *, new: set[str], prefix: str, first: int | None) -> None:
    """Train the head, layer ``first`` and every parameter registered after it (the layers above,
    a pooler, a final norm); freeze the rest. ``first=None``: the head only."""
    names = [n for n, _ in network.named_parameters()]
    start = len(names)
    if first is not None:
        start = next((i for i, n in enumerate(names) if n.startswith(f"{prefix}.{first}.")), start)
    trained = set(names[start:]) | new
    for name, param in network.named_parameters():
        param.requires_grad_(name in trained)


def _add_lora(
    network: nn.Module,
    lora: dict[str, Any],
    *,
    new: set[str],
    prefix: str,
    layers: tuple[int, int] | None,
) -> nn.Module:
    """LoRA adapters on ``target_modules`` (in ``layers``, or all), the head trained in full."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=list(lora["target_modules"]),
        modules_to_save=sorted({n.rsplit(".", 1)[0] for n in new}),
        layers_to_transform=list(range(*layers)) if layers else None,
        layers_pattern=prefix.rsplit(".", 1)[-1] if layers else None,
    )
    try:
        with quiet_hf():
            return get_peft_model(network, config)
    except ValueError as exc:
        raise TrialFailure(f"model.adapter.lora: {first_line(exc)}", kind="error") from exc
