"""The leaderboard: a study's trials ranked into a pandas DataFrame, one row per trial, and that
frame written as a table, CSV, JSON or Markdown.

The terminal table is the short form: by default the rank, the trial, its state, the objective(s)
and the parameters that vary, with abbreviated headers and values, cut to the terminal's width;
CSV and JSON hold every column at full precision.
"""

from __future__ import annotations

import json
import math
import numbers
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import ConfigError, closest
from orchestrator.names import REPORT_FORMATS, TRIAL_STATES
from orchestrator.numbers import fmt_number
from orchestrator.report._data import (
    StudyData,
    _duration,
    _epochs_run,
    _val_metrics,
    recorded_metrics,
)
from orchestrator.report._ranking import rank_trials

if TYPE_CHECKING:
    import pandas as pd


Format = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[str, ...] = REPORT_FORMATS
STATES = TRIAL_STATES
NOT_APPLICABLE = "n/a"  # a parameter its trial did not sample (a branch not taken)
HEADER_WIDTH = 15  # the last part of a terminal table's header, at most (label_smoothing)
PREFIX_WIDTH = 10  # its leading parts are abbreviated beyond this width (or the values')
TEXT_WIDTH = 12  # a text value in the terminal table: longer ones are cut with "~"
GAP = "  "  # between the terminal table's columns
IDENTITY = ("rank", "trial", "state")  # kept first in every table, whatever --columns names


def leaderboard(
    data: StudyData, *, top: int | None = None, states: Sequence[str] | None = None
) -> pd.DataFrame:
    """The trials of ``data`` ranked (see :func:`rank_trials`), one row each.

    Columns: ``rank``, ``trial``, ``state``, ``pruned_at`` (the epoch a PRUNED trial stopped
    after), the objective (``objective``; with several, ``objective.<name>`` each and
    ``pareto``), the best epoch's ``val_*`` metrics, ``best_epoch``,
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
    param_names = data.param_names()
    multi = data.is_multi_objective
    rows = []
    for rank, trial in ranked:
        row: dict[str, Any] = {"rank": rank, "trial": trial.number, "state": trial.state.name}
        pruned = trial.state.name == "PRUNED" and trial.intermediate_values
        row["pruned_at"] = max(trial.intermediate_values) if pruned else None
        if multi:
            for i, metric in enumerate(data.metrics):
                row[f"objective.{metric}"] = trial.values[i] if trial.values else None
            row["pareto"] = bool(rank == 1 and trial.state.name == "COMPLETE")
        else:
            row["objective"] = trial.value
        row.update({k: None for k in data.val_metrics})
        row.update(_val_metrics(data, trial))
        row["best_epoch"] = trial.user_attrs.get("best_epoch")
        row["epochs"] = _epochs_run(trial, data.cached_histories(trial))
        row["n_parameters"] = trial.user_attrs.get("n_parameters")
        row["duration_s"] = _duration(trial)
        row.update({f"params.{p}": trial.params.get(p) for p in param_names})
        row["fail_reason"] = trial.user_attrs.get("fail_reason")
        row["mlflow_run_id"] = trial.user_attrs.get("mlflow_run_id")
        rows.append(row)
    columns = ["rank", "trial", "state", "pruned_at"]
    if multi:
        columns += [f"objective.{m}" for m in data.metrics] + ["pareto"]
    else:
        columns += ["objective"]
    columns += [*data.val_metrics, "best_epoch", "epochs", "n_parameters", "duration_s"]
    columns += [f"params.{p}" for p in param_names] + ["fail_reason", "mlflow_run_id"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rank", "pruned_at", "best_epoch", "epochs", "n_parameters"):
        frame[column] = frame[column].astype("Int64")
    for column in columns:
        if column.startswith("params."):  # as sampled: an int stays an int beside missing values
            frame[column] = pd.Series([row[column] for row in rows], dtype=object)
    # the terminal table's validation metrics: the task's summary, less the objective(s)
    objectives = set(data.metrics)
    frame.attrs["summary"] = [f"val_{m}" for m in data.task.summary if f"val_{m}" not in objectives]
    return frame


def needs_runs(data: StudyData) -> bool:
    """Whether the leaderboard of ``data`` must read MLflow: some finished trial did not keep
    its metrics in the study (studies of hpo before it did; pruned trials before they did)."""
    return any(
        t.state.name in ("COMPLETE", "PRUNED") and not recorded_metrics(t) for t in data.trials
    )


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """For reading (Markdown, HTML): empty columns dropped, numbers rounded, blanks as -, and a
    parameter its trial did not sample as n/a."""
    shown = frame.dropna(axis=1, how="all").copy()
    for column in shown.columns:
        shown[column] = shown[column].map(lambda v, c=column: _cell(c, v))
    return shown


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    import pandas as pd

    return value is pd.NA


def _cell(column: str, value: Any, *, short: bool = False) -> str:
    """One value as text: numbers to 4 significant digits, ``-`` when missing (``n/a`` for a
    parameter); ``short`` for the terminal table (text cut at :data:`TEXT_WIDTH`)."""
    if _is_missing(value):
        return NOT_APPLICABLE if column.startswith("params.") else "-"
    if isinstance(value, bool):
        return ("yes" if value else "") if column == "pareto" else str(value).lower()
    if isinstance(value, float):
        if column == "duration_s":
            return f"{value:.1f}"
        return fmt_number(value)
    text = str(value)
    limit = TEXT_WIDTH if short else 80
    return text if len(text) <= limit else text[: limit - 1] + "~"


def default_columns(frame: pd.DataFrame) -> list[str]:
    """The terminal table's columns: rank, trial, state, the epoch pruned trials stopped at (when
    any did), the objective(s) (and ``pareto``), the validation metrics of the task's summary
    that are not the objective, and the parameters that vary among the rows (a parameter some
    rows did not sample varies), in the space's order."""
    base = ["rank", "trial", "state", "objective", "pareto"]
    columns = [c for c in frame.columns if c in base or c.startswith("objective.")]
    if "pruned_at" in frame.columns and frame["pruned_at"].notna().any():
        columns.insert(columns.index("state") + 1, "pruned_at")
    summary = frame.attrs.get("summary", ())
    columns += [c for c in summary if c in frame.columns and frame[c].notna().any()]
    for column in frame.columns:
        if not column.startswith("params."):
            continue
        values = {_cell(column, v) for v in frame[column]}
        if len(values) > 1 or (len(frame) == 1 and values != {NOT_APPLICABLE}):
            columns.append(column)
    return columns


