"""The leaderboard: a study's trials ranked into a pandas DataFrame, one row per trial, and that
frame written as a table, CSV, JSON or Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import ConfigError
from orchestrator.names import REPORT_FORMATS, TRIAL_STATES
from orchestrator.report._data import (
    VAL_METRICS,
    StudyData,
    _duration,
    _epochs_run,
    _param_names,
    _val_metrics,
)
from orchestrator.report._ranking import rank_trials

if TYPE_CHECKING:
    import pandas as pd


Format = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[str, ...] = REPORT_FORMATS
STATES = TRIAL_STATES


def leaderboard(
    data: StudyData, *, top: int | None = None, states: Sequence[str] | None = None
) -> pd.DataFrame:
    """The trials of ``data`` ranked (see :func:`rank_trials`), one row each.

    Columns: ``rank``, ``trial``, ``state``, the objective (``objective``; with several,
    ``objective.<name>`` each and ``pareto``), the best epoch's ``val_*`` metrics, ``best_epoch``,
    ``epochs``, ``n_parameters``, ``duration_s``, every sampled parameter as ``params.<name>``,
    ``fail_reason`` and ``mlflow_run_id``.

    Args:
        data: from :func:`load_study_data`.
        top: keep the first ``top`` rows (after the state filter).
        states: keep trials in these states (COMPLETE, PRUNED, FAIL, RUNNING, WAITING).
    """
    import pandas as pd

    ranked = rank_trials(data.trials, data.directions)
    if states:
        wanted = {s.upper() for s in states}
        ranked = [(r, t) for r, t in ranked if t.state.name in wanted]
    if top is not None:
        ranked = ranked[:top]
    param_names = _param_names(data.trials)
    multi = data.is_multi_objective
    rows = []
    for rank, trial in ranked:
        row: dict[str, Any] = {"rank": rank, "trial": trial.number, "state": trial.state.name}
        if multi:
            for i, metric in enumerate(data.metrics):
                row[f"objective.{metric}"] = trial.values[i] if trial.values else None
            row["pareto"] = bool(rank == 1 and trial.state.name == "COMPLETE")
        else:
            row["objective"] = trial.value
        row.update({k: None for k in VAL_METRICS})
        row.update(_val_metrics(data, trial))
        row["best_epoch"] = trial.user_attrs.get("best_epoch")
        row["epochs"] = _epochs_run(trial, data.cached_histories(trial))
        row["n_parameters"] = trial.user_attrs.get("n_parameters")
        row["duration_s"] = _duration(trial)
        row.update({f"params.{p}": trial.params.get(p) for p in param_names})
        row["fail_reason"] = trial.user_attrs.get("fail_reason")
        row["mlflow_run_id"] = trial.user_attrs.get("mlflow_run_id")
        rows.append(row)
    columns = ["rank", "trial", "state"]
    if multi:
        columns += [f"objective.{m}" for m in data.metrics] + ["pareto"]
    else:
        columns += ["objective"]
    columns += [*VAL_METRICS, "best_epoch", "epochs", "n_parameters", "duration_s"]
    columns += [f"params.{p}" for p in param_names] + ["fail_reason", "mlflow_run_id"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rank", "best_epoch", "epochs", "n_parameters"):
        frame[column] = frame[column].astype("Int64")
    for column in columns:
        if column.startswith("params."):  # as sampled: an int stays an int beside missing values
            frame[column] = pd.Series([row[column] for row in rows], dtype=object)
    return frame


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """For reading (table, Markdown, HTML): empty columns dropped, numbers rounded, blanks as -."""
    shown = frame.dropna(axis=1, how="all").copy()
    for column in shown.columns:
        shown[column] = shown[column].map(lambda v, c=column: _cell(c, v))
    return shown


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        import pandas as pd

        if value is pd.NA:
            return "-"
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, bool):
        return ("yes" if value else "") if column == "pareto" else str(value).lower()
    if isinstance(value, float):
        if column == "duration_s":
            return f"{value:.1f}"
        if column.startswith("params."):
            return f"{value:.4g}"
        return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.4f}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_leaderboard(frame: pd.DataFrame, fmt: Format = "table") -> str:
    """The leaderboard as text: ``table`` and ``markdown`` for reading (empty columns dropped,
    numbers rounded), ``csv`` and ``json`` for programs (every column, full precision).

    Raises:
        ConfigError: an unknown format.
    """
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2) + "\n"
    if fmt not in ("table", "markdown"):
        raise ConfigError(f"--format: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if frame.empty:
        return "(no trials)\n"
    shown = _display(frame)
    if fmt == "table":
        return shown.to_string(index=False) + "\n"
    header = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"
