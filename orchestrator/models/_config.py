"""Pieces the family configs share. No torch here: configs are parsed by ``hpo validate``."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Activation", "StrictConfig", "check_per_layer", "per_layer"]

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]

T = TypeVar("T")


class StrictConfig(BaseModel):
    """Unknown keys are errors; a resolved config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_per_layer(value: list[T] | T, *, depth: int, field: str, unit: str) -> None:
    """A per-layer list must have exactly ``depth`` entries; a single value is shared by all.

    Raises:
        ValueError: (pydantic turns it into a validation error at ``field``'s model.)
    """
    if isinstance(value, list) and len(value) != depth:
        raise ValueError(
            f"{field}: a list needs exactly depth={depth} entries (one per {unit}), "
            f"got {len(value)}; give {depth} entries, change depth, or give one mapping "
            f"shared by every {unit}"
        )


def per_layer(value: list[T] | T, depth: int) -> list[T]:
    """The settings of each of ``depth`` layers, whether given per layer or once for all."""
    return list(value) if isinstance(value, list) else [value] * depth
