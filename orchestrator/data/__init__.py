"""Data sets by name: a registry of loaders that all end in one split-and-normalise path.

Bundled: ``digits`` (8x8 images), ``iris``, ``wine``, ``breast_cancer`` (tables), ``mnist1d``
(1D signals, generated locally and cached). Loaders of the user's files: ``csv`` (a table, or a
text column), ``npz`` (arrays) and ``images`` (a folder per class). Nothing here downloads.

``load_data(DataConfig(name="digits"), seed=0)`` returns :class:`Splits`:
train/val/test tensors on the CPU, the :class:`DataSpec` a model sizes itself from, and the
preprocessing record needed to prepare new input. A new loader is a function
``(config, *, seed) -> Splits`` that reads its source into arrays and calls :func:`make_splits`,
plus one line in :data:`LOADERS` (``_registry.py``).

A model family that brings its own tokenizer re-encodes a CSV text column with it
(:func:`hf_text_splits`: a pretrained Hugging Face model, found offline by
:func:`resolve_pretrained`).

Importing this package is cheap: NumPy, scikit-learn and torch are imported inside the loaders.
"""

from __future__ import annotations

from orchestrator.data._arrays import read_image
from orchestrator.data._cache import CACHE_ENV
from orchestrator.data._examples import raw_examples
from orchestrator.data._folds import cv_folds, searched_rows
from orchestrator.data._hf_text import ENCODING as HF_TEXT
from orchestrator.data._hf_text import encode_hf_texts, hf_text_splits
from orchestrator.data._preprocess import apply_preprocessing
from orchestrator.data._pretrained import (
    HF_EXTRA,
    import_hf,
    load_tokenizer,
    locate_recorded,
    pretrained_digest,
    quiet_hf,
    resolve_pretrained,
)
from orchestrator.data._registry import LOADERS, Loader, load_data
from orchestrator.data._spec import DataKind, DataSpec, Splits
from orchestrator.data._split import make_splits, split_rows

__all__ = [
    "CACHE_ENV",
    "HF_EXTRA",
    "HF_TEXT",
    "LOADERS",
    "DataKind",
    "DataSpec",
    "Loader",
    "Splits",
    "apply_preprocessing",
    "cv_folds",
    "encode_hf_texts",
    "hf_text_splits",
    "import_hf",
    "load_data",
    "load_tokenizer",
    "locate_recorded",
    "make_splits",
    "pretrained_digest",
    "quiet_hf",
    "raw_examples",
    "read_image",
    "resolve_pretrained",
    "searched_rows",
    "split_rows",
]
