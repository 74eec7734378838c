"""Ranking the trials of a study: objective names, Pareto fronts, and the rank of each trial.

One objective: COMPLETE trials by their value (rank 1 is the best), then PRUNED trials by their
last reported value, then the rest by number, without a rank. Several objectives: COMPLETE trials
by Pareto front (rank 1 is the Pareto front, rank 2 the front once the first is set aside, ...),
ties by the first objective; the others follow unranked.

Only numpy and Optuna, imported where used: no pandas, no matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


def objective_names(study: optuna.Study) -> list[str]:
    """The names of a study's objectives: ``hpo.metrics``, else ``hpo.metric``, else Optuna's
    metric names, else ``objective_0``, ``objective_1``, ..."""
    n = len(study.directions)
    names = study.user_attrs.get("hpo.metrics")
    if not names and n == 1 and study.user_attrs.get("hpo.metric"):
        names = [study.user_attrs["hpo.metric"]]
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


def rank_trials(
    trials: Sequence[FrozenTrial], directions: Sequence[str]
) -> list[tuple[int | None, FrozenTrial]]:
    """Trials best first, each with its rank (None for trials that are not ranked).

    One objective: COMPLETE by value, then PRUNED by their last value (ranked after them), then
    the rest by number. Several: COMPLETE by Pareto front, then by the first objective; then the
    rest by number.
    """
    from optuna.trial import TrialState

    sign = -1.0 if directions[0] == "maximize" else 1.0
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    others = [t for t in trials if t not in complete]
    if len(directions) > 1:
        fronts = pareto_ranks([t.values for t in complete], directions)
        order = sorted(
            zip(fronts, complete, strict=True),
            key=lambda ft: (ft[0], sign * ft[1].values[0], ft[1].number),
        )
        ranked: list[tuple[int | None, FrozenTrial]] = list(order)
    else:
        complete.sort(key=lambda t: (sign * t.values[0], t.number))
        ranked = [(i + 1, t) for i, t in enumerate(complete)]
        pruned = [t for t in others if t.state == TrialState.PRUNED and t.value is not None]
        pruned.sort(key=lambda t: (sign * t.value, t.number))
        ranked += [(len(ranked) + i + 1, t) for i, t in enumerate(pruned)]
        others = [t for t in others if t not in pruned]
    ranked += [(None, t) for t in sorted(others, key=lambda t: t.number)]
    return ranked
