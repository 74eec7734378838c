"""The ``nn.Module`` classes the families build (imported only from their ``build``)."""

from __future__ import annotations

import torch
from torch import nn

from orchestrator.models._layers import AttentionPool, pool_steps, sinusoidal_positions

__all__ = ["ConvNet", "RecurrentNet", "TransformerNet"]


class ConvNet(nn.Module):
    """``embedding`` (token data only: ids -> vectors as channels) -> ``features`` -> ``head``."""

    def __init__(
        self, features: nn.Module, head: nn.Module, *, embedding: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x.long()).transpose(1, 2)  # (N, L, E) -> (N, E, L)
        return self.head(self.features(x))


def _token_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where a token is real (not padding); the first step always counts, so an empty
    text still has one step to read."""
    mask = ids != 0
    mask[:, 0] = True
    return mask


class RecurrentNet(nn.Module):
    """``embedding`` (tokens) -> LSTM/GRU -> pooling over steps -> dropout -> ``head``.

    Sequences ``(N, C, L)`` are read as ``L`` steps of ``C`` values. Padded token rows are
    packed, so the recurrence never reads padding.
    """

    def __init__(
        self,
        *,
        cell: str,
        input_size: int,
        hidden_size: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        pooling: str,
        n_outputs: int,
        embedding: nn.Module | None = None,
    ) -> None:
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.embedding = embedding
        self.rnn = rnn(
            input_size,
            hidden_size,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.directions = 2 if bidirectional else 1
        width = hidden_size * self.directions
        self.pooling = pooling
        self.attention = AttentionPool(width) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        if self.embedding is not None:
            ids = x.long()
            mask = _token_mask(ids)
            h = self.embedding(ids)
        else:
            h = x.transpose(1, 2)  # (N, C, L) -> (N, L, C)
        if mask is not None and not bool(mask.all()):
            lengths = mask.sum(dim=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(
                h, lengths, batch_first=True, enforce_sorted=False
            )
            out, state = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(
                out, batch_first=True, total_length=h.shape[1]
            )
        else:
            out, state = self.rnn(h)
            mask = None
        if self.pooling == "last":
            final = state[0] if isinstance(state, tuple) else state  # (layers*dirs, N, H)
            z = torch.cat(list(final[-self.directions :]), dim=-1)  # last layer, each direction
        elif self.attention is not None:
            z = self.attention(out, mask)
        else:
            z = pool_steps(out, mask, self.pooling)
        return self.head(self.dropout(z))


class TransformerNet(nn.Module):
    """Tokens -> (+ cls) + positions -> pre-norm encoder layers -> cls or mean -> ``head``.

    Input tokens: ids through ``embedding``; sequences ``(N, C, L)``: patches of ``patch_size``
    steps, each projected linearly; images ``(N, C, H, W)``: ``patch_size`` x ``patch_size``
    patches, projected linearly (as in ViT). A side that ``patch_size`` does not divide is padded
    with zeros.
    """

    def __init__(
        self,
        *,
        kind: str,
        in_features: int,
        patch_size: int,
        n_tokens: int,
        d_model: int,
        heads: int,
        ff_size: int,
        layers: int,
        dropout: float,
        activation: str,
        positions: str,
        pooling: str,
        n_outputs: int,
        embedding: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.patch_size = patch_size
        self.pooling = pooling
        self.embedding = embedding
        self.project = nn.Linear(in_features, d_model) if embedding is None else None
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" else None
        n_positions = n_tokens + (pooling == "cls")
        if positions == "learned":
            self.positions = nn.Parameter(torch.randn(1, n_positions, d_model) * 0.02)
        else:
            codes = sinusoidal_positions(n_positions, d_model).unsqueeze(0)
            self.register_buffer("positions", codes, persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=ff_size,
            dropout=dropout,
            activation=activation,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, n_outputs)

    def _tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(N, T, d_model)`` and the padding mask (True = real), None for real-valued input."""
        import torch.nn.functional as F

        if self.embedding is not None:
            ids = x.long()
            return self.embedding(ids), _token_mask(ids)
        p = self.patch_size
        assert self.project is not None
        if self.kind == "sequence":  # (N, C, L) -> (N, L/p, C*p)
            x = F.pad(x, (0, -x.shape[-1] % p))
            patches = x.unfold(2, p, p).permute(0, 2, 1, 3).flatten(2)
        else:  # (N, C, H, W) -> (N, H/p * W/p, C*p*p)
            x = F.pad(x, (0, -x.shape[-1] % p, 0, -x.shape[-2] % p))
            patches = x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).flatten(3)
            patches = patches.flatten(1, 2)
        return self.project(patches), None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, mask = self._tokens(x)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)
            if mask is not None:
                mask = torch.cat([mask.new_ones(len(h), 1), mask], dim=1)
        h = self.dropout(h + self.positions[:, : h.shape[1]])
        h = self.encoder(h, src_key_padding_mask=None if mask is None else ~mask)
        h = self.norm(h)
        z = h[:, 0] if self.cls is not None else pool_steps(h, mask, "mean")
        return self.head(z)
