"""orchestrator/study/_factories.py: the pruners."""

from __future__ import annotations

from pathlib import Path


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
