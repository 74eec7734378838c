"""Tests for orchestrator.space._yaml: YAML as people write it, and --set overrides."""

from __future__ import annotations

import pytest

from orchestrator.errors import SpaceError
from orchestrator.space import parse_space
from tests.space.spaces import MLP, SPACE
from tests.space.spaces import problems as _problems

INVALID = [
    pytest.param(
        "model:\n  family: mlp\n  depth: 2\n  depth: 3\n",
        "",
        "invalid YAML at line 4, column 3: duplicate key 'depth'",
        id="duplicate-key",
    ),
    pytest.param(
        "model:\n  family: mlp\n train: {epochs: 2}\n",
        "",
        "invalid YAML at line 3, column 2:",
        id="yaml-syntax",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), INVALID)
def test_invalid_space_reports_the_problem(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    # the expected problem is reported at its path, on one line
    assert any(p == path and message in m for p, m in problems), problems
    assert all("\n" not in m for _, m in problems)


def test_yaml_exponent_without_dot_is_a_float() -> None:
    space = parse_space(MLP + "train: {optimizer: {name: adam, lr: 1e-4}}")
    # YAML 1.1 would read 1e-4 as a string
    assert space.raw["train"]["optimizer"]["lr"] == 1e-4


# --- overrides -----------------------------------------------------------------------------------


def test_override_changes_a_value() -> None:
    space = parse_space(SPACE, overrides=["train.epochs=2", "study.sampler=random"])
    # the value is read as YAML and replaces the file's
    assert space.raw["train"]["epochs"] == 2
    assert space.study.sampler.name == "random"


def test_override_creates_missing_mappings_and_params() -> None:
    space = parse_space(
        MLP,
        overrides=[
            "train.early_stopping.patience=3",
            "train.epochs={type: int, low: 1, high: 4}",
        ],
    )
    # missing intermediate mappings are created; a value may be a search parameter
    assert space.raw["train"]["early_stopping"] == {"patience": 3}
    assert [p.name for p in space.parameters()] == ["train.epochs"]


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ("train.epochs", "", "override 'train.epochs' has no '='"),
        ("=3", "", "has an empty key"),
        ("train..epochs=3", "", "has an empty key"),
        ("model.family.x=1", "model.family.x", "'model.family' is 'mlp' (str) in the file"),
    ],
)
def test_malformed_override_is_reported_from_set(override: str, path: str, message: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_space(MLP, overrides=[override])
    # a malformed override is reported with source --set
    assert info.value.source == "--set"
    assert [(p.path, message in p.message) for p in info.value.problems] == [(path, True)]


def test_bad_override_value_is_validated_like_the_file() -> None:
    problems = _problems(MLP, overrides=("train.epochs=0",))
    # the same message the file would get
    assert problems == [("train.epochs", "got 0, but the value should be greater than 0")]
