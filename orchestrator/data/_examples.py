"""A few samples in the raw form new input comes in: what a shipped model's signature and input
example show (the columns of a table, the text, the raw values of arrays)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.data._hf_text import ENCODING as HF_TEXT
from orchestrator.data._table import read_labelled

if TYPE_CHECKING:
    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = ["raw_examples"]


def raw_examples(config: DataConfig, splits: Splits, *, n: int = 5) -> Any:
    """``n`` training samples as :func:`~orchestrator.data.apply_preprocessing` takes new ones:
    a DataFrame of the columns a CSV model reads (its features, or its text column), else an
    array of each sample's raw values, flattened (the standardisation undone)."""
    import numpy as np

    preprocessing = splits.preprocessing
    encoding = preprocessing.get("encoding") or {}
    kind = encoding.get("type")
    if kind in ("table", "text", HF_TEXT):
        frame = read_labelled(config, warn=False)
        rows = frame.iloc[splits.indices["train"][:n]]
        if kind == "table":
            return rows[[c["name"] for c in encoding["columns"]]].reset_index(drop=True)
        return rows[[encoding["column"]]].reset_index(drop=True)
    x = splits.model_input(splits.train[0][:n]).numpy().astype(np.float64)
    norm = preprocessing.get("normalize")
    if norm:
        mean, std = np.asarray(norm["mean"]), np.asarray(norm["std"])
        if norm["mode"] == "per_channel":
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean, std = mean.reshape(shape), std.reshape(shape)
        x = x * std + mean
    if kind == "sequence_tf":  # stored (N, F, T), given as (N, T, F)
        x = x.transpose(0, 2, 1)
    return x.reshape(len(x), -1).astype(np.float32)
