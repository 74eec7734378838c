"""Tests for orchestrator.space._build: sections, settings, study options, free-form settings."""

from __future__ import annotations

import optuna
import pytest

from orchestrator.space import Space, parse_space, suggest
from tests.space.spaces import CUSTOM, MLP
from tests.space.spaces import problems as _problems

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --- validation: one case per rule ---------------------------------------------------------------

INVALID = [
    pytest.param(
        MLP + "train: {optimizer: {name: sgd, lrr: 0.1}}",
        "train.optimizer.lrr",
        "unknown key 'lrr'; did you mean 'lr'? (valid: lr, momentum, nesterov, weight_decay)",
        id="unknown-key",
    ),
    pytest.param(
        MLP + "trian: {epochs: 2}",
        "trian",
        "unknown section 'trian'; did you mean 'train'?",
        id="unknown-section",
    ),
    pytest.param(
        MLP + "train: {epochs: abc}",
        "train.epochs",
        "expected an integer, got 'abc' (str)",
        id="wrong-type",
    ),
    pytest.param(
        "model: {family: resnet}",
        "model.family",
        "unknown model family 'resnet' (valid: cnn, custom, hf, mlp, rnn, transformer)",
        id="unknown-family",
    ),
    pytest.param(
        MLP + "study: {sampler: tpee}",
        "study.sampler.name",
        "unknown sampler 'tpee'; did you mean 'tpe'? (valid: tpe, random,",
        id="unknown-sampler",
    ),
    pytest.param(
        MLP + "study: {pruner: {name: medain, n_startup_trials: 2}}",
        "study.pruner.name",
        "unknown pruner 'medain'; did you mean 'median'?",
        id="unknown-pruner",
    ),
    pytest.param(
        MLP + "study: {metric: val_acc}",
        "study.metric",
        "unknown metric 'val_acc'; did you mean 'val_accuracy'?",
        id="unknown-metric",
    ),
    pytest.param(
        MLP + "study: {timeout: ten minutes}",
        "study.timeout",
        "expected a duration such as 90s, 30m, 8h or 1h30m, got 'ten minutes'",
        id="bad-timeout",
    ),
    pytest.param(
        MLP + "study: {n_trials: {type: int, low: 1, high: 5}}",
        "study.n_trials",
        "study settings are fixed",
        id="param-in-study",
    ),
    pytest.param(
        MLP + "train: {epochs: 0}",
        "train.epochs",
        "got 0, but the value should be greater than 0",
        id="fixed-vs-field",
    ),
    pytest.param(
        "model: {family: mlp, activation: rellu}",
        "model.activation",
        "unknown activation 'rellu'; did you mean 'relu'?",
        id="unknown-literal",
    ),
    pytest.param(
        MLP + "train: {optimizer: {name: sgd, momentum: 0.0, nesterov: true}}",
        "train",
        "optimizer: nesterov=true needs momentum > 0",
        id="fixed-cross-field-rule",
    ),
    pytest.param(
        "model: {family: cnn, depth: 3, blocks: [{channels: 8}]}",
        "model",
        "a list needs exactly depth=3 entries",
        id="fixed-list-length",
    ),
    pytest.param(
        "- model\n- train\n",
        "",
        "expected a mapping with the sections study, data, model, train, got ['model', 'train']",
        id="file-not-mapping",
    ),
    pytest.param("", "", "the file is empty", id="file-empty"),
    pytest.param(
        MLP + "train: 5",
        "train",
        "expected a mapping of train settings, got 5",
        id="section-not-mapping",
    ),
    pytest.param("data: {name: digits}", "model", "missing 'family'", id="missing-model"),
]


