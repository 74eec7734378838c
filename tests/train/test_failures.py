"""Tests for orchestrator/train/_failures.py: the forward probe and out-of-memory detection."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.errors import TrialFailure
from orchestrator.train._failures import is_oom, probe_forward


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"), True),
        (RuntimeError("MPS backend out of memory"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("out of memory"), False),  # only torch's types and RuntimeErrors
    ],
)
def test_is_oom(exc: BaseException, expected: bool) -> None:
    assert is_oom(exc) is expected


class Raises(nn.Module):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.exc


def probe(model: nn.Module, *, num_classes: int = 3) -> None:
    x = torch.zeros(2, 4)
    probe_forward(model, x, device=torch.device("cpu"), precision="32", num_classes=num_classes)


def test_probe_names_the_first_line_or_the_error_type() -> None:
    # the first line of the model's error, or its type when the message is empty
    with pytest.raises(TrialFailure, match=r"^model failed on input of shape \(2, 4\): bad$"):
        probe(Raises(RuntimeError("bad\nsecond line")))
    with pytest.raises(TrialFailure, match=r": RuntimeError$") as info:
        probe(Raises(RuntimeError("")))
    assert info.value.kind == "error"


def test_probe_lets_out_of_memory_through_and_leaves_training_mode() -> None:
    # out of memory is not a shape problem: the loop turns it into kind "oom" itself
    model = Raises(torch.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(torch.OutOfMemoryError):
        probe(model)
    assert model.training


def test_probe_checks_one_logit_per_class() -> None:
    probe(nn.Linear(4, 3))  # (2, 3): fine
    with pytest.raises(TrialFailure, match=r"expected \(2, 5\): one logit per class"):
        probe(nn.Linear(4, 3), num_classes=5)
