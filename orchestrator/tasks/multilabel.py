"""Multi-label classification: each sample has any number of L labels (``data.target: [a, b,
c]``, one 0/1 column each); one logit per label, binary cross-entropy with logits, a label
predicted where its probability reaches 0.5.

Scores (scikit-learn's): micro and macro F1 over the labels, ROC AUC (the mean over the labels
this split holds with both answers), the Hamming loss (the share of labels predicted wrong) and
the subset accuracy (rows with every label right). ``train.class_weight: balanced`` weighs each
label's positives by its negatives over its positives in the training rows. With ``details``:
precision, recall, F1 and the positives of each label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.tasks._base import LossFunction, Outcomes, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import DataSpec

__all__ = ["MultilabelTask"]


class MultilabelTask(Task):
    name = "multilabel"
    title = "multi-label classification"
    metrics: ClassVar[tuple[str, ...]] = (
        "loss",
        "micro_f1",
        "macro_f1",
        "roc_auc",
        "hamming",
        "subset_accuracy",
    )
    default_metric = "val_micro_f1"
    summary: ClassVar[tuple[str, ...]] = ("micro_f1", "macro_f1", "roc_auc", "subset_accuracy")
    per_item: ClassVar[tuple[str, ...]] = (
        "per_label_precision",
        "per_label_recall",
        "per_label_f1",
    )
    output_words = "one logit per label"
    trains_with: ClassVar[dict[str, tuple[Any, ...]]] = {"loss": ("auto",)}

    def loss_function(self, config: TrainConfig, spec: DataSpec, y: torch.Tensor) -> LossFunction:
        """Binary cross-entropy with logits; ``train.label_smoothing`` moves each 0/1 target that
        far towards 1/2; ``class_weight: balanced`` weighs positives by negatives/positives."""
        import torch
        from torch import nn

        pos_weight = None
        if config.class_weight == "balanced":
            positives = y.double().sum(dim=0)
            negatives = len(y) - positives
            pos_weight = torch.where(positives > 0, negatives / positives.clamp(min=1), 1.0)
            pos_weight = pos_weight.float().to(y.device)
        criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        smoothing = config.label_smoothing

        def smoothed(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            target = target.float()
            if smoothing:
                target = target * (1 - smoothing) + 0.5 * smoothing
            return criterion(outputs.float(), target)

        return smoothed

    def score(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        details: bool = False,
        decision: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        import numpy as np
        import torch.nn.functional as F
        from sklearn import metrics
        from sklearn.metrics import roc_auc_score

        true = y.numpy().astype(np.int64)
        probs = self.predictions(outputs, spec)
        pred = (probs >= 0.5).astype(np.int64)
        aucs = [
            roc_auc_score(true[:, j], probs[:, j])
            for j in range(true.shape[1])
            if 0 < true[:, j].sum() < len(true)
        ]
        out: dict[str, Any] = {
            "loss": F.binary_cross_entropy_with_logits(outputs.float(), y.float()).item(),
            "micro_f1": metrics.f1_score(true, pred, average="micro", zero_division=0),
            "macro_f1": metrics.f1_score(true, pred, average="macro", zero_division=0),
            "roc_auc": float(np.mean(aucs)) if aucs else float("nan"),
            "hamming": metrics.hamming_loss(true, pred),
            "subset_accuracy": metrics.accuracy_score(true, pred),
        }
        if details:
            precision, recall, f1, _ = metrics.precision_recall_fscore_support(
                true, pred, average=None, zero_division=0
            )
            out |= {
                "per_label_precision": precision.tolist(),
                "per_label_recall": recall.tolist(),
                "per_label_f1": f1.tolist(),
                "per_label_positives": true.sum(axis=0).astype(int).tolist(),
                "per_label_predicted": pred.sum(axis=0).astype(int).tolist(),
            }
        return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}

    def predictions(self, outputs: torch.Tensor, spec: DataSpec) -> np.ndarray:
        import torch

        return torch.sigmoid(outputs.double()).numpy()

    def outputs_from(self, predictions: np.ndarray, spec: DataSpec) -> torch.Tensor:
        """Logits: their sigmoid is the probabilities again."""
        import numpy as np
        import torch

        p = np.clip(predictions, 1e-7, 1 - 1e-7)
        return torch.from_numpy(np.log(p / (1 - p))).float()

    def prediction_columns(
        self,
        predicted: np.ndarray,
        spec: DataSpec,
        *,
        record: dict[str, Any],
        proba: bool = False,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """One 0/1 column per label (named after it: a label predicted where its probability
        reaches ``threshold``, default 0.5); with ``proba``, ``proba_<label>`` too."""
        cut = 0.5 if threshold is None else threshold
        columns: dict[str, Any] = {}
        for j, name in enumerate(spec.class_names):
            columns[str(name)] = (predicted[:, j] >= cut).astype("int64")
        if proba:
            for j, name in enumerate(spec.class_names):
                columns[f"proba_{name}"] = predicted[:, j]
        return columns

    def prediction_counts(self, columns: dict[str, Any], spec: DataSpec) -> dict[str, int]:
        return {str(name): int(columns[str(name)].sum()) for name in spec.class_names}

    def outcomes(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        decision: dict[str, float] | None = None,
    ) -> Outcomes:
        """The labels predicted (probability at least 0.5) against the true ones; a sample is as
        wrong as its worst label's probability is far from the truth. Attributions explain the
        most probable label."""
        import numpy as np

        probabilities = self.predictions(outputs, spec)
        true = y.numpy() >= 0.5
        pred = probabilities >= 0.5
        names = [str(c) for c in spec.class_names]

        def words(row: np.ndarray) -> str:
            return ", ".join(n for n, on in zip(names, row, strict=True) if on) or "(none)"

        top = probabilities.argmax(axis=1)
        return Outcomes(
            predicted=[words(row) for row in pred],
            actual=[words(row) for row in true],
            wrong=(pred != true).any(axis=1),
            badness=np.abs(probabilities - true).max(axis=1),
            confidence=probabilities[np.arange(len(top)), top],
            target=top.astype(np.int64),
            badness_words="largest error of a label's probability",
        )
