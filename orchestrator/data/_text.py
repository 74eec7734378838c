"""Text to token ids: a word or character tokenizer and a vocabulary built on the train split.

Id 0 pads, id 1 stands for a token outside the vocabulary; rows are truncated to ``max_length``
tokens and padded at the end. The whole encoding is a JSON-serialisable record, so new text is
prepared exactly as the training text was (:func:`encode_texts`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PAD", "UNK", "build_vocab", "encode_texts", "fit_text_encoding", "tokenize"]

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1
_WORD = re.compile(r"\w+|[^\w\s]")  # words, and each punctuation mark on its own


def tokenize(text: str, tokenizer: Literal["word", "char"]) -> list[str]:
    """Lowercased tokens: words and punctuation marks, or characters (spaces included)."""
    text = text.lower()
    if tokenizer == "word":
        return _WORD.findall(text)
    if tokenizer == "char":
        return list(" ".join(text.split()))  # runs of whitespace count as one space
    raise ValueError(f"unknown tokenizer {tokenizer!r}; valid: word, char")


def build_vocab(
    token_lists: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int = 20000
) -> list[str]:
    """``[PAD, UNK, *tokens]``: tokens seen at least ``min_freq`` times, most frequent first
    (ties alphabetical), at most ``max_size`` entries in all."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
    return [PAD, UNK, *kept[: max(max_size - 2, 0)]]


def fit_text_encoding(
    texts: Sequence[str],
    *,
    column: str,
    tokenizer: Literal["word", "char"],
    max_length: int,
    min_freq: int,
    max_vocab: int,
) -> dict[str, Any]:
    """The encoding record, with the vocabulary of ``texts`` (the training rows only)."""
    vocab = build_vocab(
        (tokenize(t, tokenizer) for t in texts), min_freq=min_freq, max_size=max_vocab
    )
    return {
        "type": "text",
        "column": column,
        "tokenizer": tokenizer,
        "max_length": max_length,
        "vocab": vocab,
    }


def encode_texts(texts: Any, encoding: dict[str, Any]) -> np.ndarray:
    """Token ids ``(N, max_length)`` int64 for ``texts``: strings, or a DataFrame (or mapping of
    columns) holding ``encoding["column"]``. Missing text encodes as all padding."""
    import numpy as np

    column = encoding["column"]
    if hasattr(texts, "columns") or isinstance(texts, dict):
        texts = texts[column]
    if isinstance(texts, str):
        texts = [texts]
    index = {token: i for i, token in enumerate(encoding["vocab"])}
    length = int(encoding["max_length"])
    ids = np.zeros((len(texts), length), dtype=np.int64)
    for row, text in enumerate(texts):
        if not isinstance(text, str):  # NaN from pandas, None
            continue
        tokens = tokenize(text, encoding["tokenizer"])[:length]
        ids[row, : len(tokens)] = [index.get(t, 1) for t in tokens]
    return ids
