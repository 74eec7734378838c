"""Evaluation: loss and classification metrics of a model on a split, without gradients."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from orchestrator.device import autocast, resolve_precision

if TYPE_CHECKING:
    import torch

__all__ = ["classification_metrics", "evaluate", "measure_latency"]

EVAL_BATCH_SIZE = 1024  # samples per forward pass during evaluation
LATENCY_BATCH = 256  # samples per timed forward pass (the latency_ms objective)
LATENCY_REPEATS = 5  # timed passes after one warm-up; the median is kept


def evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device | str,
    precision: str = "32",
    batch_size: int = EVAL_BATCH_SIZE,
    num_classes: int,
    label_smoothing: float = 0.0,
) -> dict[str, Any]:
    """Loss and classification metrics of ``model`` on ``(x, y)``, without gradients, in batches
    of ``batch_size`` (or the model's ``eval_batch_size``, if smaller).

    Returns:
        ``loss`` (mean cross-entropy), ``accuracy``, macro ``precision``/``recall``/``f1`` over
        classes ``0..num_classes-1`` (zero_division=0), ``per_class_precision``/``_recall``/``_f1``
        lists, and ``confusion_matrix`` (rows: true class, columns: predicted).

    Raises:
        ValueError: no samples.
    """
    import torch
    import torch.nn.functional as F

    n = len(y)
    if n == 0:
        raise ValueError("evaluate: got no samples")
    # a model whose activations are large (a pretrained transformer) may ask for smaller batches
    batch_size = min(batch_size, getattr(model, "eval_batch_size", batch_size))
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    total_loss = torch.zeros((), device=device)
    predictions = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = y[start : start + batch_size].to(device, non_blocking=True)
            with autocast(device, precision):
                logits = model(xb)
            logits = logits.float()
            total_loss += F.cross_entropy(
                logits, yb, reduction="sum", label_smoothing=label_smoothing
            )
            predictions.append(logits.argmax(dim=1))
    model.train(was_training)

    pred = torch.cat(predictions).cpu()
    true = y.cpu()
    # rows: true class, columns: predicted (sklearn's layout); on the cpu, where it is deterministic
    cm = torch.bincount(true * num_classes + pred, minlength=num_classes**2)
    return {"loss": total_loss.item() / n, **classification_metrics(cm.view(num_classes, -1))}


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


def measure_latency(
    model: torch.nn.Module, x: torch.Tensor, *, device: torch.device, precision: str = "32"
) -> float:
    """Inference milliseconds per sample: the median of timed forward passes of a batch of up to
    :data:`LATENCY_BATCH` samples of ``x``, after one warm-up pass."""
    import torch

    batch = x[:LATENCY_BATCH].to(device)
    model.eval()
    times = []
    with torch.inference_mode(), autocast(device, precision):
        model(batch)  # warm-up
        for _ in range(LATENCY_REPEATS):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    model.train()
    return 1000.0 * statistics.median(times) / len(batch)