@pytest.mark.parametrize(("text", "path", "message"), INVALID)
def test_invalid_space_reports_the_problem(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    # the expected problem is reported at its path, on one line
    assert any(p == path and message in m for p, m in problems), problems
    assert all("\n" not in m for _, m in problems)


def test_every_problem_is_reported_at_once() -> None:
    text = MLP + (
        "train:\n"
        "  epochs: {type: int, low: 3, high: 1}\n"
        "  batch_size: abc\n"
        "  optimizer: {name: sgd, lrr: 0.1}\n"
    )
    problems = _problems(text)
    # three unrelated problems, all in one error, each at its own path
    assert [p for p, _ in problems] == ["train.epochs", "train.batch_size", "train.optimizer.lrr"]


_DIRECTIONS = "(valid: maximize, minimize, or a list of them, one per metric)"


@pytest.mark.parametrize(
    ("study", "expected"),
    [
        pytest.param(
            "{direction: maximise}",
            [
                (
                    "study.direction",
                    f"unknown direction 'maximise'; did you mean 'maximize'? {_DIRECTIONS}",
                )
            ],
            id="direction",
        ),
        pytest.param(
            "{metric: [val_loss, val_f1], direction: [min, maximize]}",
            [
                (
                    "study.direction",
                    f"unknown direction 'min'; did you mean 'minimize'? {_DIRECTIONS}",
                )
            ],
            id="direction-in-list",
        ),
        pytest.param(
            "{direction: 3}",
            [("study.direction", "expected a direction name or a list of them, got 3 (int)")],
            id="direction-not-a-name",
        ),
        pytest.param(
            "{metric: {a: 1}}",
            [("study.metric", "expected a metric name or a list of them, got {'a': 1} (dict)")],
            id="metric-not-a-name",
        ),
        pytest.param(
            # the unknown metric only: no "2 directions for 1 metrics" from the default metric
            "{metric: [val_acc, val_loss], direction: [maximize, minimize]}",
            [
                (
                    "study.metric",
                    "unknown metric 'val_acc'; did you mean 'val_accuracy'? (valid: latency_ms, "
                    "n_parameters, val_accuracy, val_balanced_accuracy, val_brier, val_f1, "
                    "val_hamming, val_log_loss, val_loss, val_macro_f1, val_mae, val_mape, "
                    "val_mcc, val_micro_f1, val_pr_auc, val_precision, val_r2, val_recall, "
                    "val_rmse, val_rmsle, val_roc_auc, val_subset_accuracy, val_weighted_f1, "
                    "or a list of them for several objectives)",
                )
            ],
            id="no-consequence-of-a-wrong-metric",
        ),
        pytest.param(
            "{retries: {oomm: 2}}",
            [
                (
                    "study.retries",
                    "unknown key 'oomm'; did you mean 'oom'? (valid: stale, oom, nan, timeout, "
                    "error)",
                )
            ],
            id="retries-key",
        ),
        pytest.param(
            "{retries: {oom: x}}",
            [("study.retries.oom", "expected an integer, got 'x' (str)")],
            id="retries-value",
        ),
        pytest.param(
            "{n_trials: null}",
            [
                (
                    "study.n_trials",
                    "null is not allowed for 'n_trials'; give a value, or remove the key to use "
                    "the default",
                )
            ],
            id="null",
        ),
        pytest.param(
            # a setting's own rule (a duration) is still checked beside another wrong setting
            "{n_trials: 0, timeout: ten minutes}",
            [
                ("study.n_trials", "got 0, but the value should be greater than 0"),
                (
                    "study.timeout",
                    "expected a duration such as 90s, 30m, 8h or 1h30m, got 'ten minutes'",
                ),
            ],
            id="every-problem",
        ),
    ],
)
def test_study_problems_are_worded_once(study: str, expected: list[tuple[str, str]]) -> None:
    # every problem of the study section exactly as reported, each once, at the setting's path
    assert _problems(MLP + f"study: {study}\n") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "train: {batch_size: true}",
            [("train.batch_size", "expected an integer, got true (bool)")],
        ),
        ("study: {seed: true}", [("study.seed", "expected an integer, got true (bool)")]),
        (
            "study: {timeout: true}",
            [("study.timeout", "expected a string or a number, got true (bool)")],
        ),
        (
            "train: {label_smoothing: true}",
            [("train.label_smoothing", "expected a number, got true (bool)")],
        ),
        ("data: {normalize: 1}", [("data.normalize", "expected true or false, got 1 (int)")]),
        (
            "train: {batch_size: {type: categorical, choices: [true, 32]}}",
            [("train.batch_size", "choice true: expected an integer, got true (bool)")],
        ),
    ],
)
def test_booleans_and_numbers_are_not_each_other(
    text: str, expected: list[tuple[str, str]]
) -> None:
    # true is not read as 1 (batch_size 1, a 1-second timeout), nor 1 as true: each is named
    assert _problems(MLP + text) == expected


_PRECISIONS = "(valid: auto, 32, bf16-mixed, 16-mixed)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "train: {precision: 32}",
            [
                (
                    "train.precision",
                    f"precision 32 is read as a number; quote it: '32' {_PRECISIONS}",
                )
            ],
            id="number-for-string",
        ),
        pytest.param(
            "train: {precision: {type: categorical, choices: ['32', bf16]}}",
            [
                (
                    "train.precision",
                    "choice 'bf16': unknown precision 'bf16'; did you mean 'bf16-mixed'? "
                    + _PRECISIONS,
                )
            ],
            id="other-tools-word",
        ),
        pytest.param(
            "train: {optimizer: 3}",
            [
                (
                    "train.optimizer",
                    "expected an optimizer name (one of adam, adamw, rmsprop, sgd), a mapping "
                    "with 'name', or {type: categorical, choices: {...}}, got 3 (int)",
                )
            ],
            id="article",
        ),
    ],
)
def test_names_are_worded_as_meant(text: str, expected: list[tuple[str, str]]) -> None:
    # a name written as a number, a name from another tool, the article before a vowel
    assert _problems(MLP + text) == expected


