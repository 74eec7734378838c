"""Tests for orchestrator.space: the YAML schema, its validation, and sampling with Optuna."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from orchestrator.errors import SpaceError, TrialFailure
from orchestrator.space import (
    ParamSpec,
    Space,
    describe_space,
    flatten,
    load_space,
    parse_space,
    parse_space_dict,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

# A space with every feature: a sampled depth with per-layer parameters (written before the depth
# on purpose), a conditional optimizer, a fixed-form schedule and plain search parameters.
SPACE = """\
study:
  n_trials: 5
  sampler: {name: tpe, n_startup_trials: 3}
  pruner: median
data:
  name: digits
model:
  family: cnn
  blocks:
    repeat: depth
    channels: {type: int, low: 16, high: 64, step: 16}
    kernel_size: 3
  depth: {type: int, low: 1, high: 3}
  activation: {type: categorical, choices: [relu, gelu]}
train:
  epochs: 3
  batch_size: {type: categorical, choices: [32, 64]}
  optimizer:
    type: categorical
    choices:
      sgd:
        lr: {type: float, low: 1e-3, high: 0.3, log: true}
        momentum: {type: float, low: 0.0, high: 0.9}
        nesterov: {type: categorical, choices: [true, false]}
      adamw:
        lr: {type: float, low: 1e-5, high: 1e-2, log: true}
        weight_decay: 0.01
      adam: {}
  schedule: {name: cosine, warmup_epochs: {type: int, low: 0, high: 2}}
