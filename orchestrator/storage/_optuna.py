"""The Optuna internals hpo relies on, each in one function that says why no public API serves.

Everything else in hpo uses Optuna's public API; a change of these internals breaks here only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "create_trial",
    "flush_trial",
    "pruner_warmup_steps",
    "refreshed_trials",
    "set_study_system_attr",
    "set_trial_system_attr",
    "storage_of",
    "study_attr",
    "trial_attr",
    "trial_id_of",
    "unbatched",
    "vectorized_tpe_math",
    "write_trial",
]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """A study's storage. Optuna offers no public accessor; hpo needs the storage's per-trial
    calls (user attributes of a trial it does not hold as an ``optuna.Trial``: a lease renewed
    from a heartbeat thread, a stale trial failed by another worker)."""
    return study._storage


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    """A trial's id in its storage, which the storage's per-trial calls take. Optuna exposes
    only the study-local ``number``, and mapping it back costs a query per call."""
    return trial._trial_id


def study_attr(study: optuna.Study, key: str, default: Any = None) -> Any:
    """One of hpo's study attributes: a system attribute (where hpo keeps its own records, out of
    the user attributes that the dashboard lists), else a user attribute (studies written by
    earlier versions), else ``default``. Optuna's ``Study`` has no public system attributes."""
    storage = study._storage
    found = storage.get_study_system_attrs(study._study_id).get(key)
    return found if found is not None else study.user_attrs.get(key, default)


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    """Store one of hpo's own study records as a system attribute (see :func:`study_attr`);
    Optuna keeps the public setter for user attributes only."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def trial_attr(trial: FrozenTrial, key: str, default: Any = None) -> Any:
    """One of hpo's trial attributes: the system attribute, else the user attribute (trials
    written by earlier versions), else ``default``."""
    found = trial.system_attrs.get(key)
    return found if found is not None else trial.user_attrs.get(key, default)


def set_trial_system_attr(
    study: optuna.Study, trial: optuna.Trial | FrozenTrial | int, key: str, value: Any
) -> None:
    """Store one of hpo's own trial records (its resolved configuration, its worker, its lease)
    as a system attribute: ``Trial.set_system_attr`` is gone from Optuna's public API."""
    trial_id = trial if isinstance(trial, int) else trial_id_of(trial)
    storage_of(study).set_trial_system_attr(trial_id, key, value)


def pruner_warmup_steps(pruner: optuna.pruners.BasePruner) -> int:
    """The steps a median or percentile pruner waits before it may prune (0 for others, which
    may prune from the first step). Optuna keeps ``n_warmup_steps`` private after construction."""
    import optuna

    if isinstance(pruner, optuna.pruners.PercentilePruner):  # MedianPruner is one
        return int(getattr(pruner, "_n_warmup_steps", 0))
    return 0


def unbatched(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage under a run's batching wrapper (writes that must land at once: a lease)."""
    storage = study._storage
    return getattr(storage, "inner", storage)


def create_trial(storage: optuna.storages.BaseStorage, study_id: int) -> FrozenTrial:
    """A new RUNNING trial and its record as created: the trial's number and id come back from
    the one transaction that creates it. Optuna's public ``create_new_trial`` returns the id
    only, and reading the trial back would cost a query per trial on a database."""
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)  # _CachedStorage wraps an RDBStorage
    if isinstance(backend, RDBStorage):
        from orchestrator.storage._rdb import create_rdb_trial

        # the cache of _CachedStorage learns of it at its next read: trials newer than the last
        # finished one it read are always read again
        return create_rdb_trial(backend, study_id)
    return storage.get_trial(storage.create_new_trial(study_id))


def write_trial(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    *,
    params: Mapping[str, tuple[float, BaseDistribution]],
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
    intermediate: Mapping[int, float],
    state: TrialState | None = None,
    values: Sequence[float] | None = None,
) -> None:
    """Write a trial's parameters, attributes, intermediate values and (optionally) its state
    and values: in ONE transaction on an RDB storage, through Optuna's own per-item writers
    (``_set_*_without_commit``) in a session of its own; Optuna's public API has a transaction
    per item, and no batch write but ``create_new_trial``'s template, which only a new trial
    can use. On a journal file, in ONE append (:func:`_write_journal`). Other storages get the
    public calls, one by one.
    """
    from optuna.storages import JournalStorage, RDBStorage

    if isinstance(storage, JournalStorage):
        end = (state, values) if state is not None and state.is_finished() else None
        _write_journal(storage, trial_id, params, user_attrs, system_attrs, intermediate, end)
        if state is not None and end is None:  # not an end (a trial set running): as Optuna does
            storage.set_trial_state_values(trial_id, state, values)
        return
    backend = getattr(storage, "_backend", storage)  # _CachedStorage wraps an RDBStorage
    if not isinstance(backend, RDBStorage):
        for name, (internal, distribution) in params.items():
            storage.set_trial_param(trial_id, name, internal, distribution)
        for key, value in system_attrs.items():
            storage.set_trial_system_attr(trial_id, key, value)
        for key, value in user_attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        for step, value in intermediate.items():
            storage.set_trial_intermediate_value(trial_id, step, value)
        if state is not None:
            storage.set_trial_state_values(trial_id, state, values)
        return
    from orchestrator.storage._rdb import write_rdb

    write_rdb(backend, trial_id, params, user_attrs, system_attrs, intermediate, state, values)


