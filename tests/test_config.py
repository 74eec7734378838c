"""orchestrator/config/: defaults and durations."""

from __future__ import annotations

import pytest

from orchestrator.config import StudyConfig, TrainConfig, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("8h", 28800),
        ("1h30m", 5400),
        ("2d", 172800),
        (45, 45),
        ("12", 12),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    # every documented form gives seconds
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "10x", "-5", "0", "h", ""])
def test_parse_duration_rejects(text: str) -> None:
    # a malformed or non-positive duration is an error naming the value
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_direction_follows_metric() -> None:
    # loss is minimized, accuracy maximized, unless the direction is given
    assert StudyConfig(metric="val_loss").resolved_direction == "minimize"
    assert StudyConfig(metric="val_accuracy").resolved_direction == "maximize"
    assert StudyConfig(metric="val_loss", direction="maximize").resolved_direction == "maximize"


def test_nesterov_needs_momentum() -> None:
    # an impossible optimizer combination is rejected by the resolved config
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(optimizer={"name": "sgd", "momentum": 0.0, "nesterov": True})
