"""Layer helpers shared by the families' ``build`` functions (only imported from there)."""

from __future__ import annotations

from torch import nn

__all__ = ["activation", "dense_block"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name.

    Raises:
        ValueError: an unknown name (configs are validated first, so this is a programming error).
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid: {', '.join(sorted(_ACTIVATIONS))}"
        ) from None


def dense_block(
    in_features: int,
    out_features: int,
    *,
    act: str,
    norm: str = "none",
    dropout: float = 0.0,
) -> list[nn.Module]:
    """Linear -> norm (``none``/``batch``/``layer``) -> activation -> dropout, as a module list."""
    layers: list[nn.Module] = [nn.Linear(in_features, out_features, bias=norm != "batch")]
    if norm == "batch":
        layers.append(nn.BatchNorm1d(out_features))
    elif norm == "layer":
        layers.append(nn.LayerNorm(out_features))
    elif norm != "none":
        raise ValueError(f"unknown norm {norm!r}; valid: none, batch, layer")
    layers.append(activation(act))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers
