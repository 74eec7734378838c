"""The one split-and-normalise path every loader ends in.

A loader reads its source into NumPy arrays ``x`` (one row per sample) and ``y`` (labels of any
type) and calls :func:`make_splits`, which adds the channel axis where the kind needs one, encodes
the labels, splits train/val/test (stratified, seeded), standardises with train-split statistics
only, and records in ``preprocessing`` what :func:`apply_preprocessing` needs to prepare new input
the same way. NumPy, scikit-learn and torch are imported inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.data._spec import DATA_KINDS, DataKind, DataSpec, Splits
from orchestrator.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig

__all__ = ["apply_preprocessing", "make_splits"]

logger = logging.getLogger(__name__)

# per-sample rank each kind ends up with, after an added channel axis
_SAMPLE_RANK = {"image": 3, "sequence": 2, "features": 1, "tokens": 1}
_STD_FLOOR = 1e-8  # a constant column (e.g. digits' corner pixels) keeps std 1, not 0


def make_splits(
    x: np.ndarray,
    y: np.ndarray | Sequence[Any],
    *,
    kind: DataKind,
    config: DataConfig,
    seed: int,
    source: str,
    class_names: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> Splits:
    """Split ``x``/``y`` into train, validation and test tensors and standardise them.

    Args:
        x: samples, ``(N, C, H, W)`` or ``(N, H, W)`` for images, ``(N, C, L)`` or ``(N, L)`` for
            sequences, ``(N, F)`` for features, ``(N, L)`` integer ids for tokens.
        y: ``N`` labels: class indices ``0..K-1`` when ``class_names`` is given, else any values
            (sorted unique values become the classes).
        kind: what the samples are; decides the channel axis and how statistics are pooled.
        config: fractions and ``normalize``.
        seed: the split's ``random_state``.
        source: the data set's name, for messages and the record.
        class_names: names of classes ``0..K-1``; classes absent from ``y`` are allowed.
        vocab_size: tokens only: ids must lie in ``[0, vocab_size)``.

    Raises:
        DataError: inconsistent shapes or labels, or fractions that leave no training data.
    """
    import numpy as np
    import torch

    if kind not in DATA_KINDS:
        raise DataError(f"{source}: unknown data kind {kind!r}; valid: {', '.join(DATA_KINDS)}")
    x = np.asarray(x)
    if kind in ("image", "sequence") and x.ndim == _SAMPLE_RANK[kind]:
        x = x[:, None]  # single channel: (N, H, W) -> (N, 1, H, W), (N, L) -> (N, 1, L)
    if x.ndim != _SAMPLE_RANK[kind] + 1:
        raise DataError(
            f"{source}: {kind} data needs samples of rank {_SAMPLE_RANK[kind]}, "
            f"got x of shape {x.shape}"
        )
    y_idx, names = _encode_labels(y, class_names=class_names, source=source)
    if len(x) != len(y_idx):
        raise DataError(f"{source}: x has {len(x)} rows but y has {len(y_idx)} labels")
    if kind == "tokens":
        if vocab_size is None:
            raise DataError(f"{source}: tokens data needs a vocab_size")
        if x.size and (x.min() < 0 or x.max() >= vocab_size):
            raise DataError(
                f"{source}: token ids must lie in [0, {vocab_size}), "
                f"got [{int(x.min())}, {int(x.max())}]"
            )

    train_rows, val_rows, test_rows, stratified = _split_indices(
        y_idx, val=config.val_fraction, test=config.test_fraction, seed=seed, source=source
    )
    idx = {"train": train_rows, "val": val_rows, "test": test_rows}

    x = x.astype(np.float32, copy=False)
    norm = _fit_normalizer(x[idx["train"]], kind) if config.normalize and kind != "tokens" else None
    preprocessing: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "input_shape": list(x.shape[1:]),
        "normalize": norm,
        "seed": int(seed),
        "val_fraction": float(config.val_fraction),
        "test_fraction": float(config.test_fraction),
        "stratified": stratified,
    }

    def tensors(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xs = _normalize(x[rows], norm)
        return torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(y_idx[rows])

    spec = DataSpec(
        kind=kind,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        num_classes=len(names),
        class_names=names,
        vocab_size=vocab_size,
    )
    splits = Splits(
        train=tensors(idx["train"]),
        val=tensors(idx["val"]),
        test=tensors(idx["test"]),
        spec=spec,
        preprocessing=preprocessing,
        indices=idx,
    )
    logger.debug("%s: split %s (stratified=%s)", source, splits.sizes, stratified)
    return splits


def apply_preprocessing(x_raw: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Prepare new raw samples exactly as :func:`make_splits` prepared the training data.

    Args:
        x_raw: samples in the source's raw layout (any shape with ``N * prod(input_shape)`` values).
        preprocessing: ``Splits.preprocessing``, possibly after a JSON round trip.

    Returns:
        float32 array of shape ``(N, *input_shape)``.
    """
    import numpy as np

    shape = tuple(preprocessing["input_shape"])
    x = np.asarray(x_raw, dtype=np.float32).reshape(-1, *shape)
    return _normalize(x, preprocessing.get("normalize"))


