"""Ranking the trials of a study: objective names, Pareto fronts, the rank of each trial and the
best trial (the one implementation of each, used by the run, the report, retrain and warm starts).

One objective: COMPLETE trials by their value (rank 1 is the best), then PRUNED trials by their
last reported value, then the rest by number, without a rank. A trial pruned at its last epoch
(pruned at the last rung: it spent the whole budget of a complete one; hpo no longer prunes
there, other tools and older studies did) ranks among the COMPLETE trials by its value. Several
objectives: COMPLETE trials by Pareto front (rank 1 is the Pareto front, rank 2 the front once
the first is set aside, ...), ties by the first objective; the others follow unranked.

Only numpy and Optuna, imported where used: no pandas, no matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.storage._optuna import study_attr, trial_attr
from orchestrator.study._attrs import ATTR_CONFIG, ATTR_METRIC, ATTR_METRICS

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "best_trial",
    "directions_of",
    "objective_names",
    "pareto_ranks",
    "pruned_at_last_epoch",
    "rank_trials",
]


def objective_names(study: optuna.Study) -> list[str]:
    """The names of a study's objectives: ``hpo.metrics``, else ``hpo.metric``, else Optuna's
    metric names, else ``objective_0``, ``objective_1``, ..."""
    n = len(study.directions)
    names = study_attr(study, ATTR_METRICS)
    if not names and n == 1:
        names = [metric] if (metric := study_attr(study, ATTR_METRIC)) else None
    if not names:
        names = study.metric_names
    names = [str(m) for m in names or []]
    if len(names) != n:
        names = [f"objective_{i}" for i in range(n)]
    return names


def pareto_ranks(values: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Non-dominated sorting: 1 for the Pareto front, 2 for the front once it is set aside, ...

    A point dominates another when it is at least as good on every objective and better on one;
    equal points share a front.
    """
    import numpy as np

    if not len(values):
        return []
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = np.asarray(values, dtype=float) * signs  # everything minimised from here on
    ranks = np.zeros(len(points), dtype=int)
    remaining = np.arange(len(points))
    rank = 0
    while remaining.size:
        rank += 1
        p = points[remaining]
        no_worse = (p[:, None, :] <= p[None, :, :]).all(axis=2)  # [j, i]: j no worse than i
        better = (p[:, None, :] < p[None, :, :]).any(axis=2)
        dominated = (no_worse & better).any(axis=0)
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
    return ranks.tolist()


def pruned_at_last_epoch(trial: FrozenTrial) -> bool:
    """Whether a PRUNED trial was pruned after its last epoch (its configuration's epochs, times
    its folds under cross-validation, all reported)."""
    from optuna.trial import TrialState

    if trial.state != TrialState.PRUNED or not trial.intermediate_values:
        return False
    config = trial_attr(trial, ATTR_CONFIG) or {}
    try:
        epochs = int(config["train"]["epochs"]) * int(config["data"].get("cv") or 1)
    except (KeyError, TypeError, ValueError):
        return False
    return max(trial.intermediate_values) >= epochs


def rank_trials(
    trials: Sequence[FrozenTrial], directions: Sequence[str]
) -> list[tuple[int | None, FrozenTrial]]:
    """Trials best first, each with its rank (None for trials that are not ranked).

    One objective: COMPLETE (and PRUNED at their last epoch) by value, then PRUNED by their last
    value (ranked after them), then the rest by number. Several: COMPLETE by Pareto front, then
    by the first objective; then the rest by number.
    """
    from optuna.trial import TrialState

    sign = -1.0 if directions[0] == "maximize" else 1.0

    def is_complete(t: FrozenTrial) -> bool:
        return t.state == TrialState.COMPLETE and bool(t.values)

    def ran_to_the_end(t: FrozenTrial) -> bool:
        return t.value is not None and pruned_at_last_epoch(t)

    def is_pruned(t: FrozenTrial) -> bool:
        return t.state == TrialState.PRUNED and t.value is not None

    # by state, not `t in list`: FrozenTrial compares field by field, and a study has thousands
    complete = [t for t in trials if is_complete(t)]
    others = [t for t in trials if not is_complete(t)]
    if len(directions) > 1:
        fronts = pareto_ranks([t.values for t in complete], directions)
        order = sorted(
            zip(fronts, complete, strict=True),
            key=lambda ft: (ft[0], sign * ft[1].values[0], ft[1].number),
        )
        ranked: list[tuple[int | None, FrozenTrial]] = list(order)
    else:
        full = complete + [t for t in others if ran_to_the_end(t)]
        others = [t for t in others if not ran_to_the_end(t)]
        full.sort(key=lambda t: (sign * t.values[0], t.number))
        ranked = [(i + 1, t) for i, t in enumerate(full)]
        pruned = [t for t in others if is_pruned(t)]
        pruned.sort(key=lambda t: (sign * t.value, t.number))
        ranked += [(len(ranked) + i + 1, t) for i, t in enumerate(pruned)]
        others = [t for t in others if not is_pruned(t)]
    ranked += [(None, t) for t in sorted(others, key=lambda t: t.number)]
    return ranked


def directions_of(study: optuna.Study) -> list[str]:
    """``["maximize"]``, ``["minimize", "minimize"]``: a study's directions in hpo's words."""
    return [d.name.lower() for d in study.directions]


def best_trial(
    study: optuna.Study, trials: Sequence[FrozenTrial] | None = None
) -> FrozenTrial | None:
    """The best trial: rank 1 of :func:`rank_trials` (for several objectives, the Pareto trial
    best on the first objective); None before any trial completed.

    ``trials``: the study's trials if just read (no other storage read then).
    """
    from optuna.trial import TrialState

    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    directions = directions_of(study)
    if len(directions) == 1:  # rank 1 without ranking the rest: once per trial of a run
        sign = -1.0 if directions[0] == "maximize" else 1.0
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
        return min(complete, key=lambda t: (sign * t.values[0], t.number), default=None)
    ranked = rank_trials(trials, directions)
    if ranked and ranked[0][0] == 1 and ranked[0][1].state == TrialState.COMPLETE:
        return ranked[0][1]
    return None
