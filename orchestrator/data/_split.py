"""The one split-and-normalise path every loader ends in.

A loader reads its source into NumPy arrays ``x`` (one row per sample) and ``y`` (labels of any
type) and calls :func:`make_splits`, which adds the channel axis where the kind needs one, encodes
the labels, splits train/val/test (stratified, seeded), standardises with train-split statistics
only, and records in ``preprocessing`` what :func:`~orchestrator.data.apply_preprocessing` needs
to prepare new input the same way. A loader whose encoding must be fitted on the training rows
only (a CSV's one-hot categories, a text vocabulary) splits first with :func:`split_rows` and
hands the rows over. NumPy, scikit-learn and torch are imported inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.data._spec import DATA_KINDS, DataKind, DataSpec, Splits
from orchestrator.errors import DataError
from orchestrator.tasks.multiclass import encode_labels

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig
    from orchestrator.tasks import Target

__all__ = ["encode_labels", "make_splits", "normalize", "read_target", "split_rows"]

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
    rows: dict[str, np.ndarray] | None = None,
    test_rows: np.ndarray | None = None,
    standardize: np.ndarray | None = None,
    encoding: dict[str, Any] | None = None,
    target: Target | None = None,
    target_name: str | Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Splits:
    """Split ``x``/``y`` into train, validation and test tensors and standardise them.

    Args:
        x: samples, ``(N, C, H, W)`` or ``(N, H, W)`` for images, ``(N, C, L)`` or ``(N, L)`` for
            sequences, ``(N, F)`` for features, ``(N, L)`` integer ids for tokens.
        y: ``N`` targets, encoded for ``config.task`` (``auto``: decided from them, see
            :func:`~orchestrator.tasks.encode_target`): class indices ``0..K-1`` when
            ``class_names`` is given, else any values (sorted unique values become the
            classes, or numbers a regression's target); ``(N, L)`` 0/1 for several labels.
        kind: what the samples are; decides the channel axis and how statistics are pooled.
        config: fractions, ``normalize``, ``task`` and ``positive_class``.
        seed: the split's ``random_state``.
        source: the data set's name, for messages and the record.
        class_names: names of classes ``0..K-1``; classes absent from ``y`` are allowed.
        vocab_size: tokens only: ids must lie in ``[0, vocab_size)``.
        rows: a split made already by :func:`split_rows` (labels must be the same).
        test_rows: a fixed test split (a published one); val comes out of the other rows.
        standardize: features only: a boolean mask of the columns to standardise (one-hot
            columns are left as they are); None standardises every column.
        encoding: the loader's own record (columns, categories, vocabulary), kept in
            ``preprocessing`` for :func:`~orchestrator.data.apply_preprocessing`.
        target: ``y`` encoded already (a loader that split first, with :func:`split_rows`);
            ``y`` is then ignored.
        target_name: the target's column (the labels' columns), for a regression's and a
            multi-label task's names and for the column ``hpo predict`` writes.
        feature_names: the features' names (a bundled table's), for ``hpo explain``.

    Raises:
        DataError: inconsistent shapes or labels, fewer than two classes, a class too small to
            split, or fractions that leave no training data.
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
    if target is None:
        target = read_target(
            y, config=config, source=source, class_names=class_names, names=target_name
        )
    if len(x) != len(target.y):
        raise DataError(f"{source}: x has {len(x)} rows but y has {len(target.y)} labels")
    if kind == "tokens":
        if vocab_size is None:
            raise DataError(f"{source}: tokens data needs a vocab_size")
        if x.size and (x.min() < 0 or x.max() >= vocab_size):
            raise DataError(
                f"{source}: token ids must lie in [0, {vocab_size}), "
                f"got [{int(x.min())}, {int(x.max())}]"
            )
    if rows is None:
        rows = split_rows(target, config=config, seed=seed, source=source, test_rows=test_rows)
    y_model, stats = _target_values(target, rows["train"])

    pixels = kind == "image" and x.dtype == np.uint8  # kept so: Splits.model_input per batch
    if kind == "tokens":
        x = x.astype(np.int64, copy=False)
        norm = None
    elif pixels:
        norm = _pixel_normalizer(x, rows["train"]) if config.normalize else None
    else:
        x = x.astype(np.float32, copy=False)
        norm = _fit_normalizer(x[rows["train"]], kind, standardize) if config.normalize else None
    preprocessing: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "input_shape": list(x.shape[1:]),
        "normalize": norm,
        "seed": int(seed),
        "val_fraction": float(config.val_fraction),
        "test_fraction": None if test_rows is not None else float(config.test_fraction),
        "published_test_split": test_rows is not None,
        "stratified": target.classes,
        "task": target.task,
        "target_name": _name_of(target_name, target),
    }
    if encoding:
        preprocessing["encoding"] = encoding
    if feature_names is not None:  # a bundled table's columns, for hpo explain
        preprocessing["feature_names"] = [str(n) for n in feature_names]

    def tensors(part: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xs = x[part] if pixels else normalize(x[part], norm)
        return torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(y_model[part])

    spec = DataSpec(
        kind=kind,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        num_classes=1 if target.task == "regression" else len(target.names),
        class_names=list(target.names),
        vocab_size=vocab_size,
        task=target.task,
        target=stats,
    )
    splits = Splits(
        train=tensors(rows["train"]),
        val=tensors(rows["val"]),
        test=tensors(rows["test"]),
        spec=spec,
        preprocessing=preprocessing,
        indices=dict(rows),
        note=target.note,
    )
    logger.debug("%s: split %s", source, splits.sizes)
    return splits


def read_target(
    y: Any,
    *,
    config: DataConfig,
    source: str,
    class_names: Sequence[str] | None = None,
    names: str | Sequence[str] | None = None,
) -> Target:
    """``y`` encoded for ``config.task`` (see :func:`orchestrator.tasks.encode_target`)."""
    from orchestrator.tasks import encode_target

    return encode_target(
        y,
        task=config.task,
        source=source,
        class_names=class_names,
        label_names=[names] if isinstance(names, str) else names,
        positive_class=config.positive_class,
    )


def _name_of(given: str | Sequence[str] | None, target: Target) -> str:
    """The column ``hpo predict`` names after the target."""
    if isinstance(given, str):
        return given
    return "target" if target.task == "multilabel" or not given else str(next(iter(given)))


def _target_values(target: Target, train: np.ndarray) -> tuple[np.ndarray, dict[str, float] | None]:
    """The targets as the model trains on them, and a regression target's statistics: its mean
    and standard deviation over the training rows (it is standardised with them), min and max."""
    import numpy as np

    if target.task != "regression":
        return target.y, None
    values = target.y[train]
    mean, std = float(values.mean()), float(values.std())
    std = std if std > _STD_FLOOR else 1.0
    stats = {"mean": mean, "std": std, "min": float(values.min()), "max": float(values.max())}
    return ((target.y - mean) / std).astype(np.float32), stats


def split_rows(
    y: Target | np.ndarray,
    *,
    config: DataConfig,
    seed: int,
    source: str,
    test_rows: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Row indices of train, val and test (each sorted), seeded; stratified by class when the
    target is classes (class indices given as ``y`` are), plain otherwise.

    Test comes out first (``test_fraction`` of all rows), then val (``val_fraction`` of all
    rows) out of the rest. With a fixed ``test_rows`` (a published test split), val is
    ``val_fraction`` of the other rows.

    Raises:
        DataError: fractions that leave no training data, a class too small to appear in
            every split, or splits too small to hold every class.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    if not hasattr(y, "task"):  # class indices
        from orchestrator.tasks import Target

        y = Target("multiclass", np.asarray(y), list(class_names or []))
    strata = y.y if y.classes else None
    names = y.names
    val, test = config.val_fraction, config.test_fraction
    all_rows = np.arange(len(y.y))
    if test_rows is None and val + test >= 1:
        raise DataError(
            f"data: val_fraction + test_fraction must be < 1 to leave training data, "
            f"got {val} + {test} = {val + test:g}"
        )
    if strata is not None:
        _check_class_sizes(strata, names, source=source, test_rows=test_rows)
    state = seed % 2**32
    try:
        if test_rows is None:
            rest, test_part = train_test_split(
                all_rows, test_size=test, random_state=state, stratify=strata
            )
            val_of_rest = val / (1 - test)
        else:
            test_part = np.asarray(test_rows, dtype=np.int64)
            rest = np.setdiff1d(all_rows, test_part)
            val_of_rest = val
        train_part, val_part = train_test_split(
            rest,
            test_size=val_of_rest,
            random_state=state,
            stratify=None if strata is None else strata[rest],
        )
    except ValueError as exc:  # e.g. a val split smaller than the number of classes
        what = f"{len(set(strata.tolist()))} classes" if strata is not None else "values"
        raise DataError(
            f"{source}: cannot split {len(y.y)} samples of {what} with "
            f"val_fraction={val}, test_fraction={test} ({exc}); raise the fractions or add "
            "samples"
        ) from exc
    return {"train": np.sort(train_part), "val": np.sort(val_part), "test": np.sort(test_part)}


def _check_class_sizes(
    y: np.ndarray, names: Sequence[str], *, source: str, test_rows: np.ndarray | None
) -> None:
    """Each class needs a sample in every split it is stratified into."""
    import numpy as np

    counts = np.bincount(y)
    needed = 3 if test_rows is None else 2
    if test_rows is not None:
        counts = np.bincount(np.delete(y, test_rows), minlength=len(counts))
    small = [(int(c), int(n)) for c, n in enumerate(counts) if 0 < n < needed]
    if small:
        cls, n = small[0]
        name = names[cls] if cls < len(names) else str(cls)
        where = "" if test_rows is None else " outside the test split"
        raise DataError(
            f"{source}: class {name!r} has {n} sample{'s' * (n != 1)}{where}, too few to "
            f"split: a stratified train/val{'/test' * (test_rows is None)} split needs at "
            f"least {needed} per class; add samples of it or remove the class"
        )


def _fit_normalizer(
    x_train: np.ndarray, kind: str, columns: np.ndarray | None = None
) -> dict[str, Any]:
    """Mean and std from the training split: per channel for images/sequences, per feature else.

    ``columns`` (features only) limits standardisation to a boolean mask of columns; the others
    keep mean 0 and std 1, so they pass through unchanged.
    """
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
    if columns is not None and mode == "per_feature":
        keep = np.asarray(columns, dtype=bool)
        mean = np.where(keep, mean, 0.0)
        std = np.where(keep, std, 1.0)
    return {"mode": mode, "mean": mean.tolist(), "std": std.tolist()}


_PIXEL_ROWS = 1024  # images summed at a time by _pixel_normalizer (int64: 8 bytes a value)


def _pixel_normalizer(x: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """:func:`_fit_normalizer`'s record for uint8 images ``(N, C, H, W)``, from the training
    ``rows``, without a float copy of them: per channel, the sums of the values and of their
    squares are whole numbers, added exactly a few rows at a time; the mean is then the one
    NumPy computes for the same pixels as float, and the variance the exact one."""
    import numpy as np

    channels = x.shape[1]
    total = np.zeros(channels, dtype=np.int64)
    squares = np.zeros(channels, dtype=np.int64)
    for start in range(0, len(rows), _PIXEL_ROWS):
        block = x[rows[start : start + _PIXEL_ROWS]].astype(np.int64)
        total += block.sum(axis=(0, 2, 3))
        squares += (block * block).sum(axis=(0, 2, 3))
    n = len(rows) * int(np.prod(x.shape[2:]))
    mean = total / n
    # n * sum(x^2) - sum(x)^2 in Python's integers: exact, whatever the size of the data
    var = np.array([(n * int(q) - int(t) ** 2) / n**2 for t, q in zip(total, squares, strict=True)])
    std = np.sqrt(var)
    std = np.where(std < _STD_FLOOR, 1.0, std)
    return {"mode": "per_channel", "mean": mean.tolist(), "std": std.tolist()}


def normalize(x: np.ndarray, norm: dict[str, Any] | None) -> np.ndarray:
    """``x`` standardised with the record of :func:`_fit_normalizer`; unchanged if None."""
    import numpy as np

    if not norm:
        return x
    mean = np.asarray(norm["mean"], dtype=np.float32)
    std = np.asarray(norm["std"], dtype=np.float32)
    if norm["mode"] == "per_channel":  # broadcast over (N, C, ...) on axis 1
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        mean, std = mean.reshape(bshape), std.reshape(bshape)
    return ((x - mean) / std).astype(np.float32, copy=False)
