"""Tests for orchestrator.space._messages: the wording shared by every validation message."""

from __future__ import annotations

from orchestrator.space._messages import _did_you_mean, _unknown, _unknown_field


def test_did_you_mean_tries_synonyms_before_spelling() -> None:
    # words of other tools map onto Optuna's; misspellings find the closest name
    assert _did_you_mean("max", ["low", "high"]) == "; did you mean 'high'?"
    assert _did_you_mean("hihg", ["low", "high"]) == "; did you mean 'high'?"
    # a synonym whose target is not valid here is no guess; nothing close, no hint
    assert _did_you_mean("max", ["type", "choices"]) == ""
    assert _did_you_mean("zzz", ["low", "high"]) == ""


def test_unknown_lists_the_valid_names_as_written() -> None:
    # choices without quotes, the value received as YAML shows it
    assert _unknown("activation", "rellu", ["relu", "gelu"]) == (
        "unknown activation 'rellu'; did you mean 'relu'? (valid: relu, gelu)"
    )
    assert _unknown("depth", True, [1, 2]) == "unknown depth true (valid: 1, 2)"


def test_unknown_field_names_the_parameter_type() -> None:
    assert _unknown_field("float", "max", ("type", "low", "high")) == (
        "float parameter has unknown field 'max'; did you mean 'high'? (valid: type, low, high)"
    )
    # branch points leave the list out: their own message says what choices takes
    assert _unknown_field("categorical", "choises", ("type", "choices"), listed=False) == (
        "categorical parameter has unknown field 'choises'; did you mean 'choices'?"
    )
