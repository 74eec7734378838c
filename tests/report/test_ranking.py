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


def test_the_best_trial_is_rank_one_of_the_ranking() -> None:
    import optuna

    from orchestrator.report import rank_trials
    from orchestrator.study import best_trial

    for direction in ("maximize", "minimize"):
        study = optuna.create_study(direction=direction)
        for value in (0.5, 0.9, 0.1, 0.9, 0.1):  # ties on both ends: the earlier trial wins
            study.tell(study.ask(), value)
        study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
        study.ask()  # still running
        trials = study.get_trials(deepcopy=False)
        ranked = rank_trials(trials, [direction])
        assert best_trial(study, trials) is ranked[0][1]
        assert best_trial(study).number == (1 if direction == "maximize" else 2)
    empty = optuna.create_study()
    empty.ask()
    assert best_trial(empty) is None  # nothing completed yet
