"""Every metric a task scores, with its direction: one table, so that a name means the same
everywhere (``val_f1`` is maximised whichever task logs it).

Pure data, no imports: :mod:`orchestrator.config` reads it to validate ``study.metric`` and to
give each objective its direction.
"""

from __future__ import annotations

__all__ = ["DIRECTIONS", "LABELS", "MEASURED"]

# a task's metric -> its natural direction (logged as val_<name>, best_<name>, test_<name>)
DIRECTIONS: dict[str, str] = {
    "loss": "minimize",  # the task's plain loss: cross-entropy, BCE, or MSE in standard units
    # classes
    "accuracy": "maximize",
    "balanced_accuracy": "maximize",  # the mean of the recalls of the classes
    "precision": "maximize",
    "recall": "maximize",
    "f1": "maximize",  # multiclass: macro; binary: the positive class's
    "weighted_f1": "maximize",  # F1 per class, weighted by its share
    "log_loss": "minimize",
    "roc_auc": "maximize",  # binary; multiclass: one against the rest, macro
    "pr_auc": "maximize",  # binary: average precision of the positive class
    "mcc": "maximize",  # Matthews' correlation coefficient
    "brier": "minimize",  # mean squared error of the positive class's probability
    # labels
    "micro_f1": "maximize",
    "macro_f1": "maximize",
    "hamming": "minimize",  # the share of labels predicted wrong
    "subset_accuracy": "maximize",  # rows with every label right
    # values
    "rmse": "minimize",
    "mae": "minimize",
    "r2": "maximize",
    "mape": "minimize",  # mean absolute percentage error, as a fraction
    "rmsle": "minimize",  # root mean squared log error (non-negative targets)
}

# measured on the trained model rather than scored on a split (multi-objective studies)
MEASURED: dict[str, str] = {
    "n_parameters": "minimize",  # trainable parameters of the model
    "latency_ms": "minimize",  # inference milliseconds per sample, batch of 256, on the device
}

# how a metric is written for people, where its name is not enough
LABELS: dict[str, str] = {
    "loss": "loss",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1": "F1",
    "weighted_f1": "weighted F1",
    "log_loss": "log loss",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "mcc": "MCC",
    "brier": "Brier score",
    "micro_f1": "micro F1",
    "macro_f1": "macro F1",
    "hamming": "Hamming loss",
    "subset_accuracy": "subset accuracy",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "mape": "MAPE",
    "rmsle": "RMSLE",
}
