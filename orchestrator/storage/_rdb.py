"""Optuna's RDB storage (SQLAlchemy over PostgreSQL, MySQL or SQLite) at the level of its tables:
a new trial in one short transaction (:func:`create_rdb_trial`), the writes of one trial in one
transaction (:func:`write_rdb`), and a study's trials read again only where they may have changed
(:class:`TrialReader`).

Optuna's ``RDBStorage`` has a transaction per stored item; what is here uses its own models and
checks, so that what it writes is what Optuna would have written item by item.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["TrialReader", "create_rdb_trial", "write_rdb"]


def write_rdb(
    backend: optuna.storages.RDBStorage,
    trial_id: int,
    params: Mapping[str, tuple[float, BaseDistribution]],
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
    intermediate: Mapping[int, float],
    state: TrialState | None,
    values: Sequence[float] | None,
) -> None:
    """One transaction: the trial row locked and its state checked as Optuna checks it, then
    one statement per table with rows to write (inserted, or updated where the trial has them
    already; all rows of a table in one round trip), then its state.

    The statements are built once per database dialect (:func:`_statements`) and take their
    rows as parameters, so SQLAlchemy compiles each once per process: building and compiling
    them per write was most of a write's time (about 7 of 10 ms on PostgreSQL).
    """
    import datetime
    import json

    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    value_row = models.TrialValueModel.value_to_stored_repr
    step_row = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr
    rows = {
        "trial_params": [
            {
                "trial_id": trial_id,
                "param_name": name,
                "param_value": internal,
                "distribution_json": distribution_to_json(distribution),
            }
            for name, (internal, distribution) in params.items()
        ],
        "trial_user_attributes": [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in user_attrs.items()
        ],
        "trial_system_attributes": [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in system_attrs.items()
        ],
        "trial_intermediate_values": [
            {
                "trial_id": trial_id,
                "step": step,
                **dict(
                    zip(
                        ("intermediate_value", "intermediate_value_type"),
                        step_row(value),
                        strict=True,
                    )
                ),
            }
            for step, value in intermediate.items()
        ],
        "trial_values": [
            {
                "trial_id": trial_id,
                "objective": objective,
                **dict(zip(("value", "value_type"), value_row(value), strict=True)),
            }
            for objective, value in enumerate(values or ())
        ],
    }
    with _create_scoped_session(backend.scoped_session, True) as session:
        statements = _statements(session.get_bind().dialect.name)
        found = session.execute(statements["lock"], {"trial_id": trial_id}).first()
        if found is None:
            raise KeyError(models.NOT_FOUND_MSG)
        backend.check_trial_is_updatable(trial_id, found.state)
        for table, table_rows in rows.items():
            if table_rows:
                session.execute(statements[table], table_rows)
        if state is not None:
            complete = datetime.datetime.now() if state.is_finished() else None
            session.execute(
                statements["state"],
                {"id": trial_id, "new_state": state, "complete": complete},
            )


def create_rdb_trial(backend: optuna.storages.RDBStorage, study_id: int) -> FrozenTrial:
    """A new RUNNING trial, as Optuna's ``RDBStorage._create_new_trial`` makes one (the study's
    row locked, the trial inserted, numbered by the trials before it), in core statements built
    once (:func:`_statements`) rather than through the ORM: half the time on PostgreSQL."""
    import datetime

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import FrozenTrial, TrialState

    start = datetime.datetime.now()
    with _create_scoped_session(backend.scoped_session) as session:
        statements = _statements(session.get_bind().dialect.name)
        if session.execute(statements["study"], {"study": study_id}).first() is None:
            raise KeyError(models.NOT_FOUND_MSG)
        inserted = session.execute(
            statements["insert"],
            {"study_id": study_id, "state": TrialState.RUNNING, "datetime_start": start},
        )
        trial_id = inserted.inserted_primary_key[0]
        number = session.execute(statements["count"], {"study": study_id, "id": trial_id})
        number = number.scalar_one()
        session.execute(statements["number"], {"id": trial_id, "new_number": number})
    return FrozenTrial(
        number=number,
        state=TrialState.RUNNING,
        value=None,
        values=None,
        datetime_start=start,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


class TrialReader:
    """A study's trials on an RDB storage, read again only where they may have changed.

    Optuna's ``_CachedStorage`` reads again, at every read, every trial newer than the last
    finished one it saw and every unfinished one, each in full: 7 SELECTs per read, including
    the trial this process just ended, whose every row it wrote itself. This reader first asks
    the database which of those trials exist and in which state (one SELECT of two columns),
    takes the trials this process ended from what it wrote (``ended``), and reads in full only
    the others: none, while one worker runs the study. Finished trials never change (Optuna
    refuses every write to them), so a finished trial once read is never read again. One
    difference with the stored trial: the lease that the heartbeat renews directly in the
    database (``hpo.lease``) stays as claimed in a trial this process ended; only running
    trials' leases are ever read.
    """

    def __init__(self, backend: optuna.storages.RDBStorage) -> None:
        self._backend = backend
        self._studies: dict[int, dict[int, FrozenTrial]] = {}  # study id -> trial id -> trial

    def read(self, study_id: int, ended: Mapping[int, FrozenTrial]) -> list[FrozenTrial]:
        """The study's trials by number; ``ended``: trials this process ended since the last
        read, by trial id, as it wrote them."""
        from optuna.storages._rdb.storage import _create_scoped_session

        known = self._studies.setdefault(study_id, {})
        unfinished = [i for i, t in known.items() if not t.state.is_finished()]
        # new trials are those above the highest id known: trials are created one at a time per
        # study (the study's row is locked until the creating transaction commits, by Optuna as
        # by create_rdb_trial), so a trial seen implies every trial of a lower id is seen too
        with _create_scoped_session(self._backend.scoped_session) as session:
            statements = _statements(session.get_bind().dialect.name)
            rows = session.execute(
                statements["changed"],
                {"study": study_id, "last": max(known, default=-1), "open": unfinished},
            ).all()
        full = set()
        for trial_id, state in rows:
            mine = ended.get(trial_id)
            if mine is not None and mine.state == state:
                known[trial_id] = mine
            else:
                full.add(trial_id)
        if full:
            # the trials asked for, and any created since the SELECT above
            read = self._backend._get_trials(study_id, None, full, max(full))
            known.update((trial._trial_id, trial) for trial in read)
        return sorted(known.values(), key=lambda t: t.number)


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The statements of :func:`write_rdb` for one database dialect, built once: the trial's
    row read for update, an upsert per table (INSERT ... ON CONFLICT DO UPDATE, or MySQL's ON
    DUPLICATE KEY UPDATE) and the update of its state."""
    import sqlalchemy
    from optuna.storages._rdb import models
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    trials = models.TrialModel.__table__
    keys = {
        "trial_params": ("trial_id", "param_name"),
        "trial_user_attributes": ("trial_id", "key"),
        "trial_system_attributes": ("trial_id", "key"),
        "trial_intermediate_values": ("trial_id", "step"),
        "trial_values": ("trial_id", "objective"),
    }
    studies = models.StudyModel.__table__
    trial_id, study_id = trials.c.trial_id, trials.c.study_id
    statements: dict[str, Any] = {
        "study": sqlalchemy.select(studies.c.study_id)
        .where(studies.c.study_id == sqlalchemy.bindparam("study"))
        .with_for_update(),
        "insert": trials.insert(),
        "count": sqlalchemy.select(sqlalchemy.func.count(trial_id)).where(
            study_id == sqlalchemy.bindparam("study"), trial_id < sqlalchemy.bindparam("id")
        ),
        "number": trials.update()
        .where(trial_id == sqlalchemy.bindparam("id"))
        .values(number=sqlalchemy.bindparam("new_number")),
        "changed": sqlalchemy.select(trial_id, trials.c.state).where(
            study_id == sqlalchemy.bindparam("study"),
            sqlalchemy.or_(
                trial_id > sqlalchemy.bindparam("last"),
                trial_id.in_(sqlalchemy.bindparam("open", expanding=True)),
            ),
        ),
        "lock": sqlalchemy.select(trials.c.state)
        .where(trials.c.trial_id == sqlalchemy.bindparam("trial_id"))
        .with_for_update(),
        "state": trials.update()
        .where(trials.c.trial_id == sqlalchemy.bindparam("id"))
        .values(
            state=sqlalchemy.bindparam("new_state", type_=trials.c.state.type),
            datetime_complete=sqlalchemy.bindparam(
                "complete", type_=trials.c.datetime_complete.type
            ),
        ),
    }
    for name, key in keys.items():
        table = models.BaseModel.metadata.tables[name]
        columns = [c.name for c in table.columns if c.name not in key and not c.primary_key]
        if dialect == "mysql":
            stmt = mysql.insert(table)
            statements[name] = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
            continue
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        statements[name] = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in columns}
        )
    return statements