def select_columns(frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The columns named in ``names`` (``--columns``), in that order. A parameter may be named
    without its ``params.`` prefix, an objective without ``objective.``, and any dotted name by
    its end where that is unique (``optimizer`` for ``params.train.optimizer``).

    Raises:
        ConfigError: an unknown name; the message lists the valid ones on one line.
    """
    chosen: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        found = next(
            (c for c in (name, f"params.{name}", f"objective.{name}") if c in frame.columns),
            None,
        )
        if found is None:  # the end of one dotted name: "optimizer" for params.train.optimizer
            ends = [str(c) for c in frame.columns if str(c).endswith(f".{name}")]
            if len(ends) > 1:
                raise ConfigError(
                    f"--columns: {name!r} names {len(ends)} columns ({', '.join(ends)}); give "
                    "one of them"
                )
            found = ends[0] if ends else None
        if found is None:
            guess = closest(name, [str(c) for c in frame.columns])
            hint = f" (did you mean {guess!r}?)" if guess else ""
            raise ConfigError(
                f"--columns: unknown column {name!r}{hint}; valid: {', '.join(frame.columns)}"
            )
        if found not in chosen:
            chosen.append(found)
    if not chosen:
        raise ConfigError(f"--columns: no column named; valid: {', '.join(frame.columns)}")
    return chosen


def short_headers(columns: Sequence[str], *, room: Mapping[str, int]) -> dict[str, list[str]]:
    """Each column's header in the terminal table, as a dotted name's leading parts over its
    last one (two lines) so that long names take little width: without the ``params.`` and
    ``objective.`` prefixes; the leading parts cut to their first letter, from the left, until
    they fit in the column's ``room`` (its values' width, :data:`PREFIX_WIDTH` at least)
    (``train.optimizer.adamw`` -> ``t.o.adamw``); the last part cut at :data:`HEADER_WIDTH`.
    Where two columns would read alike, both keep their full names."""
    headers = {}
    for column in columns:
        *parts, last = column.removeprefix("params.").removeprefix("objective.").split(".")
        fits = max(room.get(column, 0), len(last), PREFIX_WIDTH)
        for i in range(len(parts)):
            if len(".".join(parts)) <= fits:
                break
            if not parts[i].isdigit():
                parts[i] = parts[i][0]
        if len(last) > HEADER_WIDTH:
            last = last[: HEADER_WIDTH - 1] + "~"
        headers[column] = [".".join(parts), last]
    seen = [tuple(h) for h in headers.values()]
    return {c: (h if seen.count(tuple(h)) == 1 else ["", c]) for c, h in headers.items()}


def _text_table(
    frame: pd.DataFrame, columns: Sequence[str], *, width: int | None, fixed: bool
) -> str:
    """The terminal table: ``columns`` with short headers and values; unless ``fixed``, trailing
    parameter columns that do not fit in ``width`` characters are left out, and said so."""
    cells = {c: [_cell(c, v, short=True) for v in frame[c]] for c in columns}
    room = {c: max(len(v) for v in cells[c]) for c in columns}
    headers = short_headers(columns, room=room)
    widths = {c: max(room[c], *(len(h) for h in headers[c])) for c in columns}
    shown = list(columns)
    if width is not None and not fixed:
        while (
            len(shown) > 1
            and shown[-1].startswith("params.")
            and (sum(widths[c] for c in shown) + len(GAP) * (len(shown) - 1) > width)
        ):
            shown.pop()
    # numbers right-aligned, text (and columns mixing both) left-aligned
    numeric = {c: all(_is_number(v) for v in frame[c] if not _is_missing(v)) for c in shown}

    def line(values: Mapping[str, str]) -> str:
        return GAP.join(
            values[c].rjust(widths[c]) if numeric[c] else values[c].ljust(widths[c]) for c in shown
        ).rstrip()

    lines = [line({c: headers[c][0] for c in shown}), line({c: headers[c][1] for c in shown})]
    lines = [text for text in lines if text]  # no first header line when no name has a dot
    lines += [line({c: cells[c][i] for c in shown}) for i in range(len(frame))]
    hidden = len(columns) - len(shown)
    if hidden:
        note = (
            f"({hidden} more parameter column{'s' * (hidden > 1)} do not fit in {width} "
            "characters: choose with --columns a,b,c; every column: --format csv or json)"
        )
        lines += textwrap.wrap(note, width=max(width or 0, 40))
    return "\n".join(lines) + "\n"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as plain Python values, missing ones as None (numpy scalars unwrapped)."""
    rows = frame.astype(object).to_dict(orient="records")
    return [
        {
            k: None if _is_missing(v) else (v.item() if hasattr(v, "item") else v)
            for k, v in r.items()
        }
        for r in rows
    ]


