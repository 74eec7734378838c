"""Tests for orchestrator/train/_optim.py: optimizers and learning-rate schedules."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from orchestrator.config import (
    AdamConfig,
    AdamWConfig,
    RMSpropConfig,
    ScheduleConfig,
    SGDConfig,
)
from orchestrator.data import Splits
from orchestrator.train import build_optimizer, lr_at
from tests.train.helpers import tiny_mlp

# --- optimizers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        SGDConfig(lr=0.1),
        SGDConfig(lr=0.1, nesterov=True, weight_decay=1e-4),
        AdamConfig(lr=1e-3),
        AdamWConfig(lr=1e-3),
        RMSpropConfig(lr=1e-3, momentum=0.5),
    ],
    ids=lambda c: c.name,
)
def test_one_step_lowers_the_loss(digits: Splits, config) -> None:
    model = tiny_mlp(digits)
    x, y = digits.train[0][:256], digits.train[1][:256]
    loss_fn = nn.CrossEntropyLoss()
    optimizer = build_optimizer(model.parameters(), config)
    before = loss_fn(model(x), y)
    before.backward()
    optimizer.step()
    # one step on a fixed batch moves downhill
    assert loss_fn(model(x), y).item() < before.item()


def test_weight_decay_spares_biases() -> None:
    # decay on weight matrices only; biases and norm scales go in a group without decay
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    optimizer = build_optimizer(model.parameters(), AdamWConfig(weight_decay=0.1))
    decays = {
        g["weight_decay"]: sum(p.numel() for p in g["params"]) for g in optimizer.param_groups
    }
    assert decays == {0.1: 12, 0.0: 3 + 3 + 3}
    assert type(optimizer) is torch.optim.AdamW


# --- learning-rate schedules ----------------------------------------------------------------------


def test_lr_none_is_constant() -> None:
    # no schedule: the base lr at every point
    s = ScheduleConfig(name="none")
    assert {lr_at(t, base_lr=0.1, schedule=s, epochs=10) for t in (0, 3.3, 9.99)} == {0.1}


def test_lr_cosine_endpoints() -> None:
    s = ScheduleConfig(name="cosine", min_lr_ratio=0.1)
    lr = [lr_at(t / 10, base_lr=1.0, schedule=s, epochs=10) for t in range(101)]
    # from the base lr down to base * min_lr_ratio, halfway between at the midpoint, never rising
    assert lr[0] == pytest.approx(1.0) and lr[-1] == pytest.approx(0.1)
    assert lr[50] == pytest.approx(0.55)
    assert all(a >= b for a, b in itertools.pairwise(lr))


def test_lr_step_decay() -> None:
    # times gamma every step_size epochs
    s = ScheduleConfig(name="step", step_size=2, gamma=0.5)
    got = [lr_at(t, base_lr=1.0, schedule=s, epochs=10) for t in (0, 1.99, 2, 3.5, 4, 9.9)]
    assert got == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.0625])


def test_lr_warmup_ramp() -> None:
    # a linear ramp from lr/10 to lr over the warmup, then the schedule starts from the full lr
    s = ScheduleConfig(name="cosine", warmup_epochs=2)
    got = [lr_at(t, base_lr=1.0, schedule=s, epochs=10) for t in (0, 0.5, 1, 1.5, 2)]
    assert got == pytest.approx([0.1, 0.325, 0.55, 0.775, 1.0])
    assert lr_at(10, base_lr=1.0, schedule=s, epochs=10) == pytest.approx(0.0)


def test_lr_onecycle_peak() -> None:
    s = ScheduleConfig(name="onecycle", pct_start=0.3)
    grid = [t / 100 for t in range(1001)]
    lr = [lr_at(t, base_lr=1.0, schedule=s, epochs=10) for t in grid]
    # starts at lr/25, peaks at the base lr exactly at pct_start, ends near zero
    assert lr[0] == pytest.approx(1 / 25)
    assert grid[lr.index(max(lr))] == pytest.approx(3.0) and max(lr) == pytest.approx(1.0)
    assert lr[-1] == pytest.approx(1 / 25 / 1e4)
