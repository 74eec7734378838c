"""orchestrator/study/_factories.py and _window.py: the pruners; the sampler's window."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_pruners_are_asked_only_from_the_epoch_they_can_prune(tiny_space: Path) -> None:
    import optuna

    from orchestrator.space import load_space
    from orchestrator.study import build_pruner, prunes_from

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
    from orchestrator.study import build_sampler

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
    from orchestrator.study import build_sampler

    raw = load_space(tiny_space).raw
    raw = {**raw, "study": {**raw["study"], "sampler": {"name": "tpe", "window": 5}}}
    with pytest.raises(SpaceError) as info:
        build_sampler(parse_space_dict(raw, source="tiny"), seed=0)
    assert "study.sampler.window: a sampler's window must hold at least 10 trials, got 5" in str(
        info.value
    )
