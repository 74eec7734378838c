"""Evaluation: the model's outputs on a split, without gradients, scored by the data's task."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.data import DataSpec
from orchestrator.device import autocast, resolve_precision
from orchestrator.tasks import task_of

if TYPE_CHECKING:
    import torch

__all__ = ["evaluate", "measure_latency", "model_outputs", "spec_of"]

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
    spec: DataSpec | None = None,
    num_classes: int | None = None,
    details: bool = True,
    decision: dict[str, float] | None = None,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, Any]:
    """The scores of ``model`` on ``(x, y)`` as its task gives them
    (:meth:`~orchestrator.tasks.Task.score`), without gradients, in batches of ``batch_size`` (or
    the model's ``eval_batch_size``, if smaller).

    Args:
        spec: the data (its task, classes, outputs); or ``num_classes`` alone, for K classes.
        details: also what the report shows (per-class scores, a confusion matrix, curves);
            off for the scores of every epoch.
        decision: what the validation split decided (a binary task's threshold), applied here.
        prepare: each batch as the model takes it (the data's
            :meth:`~orchestrator.data.Splits.model_input`); None: ``x`` is so already.

    Returns:
        ``loss`` and the task's metrics and details, e.g. for classes ``accuracy``, macro
        ``precision``/``recall``/``f1``, the ``per_class_*`` lists and ``confusion_matrix``.

    Raises:
        ValueError: no samples.
    """
    outputs = model_outputs(
        model, x, device=device, precision=precision, batch_size=batch_size, prepare=prepare
    )
    spec = spec_of(spec, num_classes)
    return task_of(spec).score(outputs, y.cpu(), spec, details=details, decision=decision)


def spec_of(spec: DataSpec | None, num_classes: int | None) -> DataSpec:
    """``spec``, or the spec of ``num_classes`` classes when only their number is given."""
    if spec is not None:
        return spec
    if num_classes is None:
        raise ValueError("give the data's spec")
    return DataSpec("features", (), num_classes, [str(i) for i in range(num_classes)])


def model_outputs(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    device: torch.device | str,
    precision: str = "32",
    batch_size: int = EVAL_BATCH_SIZE,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The model's outputs for ``x`` (float32, on the CPU), without gradients, in evaluation
    mode; the model is left in the mode it was in. Each batch goes through ``prepare`` (the
    data's :meth:`~orchestrator.data.Splits.model_input`) on the device, if given.

    Raises:
        ValueError: no samples.
    """
    import torch

    n = len(x)
    if n == 0:
        raise ValueError("evaluate: got no samples")
    # a model whose activations are large (a pretrained transformer) may ask for smaller batches
    batch_size = min(batch_size, getattr(model, "eval_batch_size", batch_size))
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    outputs = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            if prepare is not None:
                xb = prepare(xb)
            with autocast(device, precision):
                out = model(xb)
            outputs.append(out.float())
    model.train(was_training)
    return torch.cat(outputs).cpu()


def measure_latency(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    device: torch.device,
    precision: str = "32",
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Inference milliseconds per sample: the median of timed forward passes of a batch of up to
    :data:`LATENCY_BATCH` samples of ``x`` (through ``prepare``, as :func:`model_outputs`), after
    one warm-up pass."""
    import torch

    batch = x[:LATENCY_BATCH].to(device)
    if prepare is not None:
        batch = prepare(batch)
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
