"""Tests for orchestrator.space._branches: settings chosen by name, and per-layer settings."""

from __future__ import annotations

import pytest

from tests.space.spaces import MLP
from tests.space.spaces import problems as _problems

INVALID = [
    pytest.param(
        MLP + "train: {optimizer: {name: adamx}}",
        "train.optimizer.name",
        "unknown optimizer 'adamx'; did you mean 'adam'? (valid: adam, adamw, rmsprop, sgd)",
        id="unknown-optimizer",
    ),
    pytest.param(
        MLP + "train: {optimizer: {type: categorical, choices: {sgd: {}, adamx: {}}}}",
        "train.optimizer.choices.adamx",
        "unknown optimizer 'adamx'",
        id="unknown-optimizer-branch",
    ),
    pytest.param(
        MLP + "train: {schedule: cosin}",
        "train.schedule.name",
        "unknown schedule 'cosin'; did you mean 'cosine'?",
        id="unknown-schedule",
    ),
    pytest.param(
        "model: {family: cnn, blocks: {repeat: depth, channels: 32}}",
        "model.blocks.repeat",
        "repeat: 'depth' is not a key of this mapping",
        id="repeat-missing-sibling",
    ),
    pytest.param(
        "model: {family: cnn, activation: relu, blocks: {repeat: activation, channels: 32}}",
        "model.blocks.repeat",
        "repeat: 'activation' must be a fixed integer, an int parameter or a categorical of "
        "integers, got 'relu' (str)",
        id="repeat-sibling-not-int",
    ),
    pytest.param(
        MLP + "train: {optimizer: {type: categorical, values: [sgd, adam], choices: [sgd]}}",
        "train.optimizer",
        "categorical parameter has unknown field 'values'; did you mean 'choices'?",
        id="branch-unknown-field",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), INVALID)
def test_invalid_space_reports_the_problem(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    # the expected problem is reported at its path, on one line
    assert any(p == path and message in m for p, m in problems), problems
    assert all("\n" not in m for _, m in problems)