"""

MLP = "model: {family: mlp}\n"


def _problems(text: str, *, overrides: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(SpaceError) as info:
        parse_space(text, overrides=overrides)
    return [(p.path, p.message) for p in info.value.problems]


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
        MLP + "train: {epochs: abc}",
        "train.epochs",
        "expected an integer, got 'abc' (str)",
        id="wrong-type",
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
        "model: {family: resnet}",
        "model.family",
        "unknown model family 'resnet' (valid: cnn, custom, mlp, rnn, transformer)",
        id="unknown-family",
    ),
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


def test_space_error_names_file_path_and_message(tmp_path: Path) -> None:
    path = tmp_path / "cnn.yaml"
    path.write_text(MLP + "train: {epochs: abc}\n")
    with pytest.raises(SpaceError) as info:
        load_space(path)
    # the CLI prints `file: path: message`
    assert str(info.value) == f"{path}: train.epochs: expected an integer, got 'abc' (str)"


def test_missing_file_is_a_space_error(tmp_path: Path) -> None:
    with pytest.raises(SpaceError) as info:
        load_space(tmp_path / "nope.yaml")
    # one clear problem, not a bare FileNotFoundError
    assert "file not found" in str(info.value)


# --- the parsed space ----------------------------------------------------------------------------


@pytest.fixture
def space() -> Space:
    return parse_space(SPACE, source="spaces/cnn.yaml")


def test_parameters_names_conditions_and_distributions(space: Space) -> None:
    params = {p.name: p for p in space.parameters()}
    # per-layer parameters for each possible index; layers past the lowest depth are conditional
    assert params["model.blocks.0.channels"].condition is None
    assert params["model.blocks.2.channels"].condition == "model.depth >= 3"
    assert "model.blocks.3.channels" not in params
    # branch sub-parameters carry the branch name and their condition
    assert params["train.optimizer"].choices == ("sgd", "adamw", "adam")
    assert params["train.optimizer.sgd.lr"].condition == "train.optimizer == sgd"
    assert params["train.optimizer.adamw.lr"].describe() == "float [1e-05, 0.01] log"
    # a fixed-form branch's search parameters carry no branch name
    assert params["train.schedule.warmup_epochs"].describe() == "int [0, 2]"


def test_counts_branches_and_fixed_values(space: Space) -> None:
    # depth + 3 layers + activation + batch_size + optimizer + the sgd branch (3) + warmup
    assert space.max_params_per_trial() == 1 + 3 + 1 + 1 + 1 + 3 + 1
    assert space.branches() == {"train.optimizer": ["sgd", "adamw", "adam"]}
    fixed = space.fixed_params()
    # fixed leaves by dotted name: layer values without an index, branch values with the branch
    assert fixed["model.blocks.kernel_size"] == 3
    assert fixed["train.optimizer.adamw.weight_decay"] == 0.01
    assert fixed["train.schedule.name"] == "cosine"
    assert fixed["study.sampler.n_startup_trials"] == 3
    assert not any(name.startswith("model.blocks.0") for name in fixed)


def test_study_is_normalised_and_named_from_the_file(space: Space) -> None:
    # sampler mapping -> name + options; the name defaults to the file stem
    assert space.study.sampler.name == "tpe"
    assert space.study.sampler.options == {"n_startup_trials": 3}
    assert space.study.pruner.name == "median"
    assert space.name == "cnn"


def test_param_spec_describe() -> None:
    # Optuna's distribution in a few words
    assert ParamSpec("a", "float", low=1e-5, high=0.1, log=True).describe() == (
        "float [1e-05, 0.1] log"
    )
    assert ParamSpec("b", "int", low=16, high=64, step=8).describe() == "int [16, 64] step 8"
    assert ParamSpec("c", "categorical", choices=(3, 5)).describe() == "categorical [3, 5]"


def test_describe_space_lists_everything(space: Space) -> None:
    text = describe_space(space)
    # every parameter with its distribution, the branches and the per-trial maximum
    for param in space.parameters():
        assert param.name in text
    assert "int [16, 64] step 16  (if model.depth >= 2)" in text
    assert "train.optimizer: sgd | adamw | adam" in text
    assert f"at most {space.max_params_per_trial()} parameters per trial" in text


def test_round_trip_through_raw(space: Space) -> None:
    stored = json.loads(json.dumps(space.raw))
    again = parse_space_dict(stored, source="elsewhere.yaml")
    # the stored mapping reproduces the same space, name included
    assert again.parameters() == space.parameters()
    assert again.study == space.study
    assert again.fixed_params() == space.fixed_params()


def test_yaml_exponent_without_dot_is_a_float() -> None:
    space = parse_space(MLP + "train: {optimizer: {name: adam, lr: 1e-4}}")
    # YAML 1.1 would read 1e-4 as a string
    assert space.raw["train"]["optimizer"]["lr"] == 1e-4


def test_validate_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys; from orchestrator.space import parse_space, describe_space; "
        f"describe_space(parse_space({SPACE!r})); "
        "print(sorted(m for m in ('torch', 'optuna', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # hpo validate stays fast
    assert out.stdout.strip() == "[]"


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


# --- suggest -------------------------------------------------------------------------------------


def test_fixed_trial_values_land_in_place(space: Space) -> None:
    trial = optuna.trial.FixedTrial(
        {
            "model.depth": 2,
            "model.blocks.0.channels": 16,
            "model.blocks.1.channels": 48,
            "model.activation": "gelu",
            "train.batch_size": 64,
            "train.optimizer": "sgd",
            "train.optimizer.sgd.lr": 0.05,
            "train.optimizer.sgd.momentum": 0.5,
            "train.optimizer.sgd.nesterov": True,
            "train.schedule.warmup_epochs": 1,
        }
    )
    config = suggest(space, trial)
    # sampled and fixed values in the right places of the resolved config
    assert config.model.depth == 2
    assert [b.channels for b in config.model.blocks] == [16, 48]
    assert [b.kernel_size for b in config.model.blocks] == [3, 3]
    assert config.model.activation == "gelu"
    assert config.train.epochs == 3
    assert config.train.batch_size == 64
    assert config.train.optimizer.name == "sgd"
    assert (config.train.optimizer.lr, config.train.optimizer.momentum) == (0.05, 0.5)
    assert config.train.optimizer.nesterov is True
    assert (config.train.schedule.name, config.train.schedule.warmup_epochs) == ("cosine", 1)
    # params hold exactly what was sampled; to_dict is JSON-serialisable
    assert config.params["model.blocks.1.channels"] == 48
    assert "model.blocks.2.channels" not in config.params
    assert json.loads(json.dumps(config.to_dict()))["model"]["blocks"][1]["channels"] == 48


def test_invalid_sampled_combination_is_a_trial_failure(space: Space) -> None:
    trial = optuna.trial.FixedTrial(
        {
            "model.depth": 1,
            "model.blocks.0.channels": 16,
            "model.activation": "relu",
            "train.batch_size": 32,
            "train.optimizer": "sgd",
            "train.optimizer.sgd.lr": 0.05,
            "train.optimizer.sgd.momentum": 0.0,
            "train.optimizer.sgd.nesterov": True,
            "train.schedule.warmup_epochs": 0,
        }
    )
    with pytest.raises(TrialFailure) as info:
        suggest(space, trial)
    # the trial fails with a one-line reason; the study would go on
    assert info.value.kind == "error"
    assert "nesterov=true needs momentum > 0" in str(info.value)
    assert "\n" not in str(info.value)


class _Recorder:
    """A FixedTrial that remembers the order of suggestions."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.trial = optuna.trial.FixedTrial(params)
        self.order: list[str] = []

    def suggest_float(self, name: str, low: float, high: float, **kw: Any) -> float:
        self.order.append(name)
        return self.trial.suggest_float(name, low, high, **kw)

    def suggest_int(self, name: str, low: int, high: int, **kw: Any) -> int:
        self.order.append(name)
        return self.trial.suggest_int(name, low, high, **kw)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.order.append(name)
        return self.trial.suggest_categorical(name, choices)


