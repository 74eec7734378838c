"""Expected failures of a trial, recognised: a model that cannot take the data, out of memory.

:func:`probe_forward` runs one forward pass before training, so that a model that fails on the
data's shape ends the trial with the reason; :func:`is_oom` tells an out-of-memory error of any
device from other errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.device import autocast
from orchestrator.errors import TrialFailure, first_line

if TYPE_CHECKING:
    import torch

    from orchestrator.data import DataSpec

__all__ = ["is_oom", "probe_forward"]


def probe_forward(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    device: torch.device,
    precision: str,
    spec: DataSpec | None = None,
    num_classes: int | None = None,
) -> None:
    """One forward pass on a couple of samples, so that a model that cannot take the data fails
    with the reason before training starts.

    Args:
        spec: the data (its task says what the output must be); or ``num_classes`` alone.

    Raises:
        TrialFailure: the model raised on ``x`` (the first line of its error), or its output is
            not what the task needs (one logit per class). Out of memory propagates unchanged.
    """
    import torch

    from orchestrator.tasks import task_of
    from orchestrator.train._evaluate import spec_of

    spec = spec_of(spec, num_classes)

    model.eval()
    try:
        with torch.inference_mode(), autocast(device, precision):
            out = model(x)
    except RuntimeError as exc:
        if is_oom(exc):
            raise
        raise TrialFailure(
            f"model failed on input of shape {tuple(x.shape)}: {first_line(exc)}", kind="error"
        ) from exc
    finally:
        model.train()
    problem = task_of(spec).output_problem(tuple(out.shape), len(x), spec)
    if problem is not None:
        raise TrialFailure(
            f"model output has shape {tuple(out.shape)} for input of shape {tuple(x.shape)}; "
            f"{problem}",
            kind="error",
        )


def is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeErrors the CPU and MPS allocators raise."""
    import torch

    types = tuple(
        t
        for t in (
            getattr(torch, "OutOfMemoryError", None),
            getattr(torch.cuda, "OutOfMemoryError", None),
        )
        if isinstance(t, type)
    )
    if types and isinstance(exc, types):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )
