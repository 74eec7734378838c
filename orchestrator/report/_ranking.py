"""Ranking the trials of a study: the study's own ranking (:mod:`orchestrator.study`), which the
leaderboard, the report and retrain all use."""

from __future__ import annotations

from orchestrator.study import objective_names, pareto_ranks, rank_trials

__all__ = ["objective_names", "pareto_ranks", "rank_trials"]
