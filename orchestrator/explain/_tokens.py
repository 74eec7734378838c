"""Token ids back into words, and the all-padding text an attribution starts from.

hpo's own text encoding keeps its vocabulary (id 0 pads, 1 is unknown); a pretrained model's
input is ``(2, L)``: ids and attention mask, and its tokenizer (from the local folder recorded
with the data) says what an id is and which one pads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["Vocabulary"]


@dataclass
class Vocabulary:
    """What each id of a text model's input is."""

    words: list[str] | None  # hpo's vocabulary, by id
    tokenizer: Any = None  # a pretrained model's
    pad_id: int = 0
    with_mask: bool = False  # input (N, 2, L): ids, attention mask

    @classmethod
    def of(cls, preprocessing: dict[str, Any]) -> Vocabulary:
        """The vocabulary of a split's preprocessing record (a pretrained tokenizer is loaded
        from its local folder; nothing is downloaded)."""
        encoding = preprocessing.get("encoding") or {}
        if encoding.get("type") == "text":
            return cls(words=list(encoding["vocab"]))
        from orchestrator.data import HF_TEXT, load_tokenizer, locate_recorded

        if encoding.get("type") == HF_TEXT:
            tokenizer = load_tokenizer(locate_recorded(encoding))
            pad = tokenizer.pad_token_id
            return cls(words=None, tokenizer=tokenizer, pad_id=int(pad or 0), with_mask=True)
        return cls(words=None)

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with every id replaced by padding (a pretrained model's mask kept)."""
        out = x.clone()
        if self.with_mask:
            out[:, 0] = self.pad_id
        else:
            out[:] = self.pad_id
        return out

    def _word(self, token: int) -> str:
        if self.words is not None:
            return self.words[token] if 0 <= token < len(self.words) else f"#{token}"
        if self.tokenizer is not None:
            return str(self.tokenizer.convert_ids_to_tokens(int(token)))
        return f"#{token}"

    def pairs(self, sample: torch.Tensor, values: np.ndarray) -> list[tuple[str, float]]:
        """The tokens of one input and the attribution of each, padding left out.

        ``values`` holds one value per position the embedding saw: every position (hpo's text
        families), or those the attention mask keeps (a pretrained model cuts padding).
        """
        if self.with_mask:
            ids, mask = sample[0], sample[1]
            kept = [int(t) for t, m in zip(ids.tolist(), mask.tolist(), strict=True) if m]
            special = set(getattr(self.tokenizer, "all_special_ids", []) or [])
            if len(values) == len(ids):
                values = values[mask.numpy().astype(bool)]
            pairs = zip(kept, values.tolist(), strict=False)
            return [(self._word(t), v) for t, v in pairs if t not in special]
        ids = sample.tolist()
        return [
            (self._word(t), float(v))
            for t, v in zip(ids, values.tolist(), strict=False)
            if t != self.pad_id
        ]
