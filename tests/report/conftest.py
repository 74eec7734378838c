"""Studies the report tests read: built directly with Optuna (one and two objectives, every
trial state), and the session's real study (tests/conftest.py: real_study)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest


def _make_study(path: Path, name: str, directions: list[str], trials: list[dict]) -> None:
    """A study in a journal file, with the user attrs `hpo run` sets, and the given trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from orchestrator.storage import open_storage

    study = optuna.create_study(
        study_name=name, storage=open_storage(str(path)), directions=directions
    )
    metrics = ["val_accuracy", "n_parameters"][: len(directions)]
    study.set_user_attr("hpo.metric", metrics[0])
    study.set_user_attr("hpo.metrics", metrics)
    distributions = {
        "train.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.act": CategoricalDistribution(["relu", "gelu"]),
    }
    for i, spec in enumerate(trials):
        state = TrialState[spec.get("state", "COMPLETE")]
        values = spec.get("values")
        study.add_trial(
            create_trial(
                state=state,
                values=values if state == TrialState.COMPLETE else None,
                value=spec.get("value") if state == TrialState.PRUNED else None,
                params={"train.lr": 10 ** (-1 - 0.4 * i), "model.act": ["relu", "gelu"][i % 2]},
                distributions=distributions,
                intermediate_values=spec.get("intermediate", {}),
                user_attrs={
                    "seed": i,
                    "best_epoch": 1,
                    "best_metrics": {"val_accuracy": (values or [0.5])[0], "val_loss": 0.3},
                    **spec.get("attrs", {}),
                },
            )
        )


@pytest.fixture
def single(workdir: Path) -> dict[str, str]:
    storage = str(workdir / "single.journal")
    _make_study(
        Path(storage),
        "single",
        ["maximize"],
        [
            {"values": [0.90]},
            {"values": [0.95]},
            {"values": [0.80]},
            {"state": "PRUNED", "value": 0.85, "intermediate": {1: 0.85}},
            {"state": "FAIL", "attrs": {"fail_reason": "loss became nan", "fail_kind": "nan"}},
        ],
    )
    # no MLflow store here: the leaderboard works from the Optuna study alone
    return {"storage": storage, "tracking_uri": f"sqlite:///{workdir / 'none.db'}"}


@pytest.fixture
def multi(workdir: Path) -> dict[str, str]:
    storage = str(workdir / "multi.journal")
    _make_study(
        Path(storage),
        "multi",
        ["maximize", "minimize"],
        [
            {"values": [0.90, 100.0]},  # front
            {"values": [0.95, 200.0]},  # front: more accurate, larger
            {"values": [0.80, 300.0]},  # dominated by #5 too: third front
            {"values": [0.90, 100.0]},  # equal to #0: same front
            {"values": [0.70, 400.0]},  # dominated by #2: fourth front
            {"values": [0.85, 150.0]},  # dominated by #0 and #3 only: second front
        ],
    )
    return {"storage": storage, "tracking_uri": f"sqlite:///{workdir / 'none.db'}"}


START = dt.datetime(2025, 1, 1, 22, 0, 0)  # when the branching study's first trial started


def _make_branching_study(path: Path, name: str, n_trials: int = 12) -> None:
    """A study whose space branches: ``train.optimizer`` picks adamw (which samples
    ``train.optimizer.adamw.lr``) or sgd (``train.optimizer.sgd.lr`` and ``.momentum``), and
    ``model.depth`` says how many of ``model.blocks.<i>.channels`` exist; the last two trials
    were pruned after epochs 2 and 3. Trials 0-5 ran in one process (``hpo.worker``), 6-11 in
    another an hour later: two runs of 1 min each."""
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.trial import TrialState, create_trial

    from orchestrator.storage import open_storage

    study = optuna.create_study(
        study_name=name, storage=open_storage(str(path)), direction="maximize"
    )
    study.set_user_attr("hpo.metric", "val_accuracy")
    for i in range(n_trials):
        optimizer = ["adamw", "sgd"][i % 2]
        depth = 1 + i % 3
        params: dict[str, object] = {"train.optimizer": optimizer, "model.depth": depth}
        distributions: dict[str, object] = {
            "train.optimizer": CategoricalDistribution(["adamw", "sgd"]),
            "model.depth": IntDistribution(1, 3),
        }
        if optimizer == "adamw":
            params["train.optimizer.adamw.lr"] = 10 ** (-2 - i / n_trials)
            distributions["train.optimizer.adamw.lr"] = FloatDistribution(1e-4, 1e-1, log=True)
        else:
            params["train.optimizer.sgd.lr"] = 10 ** (-1 - i / n_trials)
            params["train.optimizer.sgd.momentum"] = 0.5 + i / (3 * n_trials)
            distributions["train.optimizer.sgd.lr"] = FloatDistribution(1e-3, 0.3, log=True)
            distributions["train.optimizer.sgd.momentum"] = FloatDistribution(0.5, 0.99)
        for block in range(depth):
            params[f"model.blocks.{block}.channels"] = 16 + 8 * ((i + block) % 4)
            distributions[f"model.blocks.{block}.channels"] = IntDistribution(16, 96, log=True)
        pruned = i >= n_trials - 2
        epochs = 2 + (i == n_trials - 1) if pruned else 4
        curve = {
            e: 0.5 + 0.4 * (1 - 1 / (e + 1)) * (1 - i / (2 * n_trials))
            for e in range(1, epochs + 1)
        }
        trial = create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=curve[epochs],
            params=params,
            distributions=distributions,  # type: ignore[arg-type]
            intermediate_values=curve,
            user_attrs={
                "seed": i,
                "best_epoch": epochs,
                "epochs_run": epochs,
                "hpo.worker": {"host": "node-a", "pid": 100 + i // 6, "start": "1"},
            },
        )
        # two runs one after the other, an hour apart, each of 6 trials of 10 s back to back
        trial.datetime_start = START + dt.timedelta(hours=i // 6, seconds=10 * (i % 6))
        trial.datetime_complete = trial.datetime_start + dt.timedelta(seconds=10)
        study.add_trial(trial)


@pytest.fixture
def make_branching(workdir: Path) -> Callable[[int], dict[str, str]]:
    """Makes the branching study 'branching' with a given number of trials; returns its stores."""

    def make(n_trials: int) -> dict[str, str]:
        storage = str(workdir / "branching.journal")
        _make_branching_study(Path(storage), "branching", n_trials)
        return {"storage": storage, "tracking_uri": f"sqlite:///{workdir / 'none.db'}"}

    return make


@pytest.fixture
def branching(make_branching: Callable[[int], dict[str, str]]) -> dict[str, str]:
    return make_branching(12)


@pytest.fixture
def real(real_study: dict[str, str]) -> dict[str, str]:
    return real_study
