"""Single-label classification into K classes: one logit per class, cross-entropy, the class with
the highest probability predicted.

The labels of a data set become class indices ``0..K-1`` (:func:`encode_labels`); the split keeps
each class's share. Scores (scikit-learn's): accuracy, balanced accuracy, the macro averages of
precision, recall and F1 over all K classes, the weighted F1, log loss and ROC AUC (one class
against the rest, macro); with ``details`` the per-class values and the confusion matrix (rows:
the true class).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.errors import DataError
from orchestrator.tasks._base import LossFunction, Outcomes, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import DataSpec

__all__ = ["ClassesTask", "MulticlassTask", "encode_labels", "one_vs_rest_auc"]


PER_CLASS = ("per_class_precision", "per_class_recall", "per_class_f1")  # details of a split


class ClassesTask(Task):
    """One class per sample, from one logit per class: what multiclass and binary share (the
    cross-entropy, class weights, softmax probabilities, what predict writes)."""

    stratified = True
    output_words = "one logit per class"
    trains_with: ClassVar[dict[str, tuple[str, ...]]] = {"loss": ("auto",)}

    def loss_function(self, config: TrainConfig, spec: DataSpec, y: torch.Tensor) -> LossFunction:
        """Cross-entropy with ``train.label_smoothing``, its classes weighted by the inverse of
        their share of the training rows with ``train.class_weight: balanced``."""
        from torch import nn

        weight = None
        if config.class_weight == "balanced":
            weight = balanced_weights(y, self.n_outputs(spec)).to(y.device)
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)

    def plain_loss(self, outputs: torch.Tensor, y: torch.Tensor) -> float:
        """The mean cross-entropy without label smoothing or weights: it compares across trials."""
        import torch.nn.functional as F

        return F.cross_entropy(outputs, y, reduction="sum").item() / len(y)

    def predictions(self, outputs: torch.Tensor, spec: DataSpec) -> np.ndarray:
        import torch

        return torch.softmax(outputs.double(), dim=1).numpy()

    def outputs_from(self, predictions: np.ndarray, spec: DataSpec) -> torch.Tensor:
        """Log-probabilities: their softmax is the probabilities again."""
        import numpy as np
        import torch

        return torch.from_numpy(np.log(np.clip(predictions, 1e-12, 1.0))).float()

    def prediction_columns(
        self,
        predicted: np.ndarray,
        spec: DataSpec,
        *,
        record: dict[str, Any],
        proba: bool = False,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """The predicted class in a column named after the target; with ``proba``,
        ``proba_<class>`` for every class."""
        names = [str(c) for c in spec.class_names]
        best = self.decide(predicted, threshold=threshold)
        columns: dict[str, Any] = {target_column(record): [names[i] for i in best]}
        if proba:
            for i, name in enumerate(names):
                columns[f"proba_{name}"] = predicted[:, i]
        return columns

    def decide(self, probabilities: np.ndarray, *, threshold: float | None = None) -> np.ndarray:
        """The class of each row: the most probable."""
        return probabilities.argmax(axis=1)

    def outcomes(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        decision: dict[str, float] | None = None,
    ) -> Outcomes:
        """The class decided (a binary task's at its threshold), its probability, and the
        probability given to the other classes: the most confident mistakes are the worst."""
        import numpy as np

        probabilities = self.predictions(outputs, spec)
        pred = self.decide(probabilities, threshold=(decision or {}).get("threshold"))
        true = y.numpy().astype(np.int64)
        rows = np.arange(len(true))
        names = [str(c) for c in spec.class_names]
        return Outcomes(
            predicted=[names[i] for i in pred],
            actual=[names[i] for i in true],
            wrong=pred != true,
            badness=1.0 - probabilities[rows, true],
            confidence=probabilities[rows, pred],
            target=pred.astype(np.int64),
            badness_words="probability of the wrong classes",
        )

    def prediction_counts(self, columns: dict[str, Any], spec: DataSpec) -> dict[str, int]:
        from collections import Counter

        counts = Counter(next(iter(columns.values())))
        return {str(name): int(counts.get(str(name), 0)) for name in spec.class_names}


class MulticlassTask(ClassesTask):
    name = "multiclass"
    title = "multiclass classification"
    metrics: ClassVar[tuple[str, ...]] = (
        "loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "balanced_accuracy",
        "weighted_f1",
        "log_loss",
        "roc_auc",
    )
    default_metric = "val_accuracy"
    summary: ClassVar[tuple[str, ...]] = ("accuracy", "balanced_accuracy", "f1", "log_loss")
    per_item: ClassVar[tuple[str, ...]] = PER_CLASS
    summed: ClassVar[tuple[str, ...]] = ("confusion_matrix",)
    averaging: ClassVar[dict[str, str]] = {"precision": "macro", "recall": "macro", "f1": "macro"}
    report_plots: ClassVar[tuple[str, ...]] = ("confusion",)

    def score(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        details: bool = False,
        decision: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Mean cross-entropy (``loss``, no label smoothing, so that it compares across trials)
        and scikit-learn's scores of the predicted classes and probabilities; with ``details``
        the per-class precision, recall and F1 and the confusion matrix."""
        import numpy as np
        from sklearn import metrics

        k = self.n_outputs(spec)
        labels = list(range(k))
        probs = self.predictions(outputs, spec)
        true = y.numpy()
        pred = probs.argmax(axis=1)
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            true, pred, labels=labels, zero_division=0
        )
        with warnings.catch_warnings():  # a class predicted but absent from this split
            warnings.simplefilter("ignore")
            balanced = metrics.balanced_accuracy_score(true, pred)
        out: dict[str, Any] = {
            "loss": self.plain_loss(outputs.float(), y),
            "accuracy": metrics.accuracy_score(true, pred),
            "precision": float(np.mean(precision)),
            "recall": float(np.mean(recall)),
            "f1": float(np.mean(f1)),
            "balanced_accuracy": float(balanced),
            "weighted_f1": metrics.f1_score(
                true, pred, labels=labels, average="weighted", zero_division=0
            ),
            "log_loss": metrics.log_loss(true, probs, labels=labels),
            "roc_auc": one_vs_rest_auc(true, probs),
        }
        if details:
            out |= {
                "per_class_precision": precision.tolist(),
                "per_class_recall": recall.tolist(),
                "per_class_f1": f1.tolist(),
                "confusion_matrix": metrics.confusion_matrix(true, pred, labels=labels).tolist(),
            }
        return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}


