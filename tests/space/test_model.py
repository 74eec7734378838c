"""Tests for orchestrator.space._model: what a parsed space tells about itself."""

from __future__ import annotations

from orchestrator.errors import Problem
from orchestrator.space import ParamSpec, Space, describe_space, flatten, parse_space


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


def test_flatten() -> None:
    # nested mappings and lists become dotted keys
    assert flatten({"a": {"b": 1, "c": [2, {"d": 3}]}, "e": {}}, "x") == {
        "x.a.b": 1,
        "x.a.c.0": 2,
        "x.a.c.1.d": 3,
        "x.e": {},
    }


def test_error_blames_later_problems_on_the_override_that_wrote_their_place() -> None:
    # a check after parsing (a sampler's options, known only to Optuna) names what was given
    space = parse_space(
        "model: {family: mlp}\ntrain: {epochs: 2}\n",
        source="spaces/mlp.yaml",
        overrides=["study.sampler={name: tpe, n_startup: 3}"],
    )
    error = space.error(
        [
            Problem("study.sampler.n_startup", "unknown option 'n_startup' for sampler 'tpe'"),
            Problem("train.epochs", "too few for this pruner"),
        ]
    )
    assert str(error).splitlines() == [
        "--set 'study.sampler={name: tpe, n_startup: 3}': study.sampler.n_startup: unknown option "
        "'n_startup' for sampler 'tpe'",
        "spaces/mlp.yaml: train.epochs: too few for this pruner",
    ]
