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


def _pruned(study, values: list[float], *, epochs: int) -> None:  # type: ignore[no-untyped-def]
    """A trial that reported ``values`` (epochs 1, 2, ...) and was pruned; its configuration
    trains ``epochs`` epochs, as hpo records it."""
    import optuna

    from orchestrator.storage._optuna import set_trial_system_attr

    trial = study.ask()
    set_trial_system_attr(
        study, trial, "config", {"train": {"epochs": epochs}, "data": {"cv": None}}
    )
    for step, value in enumerate(values, start=1):
        trial.report(value, step)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def test_a_trial_pruned_at_its_last_epoch_ranks_by_its_value() -> None:
    import optuna

    from orchestrator.report import rank_trials
    from orchestrator.study._ranking import pruned_at_last_epoch

    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.14)  # complete, poor
    study.tell(study.ask(), 0.90)  # complete, good
    _pruned(study, [0.5, 0.7, 0.95], epochs=3)  # ran every epoch: the whole budget
    _pruned(study, [0.3, 0.96], epochs=5)  # stopped early: below every complete trial
    trials = study.get_trials(deepcopy=False)
    assert [pruned_at_last_epoch(t) for t in trials] == [False, False, True, False]
    ranked = [(rank, t.number) for rank, t in rank_trials(trials, ["maximize"])]
    # #2 spent a complete trial's compute and scored 0.95: it ranks by that value, first;
    # #3 stopped at epoch 2 of 5 and follows the complete trials, whatever its last value
    assert ranked == [(1, 2), (2, 1), (3, 0), (4, 3)]
