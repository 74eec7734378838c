"""A trial's storage writes, gathered and sent together: :class:`BatchingStorage`.

Optuna writes every suggested parameter, every reported epoch and every trial attribute in a
storage call of its own: on PostgreSQL, a transaction each, dozens per trial. A run's study sits
on this wrapper instead, which gathers the writes of the trials this process runs and sends them
at two points: when the trial is set up (its parameters, the sampler's state, hpo's attributes:
:meth:`BatchingStorage.flush`, before training starts) and when it ends (its intermediate values,
result attributes, state and values, with :meth:`set_trial_state_values`). Reads of such a trial
see the gathered writes.

The study's trials are read once per trial of the loop (:meth:`refresh`); the sampler, the pruner
and the loop's own bookkeeping read that snapshot, to which the trials this process ends are
added as they end. What other workers do meanwhile is seen at the next refresh.

Everything else passes through to the storage underneath, unchanged.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage, RDBStorage

from orchestrator.storage._optuna import create_trial, trial_id_of, write_trial
from orchestrator.storage._rdb import TrialReader

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import StudyDirection
    from optuna.study._frozen import FrozenStudy
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["BatchingStorage"]

STUDY_ATTRS_SECONDS = 5.0  # the study's user attributes (its budget) are read again after this


@dataclass
class _Pending:
    """The writes of one trial of this process not yet sent, and the trial as last read."""

    study_id: int
    base: FrozenTrial | None = None
    params: dict[str, tuple[float, BaseDistribution]] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    shown: FrozenTrial | None = None  # the last shared view, None once a write changed it

    def empty(self) -> bool:
        return not (self.params or self.user_attrs or self.system_attrs or self.intermediate)

    def view(self) -> FrozenTrial:
        """The trial with the gathered writes applied: a new object the caller may change."""
        assert self.base is not None
        trial = copy.deepcopy(self.base)
        for name, (internal, distribution) in self.params.items():
            trial.params[name] = distribution.to_external_repr(internal)
            trial.distributions[name] = distribution
        trial.user_attrs.update(self.user_attrs)
        trial.system_attrs.update(self.system_attrs)
        trial.intermediate_values.update(self.intermediate)
        return trial

    def shared_view(self) -> FrozenTrial:
        """:meth:`view`, one object until the next write (for reads that change nothing)."""
        if self.shown is None:
            self.shown = self.view()
        return self.shown

    def put(self, bucket: str, key: Any, value: Any) -> None:
        getattr(self, bucket)[key] = value
        self.shown = None

    def clear(self) -> None:
        assert self.base is not None
        self.base = self.view()
        self.shown = None
        self.params.clear()
        self.user_attrs.clear()
        self.system_attrs.clear()
        self.intermediate.clear()


class BatchingStorage(BaseStorage):
    """Wraps an Optuna storage: the trials created (or taken from the queue) through it have
    their writes gathered until :meth:`flush` or their end, and study reads can be served from
    one snapshot (see the module's docstring)."""

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner
        self._lock = threading.RLock()
        self._active: dict[int, _Pending] = {}
        self._ended: dict[int, FrozenTrial] = {}  # trials of this process, as they ended
        self._snapshot: dict[int, list[FrozenTrial]] = {}  # study id -> its trials, as read
        self._study_attrs: dict[int, tuple[float, dict[str, Any]]] = {}
        # study id -> (a list of its trials, trial id -> index in it): see _positions
        self._indexed: dict[int, tuple[list[FrozenTrial], dict[int, int]]] = {}
        backend = getattr(inner, "_backend", inner)  # _CachedStorage wraps an RDBStorage
        self._reader = TrialReader(backend) if isinstance(backend, RDBStorage) else None

    # --- the study: passed through (its user attributes read at most every few seconds) ---------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return self.inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self.inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._study_attrs.pop(study_id, None)
        self.inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        read = self._study_attrs.get(study_id)
        if read is None or time.monotonic() - read[0] > STUDY_ATTRS_SECONDS:
            read = (time.monotonic(), self.inner.get_study_user_attrs(study_id))
            self._study_attrs[study_id] = read
        return dict(read[1])

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.inner.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self.inner.get_all_studies()

    # --- trials -------------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is not None:  # a trial queued or added, not one asked for
            return self.inner.create_new_trial(study_id, template_trial)
        created = create_trial(self.inner, study_id)
        with self._lock:
            self._active[trial_id_of(created)] = _Pending(study_id, base=created)
        return trial_id_of(created)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        with self._lock:
            pending = self._active.get(trial_id)
        if pending is None:
            taken = self.inner.set_trial_state_values(trial_id, state, values)
            if taken and state == TrialState.RUNNING:  # a queued trial this process now runs
                owners = [s for s, ts in self._snapshot.items() if trial_id in map(trial_id_of, ts)]
                study_id = owners[0] if owners else None
                if study_id is not None:
                    with self._lock:
                        self._active[trial_id] = _Pending(study_id)
            return taken
        try:
            self._send(trial_id, pending, state=state, values=values)
        except UpdateFinishedTrialError:
            # finished elsewhere (failed as stale by another worker): no longer this process's
            # to write, nor to show as it last had it
            with self._lock:
                self._active.pop(trial_id, None)
            raise
        if state.is_finished():
            with self._lock:
                self._active.pop(trial_id, None)
                self._record_end(pending, state, values)
        return True

    def _record_end(
        self, pending: _Pending, state: TrialState, values: Sequence[float] | None
    ) -> None:
        if pending.base is None:
            return
        trial = pending.view()
        trial.state = state
        trial.values = list(values) if values is not None else None
        trial.datetime_complete = datetime.datetime.now()
        self._ended[trial_id_of(trial)] = trial
        trials = self._snapshot.get(pending.study_id)
        if trials is not None:
            self._snapshot[pending.study_id] = [
                t for t in trials if trial_id_of(t) != trial_id_of(trial)
            ] + [trial]

    def flush(self, trial_id: int) -> None:
        """Send the writes gathered for ``trial_id`` in one go (a transaction on a database)."""
        with self._lock:
            pending = self._active.get(trial_id)
        if pending is None or pending.empty():
            return
        if pending.base is None:
            pending.base = self.inner.get_trial(trial_id)
        self._send(trial_id, pending)
        with self._lock:
            pending.clear()

    def _send(self, trial_id: int, pending: _Pending, **end: Any) -> None:
        write_trial(
            self.inner,
            trial_id,
            params=pending.params,
            user_attrs=pending.user_attrs,
            system_attrs=pending.system_attrs,
            intermediate=pending.intermediate,
            **end,
        )

    def _gather(self, trial_id: int, bucket: str, key: Any, value: Any, now: Any) -> None:
        """Keep a write of a trial of this process in ``bucket``; any other trial's: ``now()``."""
        pending = self._active.get(trial_id)
        if pending is None:
            now()
        else:
            pending.put(bucket, key, value)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        value = (param_value_internal, distribution)
        self._gather(
            trial_id,
            "params",
            param_name,
            value,
            lambda: self.inner.set_trial_param(trial_id, param_name, *value),
        )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        write = self.inner.set_trial_intermediate_value
        now = lambda: write(trial_id, step, intermediate_value)  # noqa: E731
        self._gather(trial_id, "intermediate", step, intermediate_value, now)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        now = lambda: self.inner.set_trial_user_attr(trial_id, key, value)  # noqa: E731
        self._gather(trial_id, "user_attrs", key, value, now)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        now = lambda: self.inner.set_trial_system_attr(trial_id, key, value)  # noqa: E731
        self._gather(trial_id, "system_attrs", key, value, now)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            pending = self._active.get(trial_id)
            ended = self._ended.get(trial_id)
        if ended is not None:
            return copy.deepcopy(ended)
        if pending is None:
            return self.inner.get_trial(trial_id)
        if pending.base is None:
            pending.base = self.inner.get_trial(trial_id)
        return pending.view()

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        for trial in self._snapshot.get(study_id, ()):
            if trial.number == trial_number:
                return trial_id_of(trial)
        return self.inner.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials = self._snapshot.get(study_id)
        if trials is None:
            trials = self.inner.get_all_trials(study_id, deepcopy=False)
        with self._lock:
            active = {
                i: p
                for i, p in self._active.items()
                if p.base is not None and p.study_id == study_id
            }
        if active:
            positions = self._positions(study_id, trials)
            trials = list(trials)
            created = []  # trials this process created after the snapshot was read
            for i, p in active.items():
                at = positions.get(i)
                if at is None:
                    created.append(p.shared_view())
                else:
                    trials[at] = p.shared_view()
            trials += sorted(created, key=lambda t: t.number)
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else list(trials)

    def _positions(self, study_id: int, trials: list[FrozenTrial]) -> dict[int, int]:
        """Trial id -> index in ``trials``, worked out once per snapshot."""
        known = self._indexed.get(study_id)
        if known is None or known[0] is not trials:
            known = (trials, {trial_id_of(t): at for at, t in enumerate(trials)})
            self._indexed[study_id] = known
        return known[1]

    def refresh(self, study_id: int) -> list[FrozenTrial]:
        """Read the study's trials now; they serve every study read until the next refresh.
        On a database, only the trials that may have changed are read (:class:`TrialReader`)."""
        if self._reader is not None:
            self._snapshot[study_id] = self._reader.read(study_id, self._ended)
        else:
            trials = self.inner.get_all_trials(study_id, deepcopy=False)
            self._snapshot[study_id] = sorted(trials, key=lambda t: t.number)
        self._ended.clear()
        return self.get_all_trials(study_id, deepcopy=False)
