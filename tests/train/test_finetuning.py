"""Tests for what fine-tuning brought to orchestrator/train: the linear schedule with a warmup
fraction, gradient accumulation, the head's own learning rate, and a model that saves only part
of its state. Each works with every family: the tests use hpo's own MLP and plain torch."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from orchestrator.config import AdamWConfig, ScheduleConfig, SGDConfig, TrainConfig
from orchestrator.data import Splits
from orchestrator.train import build_optimizer, head_parameters, load_weights, lr_at, set_lr
from tests.train.helpers import quick, run, tiny_mlp

# --- the linear schedule and warmup_fraction ------------------------------------------------------


def test_linear_schedule_with_warmup_fraction() -> None:
    # 10 epochs, warmup over 20% of them: from 0 up to lr at epoch 2, then straight down to 0
    s = ScheduleConfig(name="linear", warmup_fraction=0.2)
    got = [lr_at(t, base_lr=1.0, schedule=s, epochs=10) for t in (0, 1, 2, 6, 10)]
    assert got == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    lr = [lr_at(t / 10, base_lr=1.0, schedule=s, epochs=10) for t in range(20, 101)]
    assert all(a > b for a, b in itertools.pairwise(lr))  # always falling after the warmup


def test_linear_schedule_without_warmup_starts_at_lr() -> None:
    s = ScheduleConfig(name="linear")
    assert lr_at(0, base_lr=0.1, schedule=s, epochs=4) == pytest.approx(0.1)
    assert lr_at(3, base_lr=0.1, schedule=s, epochs=4) == pytest.approx(0.025)


def test_warmup_fraction_works_with_other_schedules() -> None:
    # a fraction of the epochs is the same warmup as that many epochs
    by_fraction = ScheduleConfig(name="cosine", warmup_fraction=0.2)
    by_epochs = ScheduleConfig(name="cosine", warmup_epochs=2)
    for t in (0, 0.5, 1.5, 2, 5, 9.5):
        assert lr_at(t, base_lr=1.0, schedule=by_fraction, epochs=10) == pytest.approx(
            lr_at(t, base_lr=1.0, schedule=by_epochs, epochs=10)
        )


def test_two_warmups_are_refused() -> None:
    with pytest.raises(ValidationError, match="warmup_epochs or warmup_fraction, not both"):
        ScheduleConfig(warmup_epochs=1, warmup_fraction=0.1)


# --- gradient accumulation ------------------------------------------------------------------------


def _linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def test_accumulating_two_batches_is_one_batch_twice_as_large(digits: Splits) -> None:
    # plain SGD, no dropout, no shuffling difference: batches of 32 accumulated in pairs step as
    # batches of 64 do, so the trained weights agree to float rounding
    small = digits.train[0][:256], digits.train[1][:256]
    splits = Splits(train=small, val=digits.val, test=digits.test, spec=digits.spec)
    sgd = SGDConfig(lr=0.1, momentum=0.0)
    big = run(_linear_model(), splits, quick(batch_size=64, optimizer=sgd, epochs=1))
    accumulated = run(
        _linear_model(),
        splits,
        quick(batch_size=32, gradient_accumulation=2, optimizer=sgd, epochs=1),
    )
    for key, value in big.best_state.items():
        assert torch.allclose(value, accumulated.best_state[key], atol=1e-5), key


def test_accumulation_steps_once_per_group(digits: Splits) -> None:
    # 256 samples in batches of 32: 8 batches, 3 optimizer steps with groups of 3 (3 + 3 + 2)
    small = digits.train[0][:256], digits.train[1][:256]
    splits = Splits(train=small, val=digits.val, test=digits.test, spec=digits.spec)
    steps = []
    run(
        tiny_mlp(splits),
        splits,
        quick(batch_size=32, gradient_accumulation=3, epochs=1),
        on_step=lambda: steps.append(1),
    )
    assert len(steps) == 3


# --- the head's learning rate ---------------------------------------------------------------------


def test_head_gets_its_own_learning_rate() -> None:
    # hpo's families name their classifier `head`; its groups train at lr * head_lr_factor
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)

    net = Net()
    optimizer = build_optimizer(
        net.parameters(),
        AdamWConfig(lr=1e-3, weight_decay=0.1),
        head=head_parameters(net),
        head_lr_factor=10,
    )
    set_lr(optimizer, 2e-3)  # what the loop does before every step
    lrs = {
        (g["lr"], g["weight_decay"]): sum(p.numel() for p in g["params"])
        for g in optimizer.param_groups
    }
    assert lrs == pytest.approx({(2e-3, 0.1): 16, (2e-3, 0.0): 4, (2e-2, 0.1): 8, (2e-2, 0.0): 2})


def test_head_is_the_last_linear_without_a_head_module() -> None:
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    assert [p.shape for p in head_parameters(net)] == [torch.Size([2, 5]), torch.Size([2])]


def test_head_lr_factor_trains_in_the_loop(digits: Splits) -> None:
    # the loop builds and steps the per-group optimizer: the head 10x faster than the body
    model = tiny_mlp(digits)
    result = run(model, digits, quick(head_lr_factor=10.0, epochs=1))
    assert result.best_metrics["val_accuracy"] > 0.5


def test_head_lr_factor_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        TrainConfig(head_lr_factor=0)


# --- a model that saves part of its state ---------------------------------------------------------


class _PartlyFrozen(nn.Module):
    """A frozen 'pretrained' body and a trained head; saves the head only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Linear(64, 16).requires_grad_(False)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x.flatten(1))))

    def state_to_save(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if k.startswith("head.")}

    def load_saved_state(self, state: dict) -> None:
        self.load_state_dict(state, strict=False)


def test_a_model_saves_and_loads_back_only_its_trained_part(digits: Splits, tmp_path: Path) -> None:
    model = _PartlyFrozen()
    result = run(model, digits, quick(epochs=1))
    # the best state holds the head alone, and loads back on top of the same frozen body
    assert set(result.best_state) == {"head.weight", "head.bias"}
    path = tmp_path / "model.pt"
    torch.save(result.best_state, path)
    fresh = _PartlyFrozen()
    load_weights(fresh, path)
    assert torch.equal(fresh.head.weight, result.best_state["head.weight"])
    assert torch.equal(fresh.body.weight, model.body.weight)