def _encode_labels(
    y: np.ndarray | Sequence[Any], *, class_names: Sequence[str] | None, source: str
) -> tuple[np.ndarray, list[str]]:
    import numpy as np

    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be one value per sample, got shape {y.shape}")
    if class_names is None:
        classes, y_idx = np.unique(y, return_inverse=True)
        return y_idx.astype(np.int64), [str(c) for c in classes.tolist()]
    k = len(class_names)
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= k)):
        raise DataError(f"{source}: labels must be class indices in [0, {k}) for {k} class names")
    return y.astype(np.int64), [str(c) for c in class_names]


def _split_indices(
    y: np.ndarray, *, val: float, test: float, seed: int, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Row indices of train, val and test: test first, then val out of the rest."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    if val + test >= 1:
        raise DataError(
            f"data: val_fraction + test_fraction must be < 1 to leave training data, "
            f"got {val} + {test} = {val + test:g}"
        )
    rows = np.arange(len(y))
    state = seed % 2**32
    val_of_rest = val / (1 - test)
    try:
        rest, test_rows = train_test_split(rows, test_size=test, random_state=state, stratify=y)
        train_rows, val_rows = train_test_split(
            rest, test_size=val_of_rest, random_state=state, stratify=y[rest]
        )
        stratified = True
    except ValueError as exc:  # a class too rare to appear in every split
        logger.warning("%s: stratified split impossible (%s); splitting at random", source, exc)
        try:
            rest, test_rows = train_test_split(rows, test_size=test, random_state=state)
            train_rows, val_rows = train_test_split(rest, test_size=val_of_rest, random_state=state)
        except ValueError as exc2:
            raise DataError(f"{source}: cannot split {len(y)} samples: {exc2}") from exc2
        stratified = False
    return np.sort(train_rows), np.sort(val_rows), np.sort(test_rows), stratified


def _fit_normalizer(x_train: np.ndarray, kind: str) -> dict[str, Any]:
    """Mean and std from the training split: per channel for images/sequences, per feature else."""
    import numpy as np

    if kind in ("image", "sequence"):
        axes = tuple(i for i in range(x_train.ndim) if i != 1)
        mode = "per_channel"
    else:
        axes = (0,)
        mode = "per_feature"
    mean = x_train.mean(axis=axes, dtype=np.float64)
    std = x_train.std(axis=axes, dtype=np.float64)
    std = np.where(std < _STD_FLOOR, 1.0, std)
    return {"mode": mode, "mean": mean.tolist(), "std": std.tolist()}


def _normalize(x: np.ndarray, norm: dict[str, Any] | None) -> np.ndarray:
    import numpy as np

    if not norm:
        return x
    mean = np.asarray(norm["mean"], dtype=np.float32)
    std = np.asarray(norm["std"], dtype=np.float32)
    if norm["mode"] == "per_channel":  # broadcast over (N, C, ...) on axis 1
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        mean, std = mean.reshape(bshape), std.reshape(bshape)
    return ((x - mean) / std).astype(np.float32, copy=False)
