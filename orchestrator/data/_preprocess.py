"""New input prepared exactly as a data set's training data was, from its preprocessing record.

For ``hpo predict``: the record (``Splits.preprocessing``) says how a CSV table or text column was
encoded (:mod:`._table`, :mod:`._text`, :mod:`._hf_text`), the input shape, and the
standardisation that :func:`~orchestrator.data.make_splits` fitted on the training split
(:func:`._split.normalize`).
Sits above the loaders' modules, so that imports inside the package flow one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.data._hf_text import ENCODING as HF_TEXT
from orchestrator.data._hf_text import encode_hf_texts
from orchestrator.data._split import normalize
from orchestrator.data._table import encode_table
from orchestrator.data._text import encode_texts

if TYPE_CHECKING:
    import numpy as np

__all__ = ["apply_preprocessing"]


def apply_preprocessing(x_raw: Any, preprocessing: dict[str, Any]) -> np.ndarray:
    """Prepare new raw samples exactly as :func:`~orchestrator.data.make_splits` prepared the
    training data.

    Args:
        x_raw: samples in the source's raw layout: for arrays any shape with
            ``N * prod(input_shape)`` values; for a CSV table a pandas DataFrame (or a mapping
            of columns) with the feature columns; for a CSV text column a DataFrame with that
            column or a sequence of strings.
        preprocessing: ``Splits.preprocessing``, possibly after a JSON round trip.

    Returns:
        float32 array of shape ``(N, *input_shape)``; int64 token ids for text (ids and
        attention mask for a pretrained model's tokenizer).

    Raises:
        DataError: a table that lacks one of the feature columns.
    """
    import numpy as np

    encoding = preprocessing.get("encoding") or {}
    if encoding.get("type") == "table":
        x_raw = encode_table(x_raw, encoding)
    elif encoding.get("type") == "text":
        return encode_texts(x_raw, encoding)
    elif encoding.get("type") == HF_TEXT:  # a pretrained model's own tokenizer
        return encode_hf_texts(x_raw, encoding)
    elif encoding.get("type") == "sequence_tf":  # (N, T, F) sources are stored channels-first
        x_raw = np.asarray(x_raw, dtype=np.float32)
        x_raw = x_raw.reshape(len(x_raw), -1, preprocessing["input_shape"][0]).transpose(0, 2, 1)
    shape = tuple(preprocessing["input_shape"])
    x = np.asarray(x_raw, dtype=np.float32).reshape(-1, *shape)
    return normalize(x, preprocessing.get("normalize"))
