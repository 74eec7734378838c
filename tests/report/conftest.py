"""Studies the report tests read: built directly with Optuna (one and two objectives, every
trial state), and the session's real study (tests/conftest.py: real_study)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _make_study(path: Path, name: str, directions: list[str], trials: list[dict]) -> None:
    """A study in a journal file, with the user attrs `hpo run` sets, and the given trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from orchestrator.study import open_storage

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


@pytest.fixture
def real(real_study: dict[str, str]) -> dict[str, str]:
    return real_study
