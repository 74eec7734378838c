"""Reading the target: which task it poses (``data.task: auto``), and its values encoded as the
task trains on them.

- classes (multiclass, binary): indices ``0..K-1`` of sorted class names; a binary target puts
  its positive class last (index 1), so that "the probability of class 1" is the positive one;
- labels (multilabel): a ``(N, L)`` 0/1 matrix, one column per label;
- values (regression): the numbers as given (a task standardises them with training statistics
  once the split is known).

``auto`` decides from the values and says what it decided and how to change it: several 0/1
columns are multi-label; two classes are binary; real numbers, or more than
:data:`AUTO_MAX_CLASSES` distinct whole numbers, are a regression; else classes. NumPy is
imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DataError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["AUTO_MAX_CLASSES", "TASK_NAMES", "Target", "encode_target", "infer_task"]

TASK_NAMES = ("multiclass", "binary", "multilabel", "regression")  # data.task's values, less auto
# ``auto``: a numeric target with more distinct whole numbers than this is a regression
AUTO_MAX_CLASSES = 20


@dataclass(frozen=True)
class Target:
    """A target encoded for its task.

    Attributes:
        task: ``multiclass``, ``binary``, ``multilabel`` or ``regression``.
        y: class indices (int64, ``(N,)``), labels (float32, ``(N, L)``) or values (float64,
            ``(N,)``).
        names: the classes (a binary task's positive class last), the labels, or the target's
            name.
        note: what ``auto`` decided and how to change it, or the positive class chosen; said
            once, by ``hpo validate`` and ``hpo run``.
    """

    task: str
    y: np.ndarray
    names: list[str]
    note: str | None = None

    @property
    def classes(self) -> bool:
        """Whether the target is one class per sample (the split keeps each class's share)."""
        return self.task in ("multiclass", "binary")


def encode_target(
    y: Any,
    *,
    task: str = "auto",
    source: str,
    class_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    positive_class: Any = None,
) -> Target:
    """The target ``y`` encoded for ``task`` (``auto``: decided from ``y``).

    Args:
        y: ``N`` values, or ``(N, L)`` for several labels.
        task: ``data.task``.
        source: the data set and column, for messages (``data/t.csv: column 'price'``).
        class_names: names of classes ``0..K-1`` when ``y`` holds class indices (a bundled set,
            an image folder).
        label_names: the names of the target columns (a regression's name, a multilabel's
            labels).
        positive_class: ``data.positive_class`` (binary only); default the minority class.

    Raises:
        DataError: a target that does not fit the task, naming the values and the fix.
    """
    import numpy as np

    y = np.asarray(y)
    decided = task == "auto"
    why = None
    if decided:
        task, why = infer_task(y, class_names=class_names)
    if positive_class is not None and task != "binary":
        raise DataError(
            f"data.positive_class: {positive_class!r} applies to a binary task, but the task is "
            f"{task}; remove it"
        )
    if task == "multilabel":
        target = _labels(y, source=source, names=label_names)
    elif y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise DataError(
            f"{source}: {task} needs one target value per sample, got shape {y.shape}; several "
            "0/1 target columns are multi-label: set data.task: multilabel"
        )
    elif task == "regression":
        target = _values(y.reshape(-1), source=source, names=label_names)
    elif task in ("multiclass", "binary"):
        target = _classes(y.reshape(-1), task=task, source=source, class_names=class_names)
        if task == "binary":
            target = _positive_last(target, positive_class, source=source, auto=decided)
    else:
        raise DataError(f"data.task: unknown task {task!r}; valid: auto, {', '.join(TASK_NAMES)}")
    if decided:
        note = f"data.task: auto chose {task} for {source}: {why}"
        target = Target(target.task, target.y, target.names, note=_join(note, target.note))
    return target


def infer_task(y: np.ndarray, *, class_names: Sequence[str] | None = None) -> tuple[str, str]:
    """The task ``auto`` decides for the target ``y``, and why, with how to decide otherwise
    where another reading is possible."""
    import numpy as np

    if y.ndim == 2 and y.shape[1] > 1:
        return "multilabel", f"{y.shape[1]} target columns, each one label"
    y = y.reshape(-1)
    if class_names is not None:
        k = len(class_names)
        return ("binary" if k == 2 else "multiclass"), f"{k} classes"
    numbers = _as_numbers(y)
    if y.dtype == bool:
        return "binary", "true or false"
    if numbers is None:  # names
        k = len(np.unique(np.array([str(v) for v in y])))
        return ("binary", "two classes") if k == 2 else ("multiclass", f"{k} named classes")
    present = numbers[~np.isnan(numbers)]
    distinct = np.unique(present)
    fractional = present[present != np.round(present)]
    as_classes = "set data.task: multiclass to read the numbers as classes"
    if fractional.size:
        return "regression", f"real numbers (e.g. {fractional[0]:g}); {as_classes}"
    if len(distinct) == 2:
        return "binary", f"two values ({_g(distinct[0])}, {_g(distinct[1])})"
    if len(distinct) > AUTO_MAX_CLASSES:
        return "regression", f"{len(distinct)} distinct numbers; {as_classes}"
    return "multiclass", (
        f"{len(distinct)} distinct whole numbers, read as classes; set data.task: regression "
        "to predict them as values"
    )


def _join(*parts: str | None) -> str | None:
    given = [p for p in parts if p]
    return "; ".join(given) if given else None


def _g(value: float) -> str:
    return f"{value:g}"


def _as_numbers(y: np.ndarray) -> np.ndarray | None:
    """``y`` as float64 if every value is a number (text holding numbers too); else None."""
    import numpy as np

    if y.dtype == bool:
        return y.astype(np.float64)
    if np.issubdtype(y.dtype, np.number):
        return y.astype(np.float64)
    try:
        return np.array([float(v) for v in y], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _classes(y: np.ndarray, *, task: str, source: str, class_names: Sequence[str] | None) -> Target:
    from orchestrator.tasks.multiclass import encode_labels

    y_idx, names = encode_labels(y, class_names=class_names, source=source)
    if task == "binary" and len(names) != 2:
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise DataError(
            f"{source}: a binary task needs exactly two classes, found {len(names)} ({shown}); "
            "set data.task: multiclass"
        )
    return Target(task, y_idx, names)


def _positive_last(target: Target, positive: Any, *, source: str, auto: bool) -> Target:
    """The binary target with its positive class at index 1: ``positive``, else the minority
    class (the later one on a tie, as scikit-learn's ``pos_label=1``)."""
    import numpy as np

    names = target.names
    counts = np.bincount(target.y, minlength=2)
    if positive is not None:
        wanted = _class_text(positive)
        if wanted not in names:
            raise DataError(
                f"data.positive_class: {positive!r} is not a class of {source} "
                f"(classes: {', '.join(repr(n) for n in names)})"
            )
        index, why = names.index(wanted), "data.positive_class"
    else:
        index = 0 if counts[0] < counts[1] else 1
        why = "the minority class" if counts[0] != counts[1] else "the later name on a tie"
    note = (
        f"positive class {names[index]!r} ({int(counts[index])} of {int(counts.sum())} rows, {why})"
    )
    if positive is None:
        note += "; set data.positive_class to choose the other"
    if index == 1:
        return Target("binary", target.y, names, note=note)
    return Target("binary", 1 - target.y, [names[1], names[0]], note=note)


def _class_text(value: Any) -> str:
    """A class as its name is written (``1`` and ``1.0`` are class ``'1'``, true is ``'True'``)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _values(y: np.ndarray, *, source: str, names: Sequence[str] | None) -> Target:
    import numpy as np

    numbers = _as_numbers(y)
    if numbers is None:
        bad = next(v for v in y if _as_numbers(np.array([v])) is None)
        raise DataError(
            f"{source}: a regression target must be numbers, got {bad!r}; give numbers, or set "
            "data.task: multiclass to read the values as classes"
        )
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise DataError(
            f"{source}: {int(bad.sum())} target values are missing or infinite (first at row "
            f"{int(bad.nonzero()[0][0])}); give every sample a number"
        )
    if len(np.unique(numbers)) < 2:
        raise DataError(
            f"{source}: every target value is {numbers[0]:g}; there is nothing to learn"
        )
    return Target("regression", numbers, list(names or ["target"])[:1])


def _labels(y: np.ndarray, *, source: str, names: Sequence[str] | None) -> Target:
    import numpy as np

    if y.ndim != 2 or y.shape[1] < 2:
        raise DataError(
            f"{source}: a multilabel task needs several 0/1 target columns, got shape "
            f"{y.shape}; list them: data.target: [a, b, c]"
        )
    labels = list(names) if names is not None else [f"label_{i}" for i in range(y.shape[1])]
    values = np.empty(y.shape, dtype=np.float32)
    for j, name in enumerate(labels):
        column = _as_numbers(y[:, j])
        if column is None or not np.isin(column[~np.isnan(column)], (0.0, 1.0)).all():
            shown = next(v for v in y[:, j] if _class_text(v) not in ("0", "1", "True", "False"))
            shown = shown.item() if hasattr(shown, "item") else shown
            raise DataError(
                f"{source}: label {name!r} holds {shown!r}; each column of a multilabel target "
                "must be 0 or 1 (or true/false)"
            )
        if np.isnan(column).any():
            raise DataError(
                f"{source}: label {name!r} is missing in {int(np.isnan(column).sum())} rows; "
                "give every row 0 or 1"
            )
        values[:, j] = column
    return Target("multilabel", values, labels)
