"""Tests for orchestrator.space._sample: suggest() with Optuna trials."""

from __future__ import annotations

import json
from typing import Any

import optuna
import pytest

from orchestrator.errors import TrialFailure
from orchestrator.space import Space, parse_space, suggest
from tests.space.spaces import MLP

optuna.logging.set_verbosity(optuna.logging.WARNING)


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