def one_vs_rest_auc(true: np.ndarray, probs: np.ndarray) -> float:
    """The mean over classes of each class's ROC AUC against the rest (scikit-learn's
    ``roc_auc_score`` per class), over the classes this split holds with both answers; NaN when
    none does."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    scores = []
    for c in range(probs.shape[1]):
        hit = true == c
        if hit.any() and not hit.all():
            scores.append(roc_auc_score(hit, probs[:, c]))
    return float(np.mean(scores)) if scores else float("nan")


def balanced_weights(y: torch.Tensor, k: int) -> torch.Tensor:
    """Each class's weight in the loss: ``n / (k * n_c)`` over the training rows (scikit-learn's
    ``class_weight="balanced"``); 1 for a class without training rows."""
    import torch

    counts = torch.bincount(y.long().cpu(), minlength=k).double()
    weights = torch.where(counts > 0, len(y) / (k * counts.clamp(min=1)), 1.0)
    return weights.float()


def target_column(record: dict[str, Any]) -> str:
    """The name of the column a prediction file gives the prediction: the target's."""
    return str((record.get("preprocessing") or {}).get("target_name") or "prediction")


def encode_labels(
    y: np.ndarray | Sequence[Any], *, class_names: Sequence[str] | None = None, source: str
) -> tuple[np.ndarray, list[str]]:
    """Class indices ``0..K-1`` and the class names for ``N`` labels.

    Integer-valued numbers and strings are classes (sorted); a real-valued label is refused (a
    regression's target).

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
                    f"{source}: the labels are real numbers (e.g. {fractional[0]:g}), not "
                    "classes; set data.task: regression to predict them, or give class labels"
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
