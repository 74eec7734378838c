"""Tests for orchestrator/device.py: device names, precision, autocast and the grad scaler."""

from __future__ import annotations

import subprocess
import sys
from contextlib import nullcontext

import pytest
import torch

from orchestrator.device import (
    autocast,
    available_devices,
    grad_scaler,
    needs_grad_scaler,
    resolve_device,
    resolve_precision,
)
from orchestrator.errors import ConfigError


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this is a machine without CUDA or MPS, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this machine has two CUDA devices and no MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_is_cpu_on_this_machine() -> None:
    # no accelerator on the test machines: auto falls through to the cpu
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    assert resolve_device() == torch.device("cpu")
    assert available_devices() == ["cpu"]


def test_auto_prefers_cuda_then_mps(cpu_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # ordered check: cpu when nothing else, mps over cpu, cuda over mps
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_explicit_devices(two_gpus: None) -> None:
    # every CUDA device is listed both plainly and by index; cpu always comes last
    assert available_devices() == ["cuda", "cuda:0", "cuda:1", "cpu"]
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x", "cuda:", "cpu:0", "mps:1", ""])
def test_unknown_device_lists_valid_forms(name: str) -> None:
    # a name that is no device at all: the message lists the forms that are
    with pytest.raises(ConfigError) as info:
        resolve_device(name)
    assert str(info.value) == (
        f"device: unknown device {name!r}; valid forms: auto, cpu, cuda, cuda:N, mps"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps"])
def test_unavailable_device_lists_available(cpu_only: None, name: str) -> None:
    # a valid name this machine lacks: the message lists what it has
    with pytest.raises(ConfigError, match=r"is not available on this machine; available: cpu$"):
        resolve_device(name)


def test_cuda_index_out_of_range(two_gpus: None) -> None:
    # cuda:2 on a two-GPU machine: the available list names both GPUs
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda:2")
    assert str(info.value).endswith("available: cuda, cuda:0, cuda:1, cpu")


def test_precision_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    # auto: float32 on the cpu; bf16-mixed on CUDA only where bf16 is supported
    assert resolve_precision("auto", torch.device("cpu")) == "32"
    assert resolve_precision("auto", "mps") == "32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", torch.device("cuda")) == "bf16-mixed"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", torch.device("cuda")) == "32"


def test_precision_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    # explicit requests pass through where the device can run them
    assert resolve_precision("32", "cpu") == "32"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert resolve_precision("16-mixed", "cuda") == "16-mixed"
    assert resolve_precision("16-mixed", "mps") == "16-mixed"


@pytest.mark.parametrize(
    ("precision", "device", "bf16", "message"),
    [
        ("fp8", "cpu", True, "train.precision: unknown precision 'fp8'; valid: auto, 32, "),
        ("16-mixed", "cpu", True, "train.precision: 16-mixed needs a cuda or mps device, got cpu"),
        ("bf16-mixed", "cuda", False, "train.precision: bf16-mixed is not supported by cuda"),
    ],
)
def test_precision_errors(
    monkeypatch: pytest.MonkeyPatch, precision: str, device: str, bf16: bool, message: str
) -> None:
    # each impossible request names the rule and the way out
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    with pytest.raises(ConfigError) as info:
        resolve_precision(precision, device)
    assert str(info.value).startswith(message)


def test_autocast_and_scaler() -> None:
    # "32" is a plain nullcontext; bf16-mixed really runs matmuls in bfloat16 on the cpu
    assert isinstance(autocast("cpu", "32"), nullcontext)
    with autocast(torch.device("cpu"), "bf16-mixed"):
        out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert out.dtype == torch.bfloat16
    # only float16 needs loss scaling; a disabled scaler is a pass-through
    assert [needs_grad_scaler(p) for p in ("32", "bf16-mixed", "16-mixed")] == [False, False, True]
    scaler = grad_scaler("cpu", "32")
    assert not scaler.is_enabled()
    loss = torch.tensor(2.0)
    assert scaler.scale(loss) is loss


def test_import_is_cheap() -> None:
    # importing the module must not import torch
    code = "import sys, orchestrator.device; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
