"""Attributions of a network's output to its input, with Captum.

- integrated gradients (Sundararajan et al., 2017) for images, sequences and features: from a
  baseline of zeros, which is the training mean where the input is standardised (a black image
  where it is not), to the sample; the result has the input's shape and sums, per sample, to
  the output's change from the baseline;
- Grad-CAM (Selvaraju et al., 2017) on the last ``Conv2d`` of an image model, upsampled to the
  image: where the last feature maps that drive the class are;
- layer integrated gradients on the token embedding of a text model (from all padding to the
  text), summed over the embedding: one number per token.

The output explained is each sample's own (``target``: the predicted class, the most probable
label, or the value). The network is in evaluation mode; nothing here changes its weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.data import DataSpec

__all__ = ["STEPS", "grad_cam", "integrated_gradients", "last_conv2d", "token_attributions"]

STEPS = 32  # integration steps: the attributions' completeness error is ~1% of the output here
BATCH = 256  # interpolated inputs per forward pass


@contextlib.contextmanager
def _gradients_allowed(model: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """Evaluation mode with gradients; cuDNN's RNN kernels run backward only in training mode,
    so on CUDA they step aside meanwhile."""
    import torch

    was_training = model.training
    model.eval()
    cudnn = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else None
    try:
        with torch.enable_grad(), cudnn or contextlib.nullcontext():
            yield
    finally:
        model.train(was_training)


def _in_batches(
    attribute: object, x: torch.Tensor, target: torch.Tensor, *, device: torch.device, size: int
) -> np.ndarray:
    """``attribute(inputs, target)`` over ``x`` in slices of ``size`` samples, on ``device``,
    gathered as one float32 array on the CPU."""
    import numpy as np

    parts = []
    for start in range(0, len(x), size):
        inputs = x[start : start + size].to(device)
        chosen = target[start : start + size].to(device)
        parts.append(attribute(inputs, chosen).detach().float().cpu().numpy())  # type: ignore[operator]
    return np.concatenate(parts) if parts else np.zeros((0, *x.shape[1:]), dtype=np.float32)


def integrated_gradients(
    model: torch.nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    device: torch.device,
    steps: int = STEPS,
) -> np.ndarray:
    """Integrated gradients of each sample's ``target`` output, the shape of ``x`` (float
    inputs: images, sequences, features)."""
    import torch
    from captum.attr import IntegratedGradients

    method = IntegratedGradients(model)
    per_call = max(1, BATCH // steps)

    def attribute(inputs: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        return method.attribute(
            inputs.float(),
            baselines=torch.zeros_like(inputs, dtype=torch.float32),
            target=chosen,
            n_steps=steps,
            internal_batch_size=BATCH,
        )

    with _gradients_allowed(model, device):
        return _in_batches(attribute, x, target, device=device, size=per_call * 8)


def last_conv2d(model: torch.nn.Module) -> torch.nn.Module | None:
    """The network's last ``Conv2d`` (in registration order), or None."""
    import torch

    found = None
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            found = module
    return found


def grad_cam(
    model: torch.nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    layer: torch.nn.Module,
    device: torch.device,
) -> np.ndarray:
    """Grad-CAM of ``layer`` for each sample's ``target``, positive part, upsampled to the
    image: ``(N, H, W)``."""
    from captum.attr import LayerAttribution, LayerGradCam

    method = LayerGradCam(model, layer)
    size = tuple(int(s) for s in x.shape[-2:])

    def attribute(inputs: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        maps = method.attribute(inputs.float(), target=chosen, relu_attributions=True)
        return LayerAttribution.interpolate(maps, size, interpolate_mode="bilinear")[:, 0]

    with _gradients_allowed(model, device):
        return _in_batches(attribute, x, target, device=device, size=64)


def token_embedding(model: torch.nn.Module, spec: DataSpec) -> torch.nn.Module | None:
    """The embedding of token ids: the ``Embedding`` with one row per word of the vocabulary
    (a pretrained model's word embeddings, not its positions), else the first one."""
    import torch

    embeddings = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    for module in embeddings:
        if spec.vocab_size is not None and module.num_embeddings == spec.vocab_size:
            return module
    return embeddings[0] if embeddings else None


def token_attributions(
    model: torch.nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    layer: torch.nn.Module,
    device: torch.device,
    baseline: torch.Tensor,
    steps: int = STEPS,
) -> list[np.ndarray]:
    """Layer integrated gradients on the token embedding, summed over its width, one sample at
    a time (a pretrained model cuts a batch's padding, so lengths differ): per sample, one
    value per position the embedding saw, from ``baseline`` (the same texts, all padding)."""
    from captum.attr import LayerIntegratedGradients

    method = LayerIntegratedGradients(model, layer)
    out = []
    with _gradients_allowed(model, device):
        for i in range(len(x)):
            values = method.attribute(
                x[i : i + 1].to(device),
                baselines=baseline[i : i + 1].to(device),
                target=target[i : i + 1].to(device),
                n_steps=steps,
                internal_batch_size=BATCH,
            )
            out.append(values.sum(dim=-1)[0].detach().float().cpu().numpy())
    return out
