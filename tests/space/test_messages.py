"""Tests for orchestrator.space._messages: the wording shared by every validation message."""

from __future__ import annotations

import optuna
import pytest

from orchestrator.errors import TrialFailure
from orchestrator.space import parse_space, suggest
from orchestrator.space._messages import (
    _did_you_mean,
    _errors,
    _explain,
    _unknown,
    _unknown_field,
)
from tests.space.spaces import MLP, problems

optuna.logging.set_verbosity(optuna.logging.WARNING)


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


def test_errors_leave_union_labels_out_and_give_one_error_per_value() -> None:
    # pydantic's errors for `direction: maximise` against Literal[...] | list[Literal[...]]:
    # one per member of the union, each under the member's label
    errors = [
        {
            "type": "literal_error",
            "loc": ("direction", "literal['maximize','minimize']"),
            "msg": "Input should be 'maximize' or 'minimize'",
            "input": "maximise",
            "ctx": {"expected": "'maximize' or 'minimize'"},
        },
        {
            "type": "list_type",
            "loc": ("direction", "list[literal['maximize','minimize']]"),
            "msg": "Input should be a valid list",
            "input": "maximise",
        },
    ]
    # the member that takes a string speaks; the list member's "expected a list" is no problem
    assert [(e["loc"], _explain(e)) for e in _errors(errors)] == [
        (("direction",), "got 'maximise', but the value should be 'maximize' or 'minimize'")
    ]
    # a list: the string member refused it for its kind alone, the list member says what is
    # wrong inside it, at the item's place
    literal, listed = errors
    in_list = [
        {**literal, "input": ["min"]},
        {**literal, "loc": (*listed["loc"], 0), "input": "min"},
    ]
    assert [(e["loc"], _explain(e)) for e in _errors(in_list)] == [
        (("direction", 0), "got 'min', but the value should be 'maximize' or 'minimize'")
    ]
    # a value no member takes: one line with what each takes
    errors = [{**err, "input": {"a": 1}} for err in errors]
    assert [(e["loc"], _explain(e)) for e in _errors(errors)] == [
        (("direction",), "expected 'maximize' or 'minimize', or a list, got {'a': 1} (dict)")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MLP + "study: {timeout: [1]}",
            [("study.timeout", "expected a string or a number, got [1] (list)")],
            id="union-of-types",
        ),
        pytest.param(
            MLP + "data: {mnist1d: {padding: ab}}",
            [("data.mnist1d.padding", "expected a list, got 'ab' (str)")],
            id="tuple-type",
        ),
        pytest.param(
            MLP + "data: {mnist1d: {padding: [1, 2, 3]}}",
            [("data.mnist1d.padding", "expected at most 2 items, got 3")],
            id="tuple-too-long",
        ),
        pytest.param(
            MLP + "data: {mnist1d: {padding: [1]}}",
            [("data.mnist1d.padding", "too few items: nothing at index 1")],
            id="tuple-too-short",
        ),
        pytest.param(
            MLP + "data: {mnist1d: {padding: {type: categorical, choices: [1]}}}",
            [("data.mnist1d.padding", "choice 1: expected a list, got 1 (int)")],
            id="tuple-choice",
        ),
        pytest.param(
            # one cause, one line, however often the choice repeats
            MLP + "train: {epochs: {type: categorical, choices: [1, 1, 1]}}",
            [("train.epochs", "choice 1 is given twice; give it once")],
            id="choice-thrice",
        ),
    ],
)
def test_pydantic_errors_become_one_plain_line_each(
    text: str, expected: list[tuple[str, str]]
) -> None:
    # every problem exactly as reported: no union label in a path, no problem twice
    assert problems(text) == expected


def test_trial_failure_names_the_setting_once() -> None:
    # kernel_size 4 breaks a rule checked when the trial's config is built; `blocks` is a union
    # (a list or one shared mapping), whose labels and second member must not show
    space = parse_space("model: {family: cnn, blocks: {kernel_size: {type: int, low: 3, high: 5}}}")
    with pytest.raises(TrialFailure) as info:
        suggest(space, optuna.trial.FixedTrial({"model.blocks.kernel_size": 4}))
    assert str(info.value) == (
        "the sampled config is invalid: model.blocks.kernel_size: kernel_size must be odd for "
        "'same' padding, got 4"
    )