def test_suggestion_order_is_file_order_with_depth_first(space: Space) -> None:
    recorder = _Recorder(
        {
            "model.depth": 1,
            "model.blocks.0.channels": 32,
            "model.activation": "relu",
            "train.batch_size": 32,
            "train.optimizer": "adam",
            "train.schedule.warmup_epochs": 0,
        }
    )
    suggest(space, recorder)
    # the depth is suggested before the layers that need it, even though written after them
    assert recorder.order == [
        "model.depth",
        "model.blocks.0.channels",
        "model.activation",
        "train.batch_size",
        "train.optimizer",
        "train.schedule.warmup_epochs",
    ]


def test_branches_and_layers_sample_only_their_own_params(space: Space) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        try:
            suggest(space, trial)
        except TrialFailure as exc:  # nesterov without momentum: expected, not a crash
            raise optuna.TrialPruned() from exc
        return 0.0

    study.optimize(objective, n_trials=30)
    chosen = set()
    for trial in study.trials:
        branch = trial.params["train.optimizer"]
        chosen.add(branch)
        subs = {n for n in trial.params if n.startswith("train.optimizer.")}
        # only the chosen branch's sub-parameters are sampled
        assert subs == {n for n in subs if n.startswith(f"train.optimizer.{branch}.")}
        assert branch == "adam" or subs
        depth = trial.params["model.depth"]
        layers = {int(n.split(".")[2]) for n in trial.params if n.startswith("model.blocks.")}
        # per-layer parameters exist exactly for the indices below the sampled depth
        assert layers == set(range(depth))
    # the sampler saw every branch
    assert chosen == {"sgd", "adamw", "adam"}


def test_fully_fixed_space_suggests_nothing() -> None:
    space = parse_space(MLP + "train: {epochs: 2}")
    config = suggest(space, optuna.trial.FixedTrial({}))
    # no parameters; defaults fill the rest
    assert space.parameters() == []
    assert config.params == {}
    assert config.train.epochs == 2
    assert config.model.family == "mlp"


def test_flatten() -> None:
    # nested mappings and lists become dotted keys
    assert flatten({"a": {"b": 1, "c": [2, {"d": 3}]}, "e": {}}, "x") == {
        "x.a.b": 1,
        "x.a.c.0": 2,
        "x.a.c.1.d": 3,
        "x.e": {},
    }


# --- free-form settings: the custom family's params ----------------------------------------------

CUSTOM = """\
model:
  family: custom
  factory: mypkg.models:build
  params:
    width: {type: int, low: 16, high: 128, log: true}
    act: {type: categorical, choices: [relu, gelu]}
    blocks: 2
    head: {dropout: {type: float, low: 0.0, high: 0.5}, bias: true}
"""


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
