"""Reading studies: find one, its stored space, its budget and the counts against it, its best
trial, listings. Nothing here creates a store or a study."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StudyError, StudyNotFound
from orchestrator.space import Space, TrialConfig, parse_space_dict
from orchestrator.storage._optuna import study_attr, trial_attr
from orchestrator.storage._store import StudyStore, with_retries
from orchestrator.study._attrs import (
    ATTR_BEST_METRICS,
    ATTR_BUDGET,
    ATTR_CONFIG,
    ATTR_FAIL_KIND,
    ATTR_PARENT_RUN,
    ATTR_REQUEUED,
    ATTR_RUN_ID,
    ATTR_SEED,
    ATTR_SOURCE,
    ATTR_SPACE,
    ATTR_SPACE_TEXT,
    ATTR_TASK,
    ATTR_TEST,
    NOT_COUNTED,
)
from orchestrator.study._ranking import best_trial, directions_of, objective_names

if TYPE_CHECKING:
    import optuna

    from orchestrator.tasks import Task

__all__ = [
    "StudyInfo",
    "budget_counts",
    "get_best",
    "is_counted",
    "list_studies",
    "load_study",
    "median_trial_seconds",
    "reached_budget",
    "stored_budget",
    "stored_space",
    "study_task",
    "trial_config",
    "with_objectives_of",
]


def load_study(name: str, *, storage: StudyStore | str | None = None) -> optuna.Study:
    """An existing study by name; a missing one is a StudyError listing those that exist."""
    import optuna

    store = StudyStore.of(storage)
    names = store.study_names()
    if name not in names:
        known = ", ".join(sorted(names)) or "none yet"
        raise StudyNotFound(
            f"no study named '{name}' in {store.display} (studies: {known}); "
            "check --study and --storage"
        )
    return optuna.load_study(study_name=name, storage=store.open())


def stored_space(study: optuna.Study) -> Space:
    """The search space stored with a study when it was created, its objectives those the study
    optimizes (the task's default metric filled in where the file named none)."""
    raw = study_attr(study, ATTR_SPACE)
    if raw is None:
        raise StudyError(
            f"study '{study.study_name}' has no stored search space; start it with hpo run --space"
        )
    space = parse_space_dict(
        raw,
        source=study.user_attrs.get(ATTR_SOURCE, study.study_name),
        text=study_attr(study, ATTR_SPACE_TEXT),
    )
    return with_objectives_of(space, study)


def with_objectives_of(space: Space, study: optuna.Study) -> Space:
    """``space``, its objectives those ``study`` optimizes where the file names none (the task's
    default metric, filled in when the study was created)."""
    import dataclasses

    if space.resolved:
        return space
    names = objective_names(study)
    metric = names[0] if len(names) == 1 else names
    return dataclasses.replace(space, study=space.study.model_copy(update={"metric": metric}))


def study_task(study: optuna.Study) -> Task:
    """What a study's models predict: the task it recorded (a study from before tasks: classes)."""
    from orchestrator.tasks import DEFAULT_TASK, get_task

    return get_task(study_attr(study, ATTR_TASK) or DEFAULT_TASK)


def study_seed(study: optuna.Study) -> int:
    """The study seed its splits were drawn with (``study.seed`` of the stored space)."""
    raw = study_attr(study, ATTR_SPACE) or {}
    return int((raw.get("study") or {}).get("seed", 0))


def trial_config(trial: optuna.trial.FrozenTrial) -> TrialConfig | None:
    """The configuration a trial ran with, as it recorded it; None when it recorded none (it
    failed before its parameters were sampled, or was written by another tool)."""
    record = trial_attr(trial, ATTR_CONFIG)
    return TrialConfig.from_dict(record) if record else None


def stored_budget(study: optuna.Study, space: Space) -> int:
    """The study's total of trials as the last run set it (the space's, for older studies)."""
    return int(study.user_attrs.get(ATTR_BUDGET) or space.study.n_trials)


def reached_budget(
    store: StudyStore | str | None, name: str, *, n_trials: int | None = None
) -> tuple[int, int] | None:
    """(finished, budget) when study ``name`` exists, has reached its budget (``n_trials`` if
    given, else the one stored with it) and runs nothing: a run would have nothing to do. None
    otherwise. Reads the study only (no data, no MLflow), so it is quick to ask first.
    """
    import optuna
    from optuna.trial import TrialState

    store = StudyStore.of(store)
    if name not in store.study_names():
        return None
    study = optuna.load_study(study_name=name, storage=store.open())
    trials = all_trials(study)
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        return None
    finished = sum(1 for t in trials if is_counted(t))
    budget = n_trials or int(study.user_attrs.get(ATTR_BUDGET) or 0)
    return (finished, budget) if budget and finished >= budget else None


def is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a finished trial uses up the budget: COMPLETE, PRUNED, or a FAIL that was not
    stopped from outside (interrupted, stale, deadline) and whose configuration is not queued
    again."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state != TrialState.FAIL or trial.user_attrs.get(ATTR_REQUEUED):
        return False
    return trial.user_attrs.get(ATTR_FAIL_KIND) not in NOT_COUNTED


def all_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study, read once (not copied) with retries on transient errors."""
    return with_retries(lambda: study.get_trials(deepcopy=False))


def budget_counts(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> tuple[int, int]:
    """(trials counted towards the budget, trials running now); ``trials`` if just read."""
    from optuna.trial import TrialState

    if trials is None:
        trials = all_trials(study)
    finished = sum(1 for t in trials if is_counted(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return finished, running


@dataclass(frozen=True)
class StudyInfo:
    """One line of ``hpo studies``."""

    name: str
    states: dict[str, int]
    best_value: float | None
    best_number: int | None
    direction: str
    metric: str | None


def list_studies(*, storage: StudyStore | str | None = None) -> list[StudyInfo]:
    """Every study in a storage: trials by state and best value (first objective)."""
    import optuna

    store = StudyStore.of(storage)
    infos = []
    for name in sorted(store.study_names()):
        study = optuna.load_study(study_name=name, storage=store.open())
        trials = all_trials(study)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = best_trial(study, trials)
        infos.append(
            StudyInfo(
                name=name,
                states=states,
                best_value=best.values[0] if best is not None else None,
                best_number=best.number if best is not None else None,
                direction=", ".join(directions_of(study)),
                metric=", ".join(objective_names(study)),
            )
        )
    return infos


def get_best(name: str, *, storage: StudyStore | str | None = None) -> dict[str, Any]:
    """The best trial of a study: number, value, params, seed and its MLflow run id, and the key
    of the objective on its MLflow run and the parent run (``mlflow_metric``).

    For a multi-objective study: the Pareto trial best on the first objective, its ``values``,
    and the numbers of the whole ``pareto_front``.
    """
    from orchestrator.tracking import objective_key

    study = load_study(name, storage=storage)
    best = best_trial(study)
    if best is None:
        raise StudyError(f"study '{name}' has no completed trial yet; run it first: hpo run ...")
    metrics = objective_names(study)
    directions = directions_of(study)
    task = study_task(study)
    recorded = best.user_attrs.get(ATTR_BEST_METRICS) or {}
    info = {
        "study": name,
        "task": task.name,
        "metric": metrics[0],
        "direction": directions[0],
        "number": best.number,
        "value": best.values[0],
        "mlflow_metric": objective_key(metrics[0]),
        "params": best.params,
        "seed": best.user_attrs.get(ATTR_SEED),
        "mlflow_run_id": best.user_attrs.get(ATTR_RUN_ID),
        "mlflow_parent_run_id": study.user_attrs.get(ATTR_PARENT_RUN),
        # the task's validation scores at the trial's best epoch (and its extras: a threshold)
        "val_metrics": {
            k: v
            for k, v in recorded.items()
            if k.startswith("val_") and k.removeprefix("val_") in (*task.metrics, *task.extras)
        },
        "test_metrics": study.user_attrs.get(ATTR_TEST),
    }
    if len(directions) > 1:
        info["metrics"] = metrics
        info["directions"] = directions
        info["values"] = dict(zip(metrics, best.values, strict=False))
        info["pareto_front"] = sorted(t.number for t in study.best_trials)
    return info


def median_trial_seconds(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> float | None:
    """How long a completed trial of this study takes (the median), None before the first."""
    from optuna.trial import TrialState

    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.state == TrialState.COMPLETE and t.datetime_complete and t.datetime_start
    ]
    return statistics.median(durations) if durations else None
