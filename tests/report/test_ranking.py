"""orchestrator/report/_ranking.py: Pareto fronts."""

from __future__ import annotations


def test_pareto_ranks_sort_fronts() -> None:
    from orchestrator.report import pareto_ranks

    points = [(0.9, 100), (0.95, 200), (0.8, 300), (0.9, 100), (0.7, 400)]
    # maximize the first, minimize the second: two on the front, a tie, then nested fronts
    assert pareto_ranks(points, ["maximize", "minimize"]) == [1, 1, 2, 1, 3]
    # flipping a direction changes who dominates: now lower accuracy and more weights win
    assert pareto_ranks(points, ["minimize", "maximize"]) == [3, 3, 2, 3, 1]
    assert pareto_ranks([], ["maximize", "minimize"]) == []
