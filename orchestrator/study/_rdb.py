"""Optuna's RDB storage (SQLAlchemy over PostgreSQL, MySQL or SQLite) at the level of its tables:
the writes of one trial in one transaction (:func:`write_rdb`).

Optuna's ``RDBStorage`` has a transaction per stored item; what is here uses its own models and
checks, so that what it writes is what Optuna would have written item by item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import TrialState

__all__ = ["write_rdb"]


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
    """One transaction: the trial row locked and checked, then one statement per table (rows
    inserted, or updated where the trial has them already), then its state."""
    import datetime
    import json

    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    value_row = models.TrialValueModel.value_to_stored_repr
    step_row = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr
    with _create_scoped_session(backend.scoped_session, True) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        backend.check_trial_is_updatable(trial_id, trial.state)
        tables = [
            (
                models.TrialParamModel,
                ("trial_id", "param_name"),
                [
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": internal,
                        "distribution_json": distribution_to_json(distribution),
                    }
                    for name, (internal, distribution) in params.items()
                ],
            ),
            *(
                (
                    model,
                    ("trial_id", "key"),
                    [
                        {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                        for key, value in attrs.items()
                    ],
                )
                for model, attrs in (
                    (models.TrialUserAttributeModel, user_attrs),
                    (models.TrialSystemAttributeModel, system_attrs),
                )
            ),
            (
                models.TrialIntermediateValueModel,
                ("trial_id", "step"),
                [
                    dict(
                        zip(
                            ("intermediate_value", "intermediate_value_type"),
                            step_row(value),
                            strict=True,
                        ),
                        trial_id=trial_id,
                        step=step,
                    )
                    for step, value in intermediate.items()
                ],
            ),
            (
                models.TrialValueModel,
                ("trial_id", "objective"),
                [
                    dict(
                        zip(("value", "value_type"), value_row(value), strict=True),
                        trial_id=trial_id,
                        objective=objective,
                    )
                    for objective, value in enumerate(values or ())
                ],
            ),
        ]
        for model, keys, rows in tables:
            if rows:
                session.execute(_upsert(session, model, keys, rows))
        if state is not None:
            trial.state = state
            if state.is_finished():
                trial.datetime_complete = datetime.datetime.now()


def _upsert(session: Any, model: Any, keys: Sequence[str], rows: list[dict[str, Any]]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE in the database's own words, for many rows."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    dialect = session.get_bind().dialect.name
    columns = [c for c in rows[0] if c not in keys]
    if dialect == "mysql":
        stmt = mysql.insert(model).values(rows)
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
    )
