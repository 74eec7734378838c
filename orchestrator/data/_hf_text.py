"""A CSV text column tokenised by a pretrained model's own tokenizer, cached per ``max_length``.

The ``csv`` loader splits the rows and fits hpo's word vocabulary; a family that brings its own
tokenizer (``hf``) re-encodes the same rows with it: :func:`hf_text_splits` returns the same
splits (rows, labels, classes) with each sample ``(2, max_length)`` int64: the token ids, then
the attention mask (1 for a token, 0 for padding). Encodings are cached on disk like other
derived data, keyed by the CSV's content, the column, the tokenizer's model digest and
``max_length``; :func:`encode_hf_texts` prepares new text the same way (``hpo predict``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.data._cache import cache_key, cache_root, cached_arrays
from orchestrator.data._pretrained import (
    load_tokenizer,
    locate_recorded,
    pretrained_digest,
    resolve_pretrained,
)
from orchestrator.data._spec import Splits
from orchestrator.data._table import read_labelled
from orchestrator.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig

__all__ = ["ENCODING", "encode_hf_texts", "hf_text_splits"]

ENCODING = "hf_text"  # preprocessing["encoding"]["type"]


def hf_text_splits(splits: Splits, data: DataConfig, *, pretrained: str, max_length: int) -> Splits:
    """``splits`` of a CSV text column, re-encoded by the tokenizer of ``pretrained``.

    Args:
        splits: what the ``csv`` loader gave for ``data`` (a text column).
        data: the data settings they were loaded with.
        pretrained: ``model.pretrained`` (a folder, or a package that ships one).
        max_length: tokens per row, special tokens included; longer rows are cut.

    Raises:
        DataError: data that is not a CSV text column.
        ConfigError: no model folder, or an incomplete one.
    """
    import numpy as np
    import torch

    encoding = splits.preprocessing.get("encoding") or {}
    if encoding.get("type") != "text" or not data.path:
        raise DataError(
            f"model.family: hf takes a CSV text column (data: {{name: csv, text: COLUMN}}), "
            f"got {splits.spec.kind} data from {data.name}"
        )
    folder = resolve_pretrained(pretrained)
    record = {
        "type": ENCODING,
        "column": encoding["column"],
        "pretrained": pretrained,
        "path": str(folder),
        "digest": pretrained_digest(folder),
        "max_length": int(max_length),
    }
    settings = {**record, "csv": _file_digest(Path(data.path).expanduser()), "target": data.target}
    settings.pop("path")  # the same model found elsewhere is the same cache entry
    entry = cache_root(data) / "hf_text" / cache_key(settings)

    def make() -> dict[str, np.ndarray]:
        texts = read_labelled(data, warn=False)[encoding["column"]].tolist()
        tokenizer = load_tokenizer(folder)
        return {"x": _encode(texts, tokenizer, max_length), "vocab_size": np.array(len(tokenizer))}

    arrays, _ = cached_arrays(entry, make)
    x = arrays["x"]
    n_rows = sum(len(rows) for rows in splits.indices.values())
    if len(x) != n_rows:  # the CSV changed between the two reads
        raise DataError(f"data.path: {data.path} changed while it was read; run again")

    def part(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        rows = splits.indices[name]
        return torch.from_numpy(x[rows].astype(np.int64)), getattr(splits, name)[1]

    shape = (2, int(max_length))
    return dataclasses.replace(
        splits,
        train=part("train"),
        val=part("val"),
        test=part("test"),
        spec=dataclasses.replace(
            splits.spec, kind="tokens", input_shape=shape, vocab_size=int(arrays["vocab_size"])
        ),
        preprocessing={**splits.preprocessing, "input_shape": list(shape), "encoding": record},
    )


def encode_hf_texts(texts: Any, encoding: dict[str, Any]) -> np.ndarray:
    """``(N, 2, max_length)`` int64 (ids, mask) of new ``texts``: strings, or a DataFrame (or a
    mapping of columns) holding ``encoding["column"]``, prepared as the training rows were.

    Raises:
        ConfigError: the base model (its tokenizer) is not found, or is not the one recorded.
    """
    column = encoding["column"]
    if hasattr(texts, "columns") or isinstance(texts, dict):
        texts = texts[column]
    if isinstance(texts, str):
        texts = [texts]
    folder = locate_recorded(encoding)
    return _encode(list(texts), load_tokenizer(folder), int(encoding["max_length"])).astype("int64")


def _encode(texts: list[Any], tokenizer: Any, max_length: int) -> np.ndarray:
    import numpy as np

    strings = [t if isinstance(t, str) else "" for t in texts]  # NaN from pandas, None
    out = tokenizer(
        strings,
        truncation=True,
        max_length=max_length,
        padding="max_length",
        return_attention_mask=True,
        return_token_type_ids=False,
    )
    ids = np.asarray(out["input_ids"], dtype=np.int32)
    mask = np.asarray(out["attention_mask"], dtype=np.int32)
    return np.stack([ids, mask], axis=1)  # int32 on disk; int64 tensors for the model


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