def test_study_is_normalised_and_named_from_the_file(space: Space) -> None:
    # sampler mapping -> name + options; the name defaults to the file stem
    assert space.study.sampler.name == "tpe"
    assert space.study.sampler.options == {"n_startup_trials": 3}
    assert space.study.pruner.name == "median"
    assert space.name == "cnn"


# --- free-form settings: the custom family's params ----------------------------------------------


def test_custom_params_are_searched_under_their_own_names() -> None:
    # any keys, fixed or searched, nested mappings alike: named model.params.<key>
    space = parse_space(CUSTOM)
    assert [(p.name, p.describe()) for p in space.parameters()] == [
        ("model.params.width", "int [16, 128] log"),
        ("model.params.act", "categorical [relu, gelu]"),
        ("model.params.head.dropout", "float [0.0, 0.5]"),
    ]
    fixed = space.fixed_params()
    assert fixed["model.params.blocks"] == 2 and fixed["model.params.head.bias"] is True
    trial = optuna.trial.FixedTrial(
        {"model.params.width": 32, "model.params.act": "gelu", "model.params.head.dropout": 0.1}
    )
    config = suggest(space, trial)
    # the factory receives them as one dict, sampled values in place
    assert config.model.params == {
        "width": 32,
        "act": "gelu",
        "blocks": 2,
        "head": {"dropout": 0.1, "bias": True},
    }
    assert config.model.factory == "mypkg.models:build"


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ("3", "model.params", "'params' takes a mapping of settings, got 3"),
        (
            "{type: int, low: 1, high: 3}",
            "model.params",
            "'params' is a mapping of settings, not one value; search the settings inside it",
        ),
        (
            "{width: {type: int, low: 64, high: 16}}",
            "model.params.width",
            "low <= high must hold, but got low=64, high=16",
        ),
        (
            "{lr: {type: float, low: 0.0, high: 0.1, log: true}}",
            "model.params.lr",
            "log=true needs low > 0, got low=0.0",
        ),
        (
            "{act: {type: categorical, choices: [relu, relu]}}",
            "model.params.act",
            "choice 'relu' is given twice",
        ),
    ],
)
def test_custom_params_problems(params: str, path: str, message: str) -> None:
    text = f"model:\n  family: custom\n  factory: a.b:c\n  params: {params}\n"
    problems = _problems(text)
    assert any(p == path and message in m for p, m in problems), problems


def test_custom_factory_is_required_and_checked() -> None:
    problems = _problems("model: {family: custom}\n")
    assert ("model", "missing required key 'factory'; add it") in problems
    problems = _problems("model: {family: custom, factory: not-a-path}\n")
    assert problems[0][0] == "model.factory" and "factory must read" in problems[0][1]


# --- data and augmentation settings --------------------------------------------------------------


def test_data_and_augment_settings_validate_and_sample() -> None:
    text = MLP + (
        "data: {name: csv, path: t.csv, target: y, text: body, tokenizer: char, max_length: 32}\n"
        "train:\n"
        "  augment:\n"
        "    noise: {type: float, low: 0.0, high: 0.2}\n"
        "    mixup: {type: categorical, choices: [0.0, 0.2]}\n"
        "    flip: none\n"
    )
    space = parse_space(text)
    assert [p.name for p in space.parameters()] == ["train.augment.noise", "train.augment.mixup"]
    config = suggest(
        space, optuna.trial.FixedTrial({"train.augment.noise": 0.1, "train.augment.mixup": 0.2})
    )
    assert (config.train.augment.noise, config.train.augment.mixup) == (0.1, 0.2)
    assert (config.data.tokenizer, config.data.max_length) == ("char", 32)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("data: {tokenizer: words}\n", "data.tokenizer", "unknown tokenizer 'words'"),
        ("data: {kind: table}\n", "data.kind", "unknown kind 'table'"),
        ("data: {max_length: 0}\n", "data.max_length", "got 0, but the value should be greater"),
        (
            "train: {augment: {shift: {type: float, low: 0.0, high: 2.0}}}\n",
            "train.augment.shift",
            "'shift' takes integers, so a float parameter cannot feed it; use type: int",
        ),
        (
            "train: {augment: {flip: {type: categorical, choices: [none, diagonal]}}}\n",
            "train.augment.flip",
            "unknown flip 'diagonal'",
        ),
        ("train: {augment: {cutuot: 4}}\n", "train.augment.cutuot", "did you mean 'cutout'?"),
    ],
)
def test_data_and_augment_problems(text: str, path: str, message: str) -> None:
    problems = _problems(MLP + text)
    assert any(p == path and message in m for p, m in problems), problems
