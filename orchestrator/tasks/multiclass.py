"""Single-label classification into K classes: one logit per class, cross-entropy, the class with
the highest probability predicted.

The labels of a data set become class indices ``0..K-1`` (:func:`encode_labels`); the split keeps
each class's share. Scores: accuracy and the macro averages of precision, recall and F1 over all
K classes, their per-class values and the confusion matrix (rows: true class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.errors import DataError
from orchestrator.tasks._base import LossFunction, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import DataSpec

__all__ = ["MulticlassTask", "classification_metrics", "encode_labels"]


class MulticlassTask(Task):
    name = "multiclass"
    title = "multiclass classification"
    metrics: ClassVar[tuple[str, ...]] = ("loss", "accuracy", "precision", "recall", "f1")
    default_metric = "val_accuracy"
    stratified = True
    summary: ClassVar[tuple[str, ...]] = ("accuracy", "precision", "recall", "f1")
    per_item: ClassVar[tuple[str, ...]] = (
        "per_class_precision",
        "per_class_recall",
        "per_class_f1",
    )
    summed: ClassVar[tuple[str, ...]] = ("confusion_matrix",)
    averaging: ClassVar[dict[str, str]] = {"precision": "macro", "recall": "macro", "f1": "macro"}
    output_words = "one logit per class"

    def loss_function(self, config: TrainConfig, spec: DataSpec, y: torch.Tensor) -> LossFunction:
        from torch import nn

        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def score(self, outputs: torch.Tensor, y: torch.Tensor, spec: DataSpec) -> dict[str, Any]:
        """Mean cross-entropy (``loss``, no label smoothing, so that it compares across trials),
        accuracy, macro and per-class precision, recall and F1, and the confusion matrix."""
        import torch
        import torch.nn.functional as F

        k = self.n_outputs(spec)
        logits = outputs.float()
        loss = F.cross_entropy(logits, y, reduction="sum").item() / len(y)
        pred = logits.argmax(dim=1)
        # rows: true class, columns: predicted (sklearn's layout); on the cpu, where it is
        # deterministic
        cm = torch.bincount(y * k + pred, minlength=k**2)
        return {"loss": loss, **classification_metrics(cm.view(k, -1))}

    def predictions(self, outputs: torch.Tensor, spec: DataSpec) -> np.ndarray:
        import torch

        return torch.softmax(outputs.float(), dim=1).numpy()

    def prediction_columns(
        self, predicted: np.ndarray, spec: DataSpec, *, record: dict[str, Any]
    ) -> dict[str, Any]:
        """``predicted_class``, its ``probability``, and ``prob_<class>`` for every class."""
        import numpy as np

        names = [str(c) for c in spec.class_names]
        best = predicted.argmax(axis=1)
        columns: dict[str, Any] = {
            "predicted_class": [names[i] for i in best],
            "probability": predicted[np.arange(len(predicted)), best],
        }
        for i, name in enumerate(names):
            columns[f"prob_{name}"] = predicted[:, i]
        return columns

    def prediction_counts(self, columns: dict[str, Any], spec: DataSpec) -> dict[str, int]:
        from collections import Counter

        counts = Counter(columns["predicted_class"])
        return {str(name): int(counts.get(str(name), 0)) for name in spec.class_names}


def classification_metrics(cm: torch.Tensor) -> dict[str, Any]:
    """Accuracy and per-class/macro precision, recall and F1 from a confusion matrix.

    The same numbers as ``sklearn.metrics.precision_recall_fscore_support(..., labels=range(K),
    zero_division=0)`` (macro = unweighted mean over all K classes), at a fraction of its cost
    per epoch (~0.1 ms instead of ~6 ms for 270 samples).

    Args:
        cm: ``(K, K)`` counts; rows: true class, columns: predicted (sklearn's layout).

    Returns:
        ``accuracy``, macro ``precision``/``recall``/``f1``, the ``per_class_*`` lists and
        ``confusion_matrix`` as nested lists of ints.
    """
    import torch

    cm = cm.double().cpu()
    hits = cm.diagonal()
    predicted = cm.sum(dim=0)  # per class: how often it was predicted
    actual = cm.sum(dim=1)  # per class: how often it is the true class
    precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, hits / actual.clamp(min=1), 0.0)
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-300), 0.0)
    return {
        "accuracy": float(hits.sum() / cm.sum()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "confusion_matrix": cm.long().tolist(),
    }


def encode_labels(
    y: np.ndarray | Sequence[Any], *, class_names: Sequence[str] | None = None, source: str
) -> tuple[np.ndarray, list[str]]:
    """Class indices ``0..K-1`` and the class names for ``N`` labels.

    Integer-valued numbers and strings are classes (sorted); a real-valued label is refused,
    since hpo does classification only.

    Raises:
        DataError: labels of the wrong shape, missing or real-valued labels, fewer than two
            classes.
    """
    import numpy as np

    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be one value per sample, got shape {y.shape}")
    if class_names is None:
        if np.issubdtype(y.dtype, np.floating):
            if np.isnan(y).any():
                raise DataError(
                    f"{source}: {int(np.isnan(y).sum())} labels are missing (NaN); "
                    "give every sample a class"
                )
            fractional = y[y != np.round(y)]
            if fractional.size:
                raise DataError(
                    f"{source}: the labels are real numbers (e.g. {fractional[0]:g}), but hpo "
                    "does classification only for now; give class labels (integers or names), "
                    "or bin the values into classes"
                )
            y = y.astype(np.int64)
        elif y.dtype == object:
            y = np.array([str(v) for v in y])
        classes, y_idx = np.unique(y, return_inverse=True)
        names = [str(c) for c in classes.tolist()]
        y_idx = y_idx.astype(np.int64)
    else:
        k = len(class_names)
        if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= k)):
            raise DataError(
                f"{source}: labels must be class indices in [0, {k}) for {k} class names"
            )
        y_idx, names = y.astype(np.int64), [str(c) for c in class_names]
    present = np.unique(y_idx)
    if len(present) < 2:
        found = ", ".join(repr(names[i]) for i in present) or "none"
        raise DataError(
            f"{source}: classification needs at least two classes, found {len(present)} "
            f"({found}); check the label column"
        )
    return y_idx, names
