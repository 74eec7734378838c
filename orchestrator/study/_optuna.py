"""The Optuna internals hpo relies on, each in one function that says why no public API serves.

Everything else in hpo uses Optuna's public API; a change of these internals breaks here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["pruner_warmup_steps", "storage_of", "trial_id_of"]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """A study's storage. Optuna offers no public accessor; hpo needs the storage's per-trial
    calls (user attributes of a trial it does not hold as an ``optuna.Trial``: a lease renewed
    from a heartbeat thread, a stale trial failed by another worker)."""
    return study._storage


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    """A trial's id in its storage, which the storage's per-trial calls take. Optuna exposes
    only the study-local ``number``, and mapping it back costs a query per call."""
    return trial._trial_id


def pruner_warmup_steps(pruner: optuna.pruners.BasePruner) -> int:
    """The steps a median or percentile pruner waits before it may prune (0 for others, which
    may prune from the first step). Optuna keeps ``n_warmup_steps`` private after construction."""
    import optuna

    if isinstance(pruner, optuna.pruners.PercentilePruner):  # MedianPruner is one
        return int(getattr(pruner, "_n_warmup_steps", 0))
    return 0