def _write_journal(
    storage: optuna.storages.JournalStorage,
    trial_id: int,
    params: Mapping[str, tuple[float, BaseDistribution]],
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
    intermediate: Mapping[int, float],
    end: tuple[TrialState, Sequence[float] | None] | None,
) -> None:
    """The records Optuna's ``JournalStorage`` would append one call at a time (each call takes
    the file's lock, appends one line and syncs it to disk: about 1 ms, some 30 per trial),
    appended together under one lock, then read back once. The records are Optuna's own, so
    every reader replays them as if written one by one; a trial that another process finished
    meanwhile is refused with Optuna's own error, once.
    """
    import datetime

    from optuna.distributions import distribution_to_json
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages.journal._storage import JournalOperation as Op

    records: list[tuple[int, dict[str, Any]]] = [
        (
            Op.SET_TRIAL_PARAM,
            {
                "param_name": name,
                "param_value_internal": internal,
                "distribution": distribution_to_json(distribution),
            },
        )
        for name, (internal, distribution) in params.items()
    ]
    records += [
        (Op.SET_TRIAL_SYSTEM_ATTR, {"system_attr": {k: v}}) for k, v in system_attrs.items()
    ]
    records += [(Op.SET_TRIAL_USER_ATTR, {"user_attr": {k: v}}) for k, v in user_attrs.items()]
    records += [
        (Op.SET_TRIAL_INTERMEDIATE_VALUE, {"step": step, "intermediate_value": value})
        for step, value in intermediate.items()
    ]
    if end is not None:  # a finished state: stamped as Optuna stamps it
        now = datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="microseconds")
        values = list(end[1]) if end[1] is not None else None
        records.append(
            (
                Op.SET_TRIAL_STATE_VALUES,
                {"state": end[0], "values": values, "datetime_complete": now},
            )
        )
    if not records:
        return
    with storage._thread_lock:
        worker = storage._replay_result.worker_id
        storage._backend.append_logs(
            [{"op_code": op, "worker_id": worker, "trial_id": trial_id, **f} for op, f in records]
        )
        refused: Exception | None = None
        while True:  # a refused record stops the replay there: replay the rest, raise once
            try:
                storage._sync_with_backend()
                break
            except (KeyError, UpdateFinishedTrialError) as exc:
                refused = refused or exc
        if refused is not None:
            raise refused


def refreshed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials, read now; under a run's batching storage they also serve every read
    of the study until the next refresh (the sampler's, the pruner's, the loop's)."""
    storage = study._storage
    refresh = getattr(storage, "refresh", None)
    if refresh is None:
        return study.get_trials(deepcopy=False)
    return refresh(study._study_id)


def flush_trial(study: optuna.Study, trial: optuna.Trial) -> None:
    """Send the writes a run's batching storage gathered for ``trial`` (before training)."""
    flush = getattr(study._storage, "flush", None)
    if flush is not None:
        flush(trial_id_of(trial))


def vectorized_tpe_math() -> bool:
    """Have the TPE sampler compute log Φ (the log of the normal CDF) with SciPy's vectorised
    ``scipy.special.log_ndtr``; True when it does.

    TPE weighs every candidate against every past trial through truncated normals, whose masses
    need log Φ. Optuna computes it element by element in Python (``np.frompyfunc`` over a cached
    scalar function, ``optuna.samplers._tpe._truncnorm._log_ndtr``) so that TPE does not need
    SciPy, and at 2,000 trials that is about 40% of a trial's sampling time (upstream: optuna
    issue #5478, open). SciPy is installed with scikit-learn. The two agree to 1e-12 and the
    samples to rounding (tested). No public option selects it; the function is replaced, once, for
    the process. Without SciPy, or where Optuna no longer has the function, TPE is left as is.
    """
    try:
        import numpy as np
        from optuna.samplers._tpe import _truncnorm
        from scipy.special import log_ndtr
    except ImportError:
        return False
    current = getattr(_truncnorm, "_log_ndtr", None)
    if current is None:
        return False
    if getattr(current, "vectorized", False):
        return True

    def _log_ndtr(a: Any) -> Any:
        return log_ndtr(np.asarray(a, dtype=float))

    _log_ndtr.vectorized = True  # type: ignore[attr-defined]
    _log_ndtr.replaced = current  # type: ignore[attr-defined]
    _truncnorm._log_ndtr = _log_ndtr
    return True
