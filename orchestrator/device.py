"""Device and precision, resolved once per run.

``"auto"`` is a short ordered check (cuda, then mps, then cpu), as in Lightning Fabric. Precision
is a closed set of strings (``"32"``, ``"bf16-mixed"``, ``"16-mixed"``) decided once; the training
loop then uses :func:`autocast` and :func:`grad_scaler` and has no device branches of its own.

Importing this module is cheap: torch is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Literal

from orchestrator.config import PRECISIONS
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEVICE_FORMS",
    "Precision",
    "autocast",
    "available_devices",
    "check_device_form",
    "cuda_device_count",
    "default_threads",
    "grad_scaler",
    "needs_grad_scaler",
    "resolve_device",
    "resolve_precision",
    "set_threads",
]

Precision = Literal["32", "bf16-mixed", "16-mixed"]

# what `--device` accepts, in the words an error message shows
DEVICE_FORMS = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def default_threads(workers: int = 1, *, cpu_count: int | None = None) -> int:
    """CPU threads for torch in each of ``workers`` processes sharing this machine.

    One process gets half the cores (at least one): tiny models run slower on every core of a
    shared machine. Several processes divide the cores between them.
    """
    cpus = cpu_count or os.cpu_count() or 2
    return max(1, cpus // 2) if workers <= 1 else max(1, cpus // workers)


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch's operations in this process."""
    import torch

    torch.set_num_threads(threads)


def cuda_device_count() -> int:
    """The CUDA devices this process can use (CUDA_VISIBLE_DEVICES respected); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Every device name this machine can run on, in the order ``auto`` prefers.

    Returns:
        e.g. ``["cpu"]``, or ``["cuda", "cuda:0", "cuda:1", "cpu"]`` on a two-GPU machine.
    """
    import torch

    names: list[str] = []
    if torch.cuda.is_available():
        names.append("cuda")
        names.extend(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def check_device_form(name: str, *, source: str = "device") -> str:
    """``name`` lower-cased, when it is one of the valid forms (no torch needed: the CLI checks
    an option at once).

    Raises:
        ConfigError: naming ``source`` (``--device``, ``HPO_DEVICE``), the name and the forms.
    """
    text = name.strip().lower()
    if text != "auto" and not _DEVICE_RE.match(text):
        raise ConfigError(
            f"{source}: unknown device {name!r}; valid forms: {', '.join(DEVICE_FORMS)}"
        )
    return text


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a device name into a ``torch.device`` that exists on this machine.

    Args:
        name: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises:
        ConfigError: the name is not one of the valid forms, or that device is not available here.
    """
    import torch

    text = check_device_form(name)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = available_devices()
    if text not in available:
        raise ConfigError(
            f"device: {name!r} is not available on this machine; available: {', '.join(available)}"
        )
    return torch.device(text)


def resolve_precision(precision: str, device: torch.device | str) -> Precision:
    """Normalise a precision request for ``device`` to ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``.

    ``auto`` is ``bf16-mixed`` on a CUDA device that supports bfloat16 and ``"32"`` elsewhere.

    Raises:
        ConfigError: an unknown precision; ``16-mixed`` on the CPU (no float16 autocast there); or
            ``bf16-mixed`` on a CUDA device without bfloat16 support.
    """
    import torch

    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ConfigError(
            f"train.precision: unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}"
        )
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16-mixed"
        return "32"
    if precision == "16-mixed" and device.type == "cpu":
        raise ConfigError(
            "train.precision: 16-mixed needs a cuda or mps device, got cpu; "
            "use 32 or bf16-mixed on the cpu"
        )
    if precision == "bf16-mixed" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"train.precision: bf16-mixed is not supported by {device}; use 16-mixed or 32"
        )
    return precision  # type: ignore[return-value]


def needs_grad_scaler(precision: str) -> bool:
    """Only float16 needs loss scaling; bfloat16 has float32's exponent range."""
    return precision == "16-mixed"


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager[object]:
    """The forward-pass context for ``precision``: ``nullcontext()`` for ``"32"``.

    Returns a fresh context manager on each call, so use it as ``with autocast(device, p):``.
    """
    if precision == "32":
        return nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def grad_scaler(device: torch.device | str, precision: str) -> torch.amp.GradScaler:
    """A ``GradScaler``, enabled only for ``16-mixed``; disabled, it passes everything through.

    A disabled scaler's ``scale``/``unscale_``/``step``/``update`` are plain pass-throughs, so the
    training loop calls them unconditionally.
    """
    import torch

    enabled = needs_grad_scaler(precision)
    device_type = torch.device(device).type
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler(device_type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3