def format_leaderboard(
    frame: pd.DataFrame,
    fmt: Format = "table",
    *,
    columns: Sequence[str] | None = None,
    width: int | None = None,
) -> str:
    """The leaderboard as text: ``table`` and ``markdown`` for reading, ``csv`` and ``json``
    for programs (every column, full precision; ``json`` is a list of records, ``null`` for
    missing values).

    Args:
        frame: from :func:`leaderboard`.
        fmt: table, csv, json or markdown.
        columns: the columns to keep, by name (see :func:`select_columns`); default: every
            column, except in ``table``, which shows :func:`default_columns`.
        width: ``table`` only: the terminal's width; parameter columns that do not fit are left
            out (never columns named in ``columns``). None: no limit.

    Raises:
        ConfigError: an unknown format or column.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    chosen = select_columns(frame, columns) if columns else None
    if chosen:  # which trial a row is, and its rank and state, whatever columns were named
        chosen = [c for c in IDENTITY if c not in chosen] + chosen
    if fmt == "csv":
        return frame[chosen or list(frame.columns)].to_csv(index=False)
    if fmt == "json":
        return json.dumps(_records(frame[chosen or list(frame.columns)]), indent=2) + "\n"
    if frame.empty:
        return "(no trials)\n"
    if fmt == "table":
        return _text_table(
            frame, chosen or default_columns(frame), width=width, fixed=chosen is not None
        )
    shown = _display(frame[chosen] if chosen else frame)
    header = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"
