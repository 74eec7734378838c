"""Reading studies: find one, its stored space, its best trial, budget counts, listings."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StudyError
from orchestrator.space import Space, parse_space_dict
from orchestrator.study._attrs import (
    ATTR_METRICS,
    ATTR_PARENT_RUN,
    ATTR_SOURCE,
    ATTR_SPACE,
    ATTR_SPACE_TEXT,
    ATTR_TEST,
    NOT_COUNTED,
)
from orchestrator.study._store import (
    describe_storage,
    open_storage,
    with_retries,
)

if TYPE_CHECKING:
    import optuna


logger = logging.getLogger(__name__)


def load_study(name: str, *, storage: str | None = None) -> optuna.Study:
    """An existing study by name; a missing one is a StudyError listing those that exist."""
    import optuna

    store = open_storage(storage)
    names = with_retries(lambda: optuna.get_all_study_names(store))
    if name not in names:
        known = ", ".join(sorted(names)) or "none yet"
        raise StudyError(
            f"no study named '{name}' in {describe_storage(storage)} (studies: {known}); "
            "check --study and --storage"
        )
    return optuna.load_study(study_name=name, storage=store)


def stored_space(study: optuna.Study) -> Space:
    """The search space stored with a study when it was created."""
    raw = study.user_attrs.get(ATTR_SPACE)
    if raw is None:
        raise StudyError(
            f"study '{study.study_name}' has no stored search space; start it with hpo run --space"
        )
    return parse_space_dict(
        raw,
        source=study.user_attrs.get(ATTR_SOURCE, study.study_name),
        text=study.user_attrs.get(ATTR_SPACE_TEXT),
    )


def _is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state != TrialState.FAIL or trial.user_attrs.get("hpo.requeued"):
        return False
    return trial.user_attrs.get("fail_kind") not in NOT_COUNTED


def _all_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study, read once (not copied) with retries on transient errors."""
    return with_retries(lambda: study.get_trials(deepcopy=False))


def _budget_counts(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> tuple[int, int]:
    """(trials counted towards the budget, trials running now); ``trials`` if just read."""
    from optuna.trial import TrialState

    if trials is None:
        trials = _all_trials(study)
    finished = sum(1 for t in trials if _is_counted(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return finished, running


def _best(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> optuna.trial.FrozenTrial | None:
    """The best trial; for several objectives, the Pareto trial best on the first one.

    ``trials``: the study's trials if just read, so that one objective needs no other read.
    """
    from optuna.trial import TrialState

    if trials is not None and len(study.directions) == 1:
        done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        if not done:
            return None
        sign = 1 if study.direction.name == "MAXIMIZE" else -1
        return max(done, key=lambda t: (sign * t.value, -t.number))  # first of equals, as Optuna
    if len(study.directions) > 1:
        front = study.best_trials
        if not front:
            return None
        sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
        return max(front, key=lambda t: (sign * t.values[0], -t.number))
    try:
        return study.best_trial
    except ValueError:
        return None


def _metrics_of(study: optuna.Study) -> list[str]:
    metrics = study.user_attrs.get(ATTR_METRICS)
    if metrics:
        return list(metrics)
    metric = study.user_attrs.get("hpo.metric")
    return [metric] if metric else ["value"]


@dataclass(frozen=True)
class StudyInfo:
    name: str
    states: dict[str, int]
    best_value: float | None
    best_number: int | None
    direction: str
    metric: str | None


def list_studies(*, storage: str | None = None) -> list[StudyInfo]:
    """Every study in a storage: trials by state and best value (first objective)."""
    import optuna

    store = open_storage(storage)
    infos = []
    for name in sorted(with_retries(lambda: optuna.get_all_study_names(store))):
        study = optuna.load_study(study_name=name, storage=store)
        states: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = _best(study)
        infos.append(
            StudyInfo(
                name=name,
                states=states,
                best_value=best.values[0] if best is not None else None,
                best_number=best.number if best is not None else None,
                direction=", ".join(d.name.lower() for d in study.directions),
                metric=", ".join(_metrics_of(study)),
            )
        )
    return infos


def get_best(name: str, *, storage: str | None = None) -> dict[str, Any]:
    """The best trial of a study: number, value, params, seed and its MLflow run id.

    For a multi-objective study: the Pareto trial best on the first objective, its ``values``,
    and the numbers of the whole ``pareto_front``.
    """
    study = load_study(name, storage=storage)
    best = _best(study)
    if best is None:
        raise StudyError(f"study '{name}' has no completed trial yet; run it first: hpo run ...")
    metrics = _metrics_of(study)
    info = {
        "study": name,
        "metric": metrics[0],
        "direction": study.directions[0].name.lower(),
        "number": best.number,
        "value": best.values[0],
        "params": best.params,
        "seed": best.user_attrs.get("seed"),
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "mlflow_parent_run_id": study.user_attrs.get(ATTR_PARENT_RUN),
        "test_metrics": study.user_attrs.get(ATTR_TEST),
    }
    if len(study.directions) > 1:
        info["metrics"] = metrics
        info["directions"] = [d.name.lower() for d in study.directions]
        info["values"] = dict(zip(metrics, best.values, strict=False))
        info["pareto_front"] = sorted(t.number for t in study.best_trials)
    return info


def _median_trial_seconds(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.datetime_complete and t.datetime_start
    ]
    return statistics.median(durations) if durations else None
