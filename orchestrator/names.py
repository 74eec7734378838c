"""Closed sets of names that the CLI offers as choices, importable without pydantic, Optuna or
torch so that ``hpo --help`` stays fast."""

from __future__ import annotations

__all__ = ["REPORT_FORMATS", "TRIAL_STATES"]

TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")  # Optuna's trial states
REPORT_FORMATS = ("table", "csv", "json", "markdown")  # hpo leaderboard --format
