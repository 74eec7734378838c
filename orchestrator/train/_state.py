"""What of a model's state a trial saves, and how it is loaded back.

By default the whole ``state_dict``. A model may say otherwise with two methods: a model that
fine-tunes part of a pretrained network saves only what training changed
(``state_to_save() -> dict``, e.g. a LoRA adapter and a new head: MB, not the whole network) and
loads it back on top of the pretrained weights (``load_saved_state(state)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["load_saved_state", "load_weights", "state_to_save"]


def state_to_save(model: torch.nn.Module) -> dict[str, Any]:
    """A CPU copy of what a trial saves of ``model``: its ``state_to_save()``, else its
    ``state_dict()``."""
    own = getattr(model, "state_to_save", None)
    state = own() if callable(own) else model.state_dict()
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def load_saved_state(model: torch.nn.Module, state: dict[str, Any]) -> None:
    """Load what :func:`state_to_save` gave back into ``model`` (built as it was).

    Raises:
        RuntimeError: keys or shapes that do not fit the model (torch's own message).
    """
    own = getattr(model, "load_saved_state", None)
    if callable(own):
        own(state)
    else:
        model.load_state_dict(state)


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a state dict saved with ``torch.save`` (a trial's ``model.pt``) into ``model``."""
    import torch

    load_saved_state(model, torch.load(path, map_location="cpu", weights_only=True))
