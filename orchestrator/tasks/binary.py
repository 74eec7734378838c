"""Binary classification: two classes, the positive one last (``data.positive_class``, default the
minority class), two logits and cross-entropy as for K classes.

Scores (scikit-learn's) of the positive class's probability: ROC AUC, PR AUC (average precision),
log loss, the Brier score; of the predicted class (probability at least 0.5): accuracy, balanced
accuracy, Matthews' correlation coefficient. ``f1`` is the positive class's F1 at a decision
threshold chosen on the validation split (the one that maximises it there), logged beside it as
``threshold``; the test split is scored at the threshold the validation split chose. With
``details``: the confusion matrix at 0.5, the ROC and precision-recall curves and the calibration
(predicted probability against the observed share of positives, in 10 bins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.tasks.multiclass import PER_CLASS, ClassesTask

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.data import DataSpec

__all__ = ["BinaryTask", "f1_threshold"]

CURVE_POINTS = 200  # points kept of a ROC or precision-recall curve for the report
CALIBRATION_BINS = 10


class BinaryTask(ClassesTask):
    name = "binary"
    title = "binary classification"
    metrics: ClassVar[tuple[str, ...]] = (
        "loss",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "mcc",
        "brier",
    )
    extras: ClassVar[tuple[str, ...]] = ("threshold",)
    default_metric = "val_roc_auc"
    summary: ClassVar[tuple[str, ...]] = ("roc_auc", "accuracy", "f1", "log_loss")
    per_item: ClassVar[tuple[str, ...]] = PER_CLASS
    summed: ClassVar[tuple[str, ...]] = ("confusion_matrix",)
    averaging: ClassVar[dict[str, str]] = {"f1": "positive class"}
    report_plots: ClassVar[tuple[str, ...]] = ("confusion", "roc", "calibration")

    def score(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        details: bool = False,
        decision: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        import warnings

        import numpy as np
        from sklearn import metrics

        true = y.numpy()
        positive = self.predictions(outputs, spec)[:, 1]
        pred = (positive >= 0.5).astype(np.int64)
        both = 0 < true.sum() < len(true)  # AUCs need both classes in the split
        if decision and "threshold" in decision:
            threshold = decision["threshold"]
        else:
            threshold = f1_threshold(true, positive)
        with warnings.catch_warnings():  # one class only in a tiny split
            warnings.simplefilter("ignore")
            out: dict[str, Any] = {
                "loss": self.plain_loss(outputs.float(), y),
                "roc_auc": metrics.roc_auc_score(true, positive) if both else float("nan"),
                "pr_auc": metrics.average_precision_score(true, positive) if both else float("nan"),
                "log_loss": metrics.log_loss(true, positive, labels=[0, 1]),
                "accuracy": metrics.accuracy_score(true, pred),
                "balanced_accuracy": metrics.balanced_accuracy_score(true, pred),
                "f1": metrics.f1_score(true, positive >= threshold, zero_division=0),
                "mcc": metrics.matthews_corrcoef(true, pred),
                "brier": metrics.brier_score_loss(true, positive, pos_label=1),
                "threshold": float(threshold),
            }
        if details:
            out |= _details(true, positive, pred, both=both)
        return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}

    def decide(self, probabilities: np.ndarray, *, threshold: float | None = None) -> np.ndarray:
        """The positive class (index 1) where its probability reaches ``threshold`` (0.5)."""
        cut = 0.5 if threshold is None else threshold
        return (probabilities[:, 1] >= cut).astype("int64")


def f1_threshold(true: np.ndarray, positive: np.ndarray) -> float:
    """The probability threshold at which the positive class's F1 is highest on this split (the
    lowest such one; 0.5 when the split has no positive)."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if not true.any():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(true, positive)
    both = precision[:-1] + recall[:-1]
    f1 = np.where(both > 0, 2 * precision[:-1] * recall[:-1] / np.where(both > 0, both, 1), 0)
    return float(thresholds[int(np.argmax(f1))])


def _details(true: np.ndarray, positive: np.ndarray, pred: np.ndarray, *, both: bool) -> dict:
    import numpy as np
    from sklearn import metrics
    from sklearn.calibration import calibration_curve

    precision, recall, f1, _ = metrics.precision_recall_fscore_support(
        true, pred, labels=[0, 1], zero_division=0
    )
    out: dict[str, Any] = {
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "confusion_matrix": metrics.confusion_matrix(true, pred, labels=[0, 1]).tolist(),
    }
    if both:
        fpr, tpr, _ = metrics.roc_curve(true, positive)
        curve_precision, curve_recall, _ = metrics.precision_recall_curve(true, positive)
        observed, predicted = calibration_curve(
            true, positive, n_bins=CALIBRATION_BINS, strategy="uniform"
        )
        counts, _ = np.histogram(positive, bins=CALIBRATION_BINS, range=(0.0, 1.0))
        out["curves"] = {
            "roc": _thin(fpr, tpr),
            "pr": _thin(curve_recall, curve_precision),
            "calibration": {
                "predicted": predicted.tolist(),
                "observed": observed.tolist(),
                "counts": [int(c) for c in counts if c],
            },
            "positive_share": float(true.mean()),
        }
    return out


def _thin(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """At most :data:`CURVE_POINTS` points of a curve, its ends kept."""
    import numpy as np

    if len(x) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(x) - 1, CURVE_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return {"x": [round(float(v), 5) for v in x], "y": [round(float(v), 5) for v in y]}
