"""Layer helpers shared by the families' ``build`` functions (only imported from there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    import torch

__all__ = [
    "AttentionPool",
    "activation",
    "dense_block",
    "pool_steps",
    "sinusoidal_positions",
    "token_embedding",
]

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


def token_embedding(vocab_size: int | None, dim: int) -> nn.Embedding:
    """An embedding for token ids; id 0 is padding (a zero vector, never updated).

    Raises:
        ValueError: no vocabulary size (the data spec of token data always has one).
    """
    if not vocab_size:
        raise ValueError("token data needs spec.vocab_size")
    return nn.Embedding(vocab_size, dim, padding_idx=0)


def pool_steps(h: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """``(N, L, D) -> (N, D)``: the mean or max over the steps that ``mask`` (N, L) keeps."""
    import torch

    if how == "mean":
        if mask is None:
            return h.mean(dim=1)
        keep = mask.unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
    if how == "max":
        if mask is None:
            return h.amax(dim=1)
        return h.masked_fill(~mask.unsqueeze(-1), torch.finfo(h.dtype).min).amax(dim=1)
    raise ValueError(f"unknown pooling {how!r}; valid: mean, max")


class AttentionPool(nn.Module):
    """Additive attention over steps: a learnt score per step, softmax over the kept steps."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        import torch

        scores = self.score(h).squeeze(-1)  # (N, L)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores.float(), dim=1).to(h.dtype)
        return (weights.unsqueeze(-1) * h).sum(dim=1)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """``(length, dim)`` fixed sine/cosine position codes (Vaswani et al., 2017)."""
    import math

    import torch

    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * freq)
    codes[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return codes
