"""orchestrator/study/_factories.py and _window.py: the pruners; the sampler's window."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_pruners_are_asked_only_from_the_epoch_they_can_prune(tiny_space: Path) -> None:
    import optuna

    from orchestrator.space import load_space
    from orchestrator.study._factories import build_pruner, prunes_from

    def first_step(pruner: str) -> int | None:
        space = load_space(tiny_space, overrides=[f"study.pruner={pruner}"])
        return prunes_from(build_pruner(space.study, epochs=10, source="tiny.yaml"))

    # median and percentile: not on the first epoch alone (steps are 1-based epochs)
    assert first_step("median") == 2 and first_step("percentile") == 2
    # none never prunes; hyperband may prune from the first epoch
    assert first_step("none") is None and first_step("hyperband") == 0
    # a warm-up set in the space is honoured
    assert prunes_from(optuna.pruners.MedianPruner(n_warmup_steps=6)) == 6


def test_a_long_study_is_sampled_from_a_window_of_it() -> None:
    import optuna

    from orchestrator.study._window import window_of

    study = optuna.create_study(direction="maximize")
    for i in range(30):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, 10.0 if i in (0, 3) else i / 100)  # the best two are the oldest
    running = study.ask()
    trials = study.get_trials(deepcopy=False)
    kept = {t.number for t in window_of(trials, 20, ["maximize"])}
    # the 20 most recent finished, the best tenth (2) of any age, and what still runs
    assert kept == set(range(10, 30)) | {0, 3, running.number}
    # a study shorter than the window is seen whole
    assert window_of(trials, 100, ["maximize"]) == trials


def test_a_short_study_samples_the_same_with_or_without_a_window(tiny_space: Path) -> None:
    import optuna

    from orchestrator.space import load_space, parse_space_dict, suggest
    from orchestrator.study._factories import build_sampler

    space = load_space(tiny_space)

    def run(window: int | None) -> list[dict]:
        raw = {
            **space.raw,
            "study": {**space.raw["study"], "sampler": {"name": "tpe", "window": window}},
        }
        spec = parse_space_dict(raw, source="tiny")
        study = optuna.create_study(direction="maximize", sampler=build_sampler(spec, seed=3))
        for i in range(15):
            trial = study.ask()
            suggest(spec, trial)
            study.tell(trial, (i * 37 % 11) / 11)
        return [t.params for t in study.trials]

    # the window (default 500) only changes studies longer than it
    assert run(500) == run(None)


def test_a_window_too_small_is_refused(tiny_space: Path) -> None:
    from orchestrator.errors import SpaceError
    from orchestrator.space import load_space, parse_space_dict
    from orchestrator.study._factories import build_sampler

    raw = load_space(tiny_space).raw
    raw = {**raw, "study": {**raw["study"], "sampler": {"name": "tpe", "window": 5}}}
    with pytest.raises(SpaceError) as info:
        build_sampler(parse_space_dict(raw, source="tiny"), seed=0)
    assert "study.sampler.window: a sampler's window must hold at least 10 trials, got 5" in str(
        info.value
    )


def test_a_window_read_many_times_follows_the_study_as_it_moves() -> None:
    import copy

    import optuna

    from orchestrator.study._window import WindowedSampler, window_of

    study = optuna.create_study(direction="maximize")
    windowed = WindowedSampler(optuna.samplers.RandomSampler(seed=0), 10)

    def numbers(trials: list) -> list[int]:
        return [t.number for t in trials]

    for i in range(40):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trials = study.get_trials(deepcopy=False)
        # what the sampler sees matches the window of the study as it is now, read after read,
        # also when the running trial comes back as a new object (as each storage read gives it)
        expected = numbers(window_of(trials, 10, ["maximize"]))
        assert numbers(windowed.windowed(trials, study)) == expected
        assert numbers(windowed.windowed(copy.deepcopy(trials), study)) == expected
        if i % 7 == 3:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # finished, no value
        else:
            study.tell(trial, (i * 37 % 11) / 11)
        trials = study.get_trials(deepcopy=False)
        assert numbers(windowed.windowed(trials, study)) == numbers(
            window_of(trials, 10, ["maximize"])
        )


def test_tpe_computes_its_normal_cdf_with_scipy_and_samples_the_same(tiny_space: Path) -> None:
    import numpy as np
    import optuna
    from optuna.samplers._tpe import _truncnorm

    from orchestrator.space import load_space
    from orchestrator.study._factories import build_sampler

    tpe = load_space(tiny_space, overrides=["study.sampler=tpe"])
    build_sampler(tpe, seed=0)  # a study sampled by TPE: the vectorised log Φ is in
    vectorized = _truncnorm._log_ndtr
    optunas = vectorized.replaced  # Optuna's own, element by element
    # the same values, tails included (below -20 and above 6 Optuna switches formulas)
    x = np.concatenate([np.linspace(-60, 60, 20001), [-1e3, -20.0, -19.99, 6.0, 6.01, 1e3]])
    assert np.max(np.abs(vectorized(x) - optunas(x))) <= 1e-12

    def params(log_ndtr: object) -> list[dict]:
        _truncnorm._log_ndtr = log_ndtr
        try:
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=5))
            study.optimize(
                lambda t: (
                    (t.suggest_float("a", -3, 3) - 1) ** 2
                    + t.suggest_float("b", 1e-4, 1.0, log=True)
                    + t.suggest_int("c", 1, 9, step=2)
                ),
                n_trials=30,
            )
            return [t.params for t in study.trials]
        finally:
            _truncnorm._log_ndtr = vectorized

    # so a study samples what it would have without the change, to the last digits of rounding
    # (the sampler inverts the same masses); the choices made along the way are all the same
    ours, theirs = params(vectorized), params(optunas)
    assert [p["c"] for p in ours] == [p["c"] for p in theirs]
    assert [(p["a"], p["b"]) for p in ours] == [
        (pytest.approx(p["a"], rel=1e-12), pytest.approx(p["b"], rel=1e-12)) for p in theirs
    ]
