"""Leaderboards and the HTML report of a study: what ran, what won, and why.

:func:`leaderboard` ranks the trials of a study into a pandas DataFrame, one row per trial, and
:func:`format_leaderboard` writes it as a table (the terminal's width), CSV, JSON or Markdown.
:func:`build_report` writes one self-contained HTML page (every plot inlined as a PNG: nothing is
fetched when it opens), with ``interactive=True`` an interactive page beside it (Optuna's plotly
figures, plotly.js inlined once), and logs them, with the plots as images, on the study's MLflow
parent run. :func:`study_activity` says when a study ran: its runs, their worker processes and
the wall clock (each run's first trial start to last trial end, summed).

Ranking (:func:`rank_trials`): with one objective, COMPLETE trials by their value (rank 1 is the
best), then PRUNED trials by their last reported value, then the rest by number, without a rank.
With several objectives, COMPLETE trials by Pareto front (rank 1 is the Pareto front, rank 2 the
front once the first is set aside, ...), ties by the first objective; the others follow unranked.

Both read the Optuna study for both kinds (``study.directions``, ``trial.values``,
``study.best_trials``) and MLflow, where it exists, for what only MLflow has: per-epoch curves and,
for trials that did not record them, the validation metrics of their best epoch.

Where things live: ``_data`` (the study as read back), ``_ranking`` (ranks, Pareto fronts,
objective names), ``_leaderboard`` (the frame and its formats), ``_activity`` (runs, workers,
wall clock), ``_views`` (what both pages draw, decided once), ``_plots`` (the static page's
PNGs), ``_figures`` (the interactive page's plotly figures), ``_links`` (MLflow run pages),
``_sections`` and ``_usage`` (the pages' text and tables), ``_html`` (a page), ``_build``
(:func:`build_report`, logging on MLflow).
"""

from __future__ import annotations

from orchestrator.report._activity import Activity, Run, study_activity
from orchestrator.report._build import ReportResult, build_report, interactive_path
from orchestrator.report._data import VAL_METRICS, StudyData, load_study_data
from orchestrator.report._leaderboard import (
    FORMATS,
    STATES,
    format_leaderboard,
    leaderboard,
    needs_runs,
)
from orchestrator.report._ranking import objective_names, pareto_ranks, rank_trials

__all__ = [
    "FORMATS",
    "STATES",
    "VAL_METRICS",
    "Activity",
    "ReportResult",
    "Run",
    "StudyData",
    "build_report",
    "format_leaderboard",
    "interactive_path",
    "leaderboard",
    "load_study_data",
    "needs_runs",
    "objective_names",
    "pareto_ranks",
    "rank_trials",
    "study_activity",
]
