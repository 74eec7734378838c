"""Tests for orchestrator.space._params: a search parameter's own rules and the field it feeds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config import TrainConfig
from orchestrator.space import PARAM_TYPES, CategoricalParam, FloatParam, IntParam, ParamSpec
from orchestrator.space._params import read_param
from tests.space.spaces import MLP
from tests.space.spaces import problems as _problems

INVALID = [
    pytest.param(
        MLP + "train: {label_smoothing: {type: float, low: 0.0, max: 0.2}}",
        "train.label_smoothing",
        "float parameter has unknown field 'max'; did you mean 'high'?",
        id="param-unknown-field",
    ),
    pytest.param(
        MLP + "train: {epochs: {type: int, low: 3, high: 1}}",
        "train.epochs",
        "low <= high must hold, but got low=3, high=1",
        id="low-above-high",
    ),
    pytest.param(
        MLP + "train: {label_smoothing: {type: float, low: 0.0, high: 0.2, log: true}}",
        "train.label_smoothing",
        "log=true needs low > 0, got low=0.0",
        id="log-needs-positive-low",
    ),
    pytest.param(
        MLP + "train: {batch_size: {type: int, low: 16, high: 64, step: 16, log: true}}",
        "train.batch_size",
        "step and log cannot be combined; remove one",
        id="step-and-log",
    ),
    pytest.param(
        MLP + "train: {batch_size: {type: int, low: 16, high: 60, step: 8}}",
        "train.batch_size",
        "high - low must be a multiple of step, but got low=16, high=60, step=8; use high=56",
        id="step-not-dividing",
    ),
    pytest.param(
        MLP + "train: {batch_size: {type: categorical, choices: []}}",
        "train.batch_size",
        "choices is empty; give at least one value",
        id="empty-choices",
    ),
    pytest.param(
        MLP + "train: {batch_size: {type: categorical, choices: [[16, 32], [32, 64]]}}",
        "train.batch_size",
        "choice [16, 32] is a list; Optuna's choices must be null, booleans, numbers or strings",
        id="list-choice",
    ),
    pytest.param(
        MLP + "train: {batch_size: {type: categorical, choices: {a: 1}}}",
        "train.batch_size",
        "choices given as a mapping (named branches) only work for settings chosen by name",
        id="branches-on-plain-field",
    ),
    pytest.param(
        MLP + "train: {epochs: {type: int, low: 1.5, high: 3}}",
        "train.epochs",
        "int parameter needs integer bounds, got low=1.5 (float)",
        id="int-param-float-bounds",
    ),
    pytest.param(
        MLP + "train: {epochs: {type: float, low: 1, high: 3}}",
        "train.epochs",
        "'epochs' takes integers, so a float parameter cannot feed it; use type: int",
        id="float-param-on-int-field",
    ),
    pytest.param(
        MLP + "train: {epochs: {type: floot, low: 1, high: 3}}",
        "train.epochs",
        "unknown parameter type 'floot'; did you mean 'float'? (valid: float, int, categorical)",
        id="unknown-param-type",
    ),
    pytest.param(
        MLP + "train: {epochs: {type: int, low: 0, high: 3}}",
        "train.epochs",
        "low=0 is out of range for 'epochs': the value should be greater than 0",
        id="param-range-vs-field",
    ),
    pytest.param(
        MLP + "train: {label_smoothing: {type: categorical, choices: [0.0, 1.0]}}",
        "train.label_smoothing",
        "choice 1.0 is out of range: the value should be less than 1",
        id="choice-vs-field",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), INVALID)
def test_invalid_space_reports_the_problem(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    # the expected problem is reported at its path, on one line
    assert any(p == path and message in m for p, m in problems), problems
    assert all("\n" not in m for _, m in problems)


# --- the parameter models ------------------------------------------------------------------------


def test_type_selects_the_model() -> None:
    # one model per type; numbers stay as written, the spec hands Optuna floats
    param, problems = read_param({"type": "float", "low": 1, "high": 3})
    assert isinstance(param, FloatParam) and problems == []
    assert (param.low, param.high) == (1, 3)
    assert param.to_spec("a", condition=None) == ParamSpec("a", "float", low=1.0, high=3.0)
    assert isinstance(read_param({"type": "int", "low": 1, "high": 3})[0], IntParam)
    param, _ = read_param({"type": "categorical", "choices": [1, "a", None]})
    assert isinstance(param, CategoricalParam) and param.choices == (1, "a", None)


def test_models_refuse_unknown_fields() -> None:
    # extra="forbid": a field of another tool is an error, not ignored
    with pytest.raises(ValidationError) as info:
        IntParam.model_validate({"type": "int", "low": 1, "high": 3, "max": 4})
    assert [err["type"] for err in info.value.errors()] == ["extra_forbidden"]


def test_unknown_fields_are_reported_and_the_rest_still_checked() -> None:
    _, problems = read_param({"type": "int", "low": 3, "high": 1, "max": 2})
    # the unknown field, then the rules between the fields that are known
    assert problems == [
        "int parameter has unknown field 'max'; did you mean 'high'? "
        "(valid: type, low, high, step, log)",
        "low <= high must hold, but got low=3, high=1",
    ]


def test_every_broken_rule_between_fields_is_reported() -> None:
    _, problems = read_param({"type": "float", "low": 0.0, "high": -1.0, "step": 0.5, "log": True})
    # all at once, in the order of the rules
    assert problems == [
        "low <= high must hold, but got low=0.0, high=-1.0",
        "log=true needs low > 0, got low=0.0",
        "step and log cannot be combined; remove one",
    ]


def test_the_field_is_checked_only_when_the_context_names_it() -> None:
    spec = {"type": "int", "low": 0, "high": 3}
    # on its own the parameter is fine; feeding epochs (> 0) it is not
    assert read_param(spec)[1] == []
    assert read_param(spec, model=TrainConfig, key="epochs")[1] == [
        "low=0 is out of range for 'epochs': the value should be greater than 0"
    ]
    choices = {"type": "categorical", "choices": [0.0, 1.0]}
    assert read_param(choices)[1] == []
    assert read_param(choices, model=TrainConfig, key="label_smoothing")[1] == [
        "choice 1.0 is out of range: the value should be less than 1"
    ]


def test_missing_fields_and_unknown_types() -> None:
    # the fields without which nothing else can be checked, named together
    assert read_param({"type": "float", "log": "yes"})[1] == [
        "float parameter needs 'low' and 'high'; e.g. {type: float, low: 1, high: 10}"
    ]
    assert read_param({"type": "uniform"})[1] == [
        "unknown parameter type 'uniform' (valid: float, int, categorical)"
    ]
    assert PARAM_TYPES == ("float", "int", "categorical")


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        pytest.param(
            "{kernel_size: {type: categorical, choices: [3, 4]}}",
            [
                (
                    "model.blocks.kernel_size",
                    "choice 4: kernel_size must be odd for 'same' padding, got 4",
                )
            ],
            id="choice",
        ),
        pytest.param(
            "{kernel_size: {type: int, low: 2, high: 6, step: 2}}",
            [
                (
                    "model.blocks.kernel_size",
                    "low=2 does not fit 'kernel_size': kernel_size must be odd for 'same' padding, "
                    "got 2",
                ),
                (
                    "model.blocks.kernel_size",
                    "high=6 does not fit 'kernel_size': kernel_size must be odd for 'same' "
                    "padding, got 6",
                ),
            ],
            id="bounds",
        ),
    ],
)
def test_a_fields_own_validator_is_checked_before_any_trial(
    blocks: str, expected: list[tuple[str, str]]
) -> None:
    # a value the config model's validator refuses is named by hpo validate, not by a failed trial
    assert _problems(f"model: {{family: cnn, blocks: {blocks}}}\n") == expected
