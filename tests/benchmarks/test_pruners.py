"""benchmarks/pruners.py: the offline replay of pruners over recorded learning curves.

Synthetic curves only: no training, no storage.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "hpo_bench_pruners", ROOT / "benchmarks" / "pruners.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


pruners = _module()
Curve = pruners.Curve

GOOD = Curve((0.5, 0.6, 0.7), 0.7)
BAD = Curve((0.1, 0.2, 0.3), 0.3)
# a slow starter: worst at epoch 1, best at the end; its recorded value (best epoch) is 0.95
SLOW = Curve((0.05, 0.2, 0.95), 0.95)
SHORT = Curve((0.55, 0.65), 0.66)  # stopped early after 2 epochs; value differs from its curve


def _median(startup: int = 1, warmup: int = 1):
    return pruners.pruner_factory(
        {"name": "median", "n_startup_trials": startup, "n_warmup_steps": warmup}, epochs=3
    )


def test_no_pruning_replays_the_recording() -> None:
    r = pruners.replay([GOOD, BAD, SHORT], pruners.pruner_factory({"name": "none"}, epochs=3))
    # every epoch of every trial (the early-stopped one counts its 2), nothing pruned
    assert (r.epochs, r.full_epochs, r.pruned) == (8, 8, 0)
    assert r.ratio == 1.0 and r.delta == 0.0 and r.best == 0.7


def test_median_prunes_a_trial_below_the_median_at_its_first_epoch() -> None:
    r = pruners.replay([GOOD, BAD, SHORT], _median())
    # BAD (0.1 < GOOD's 0.5 at epoch 1) stops after 1 epoch; SHORT (0.55) goes on to its end
    assert (r.epochs, r.full_epochs, r.pruned) == (3 + 1 + 2, 8, 1)
    # a completed trial keeps its recorded value, not its curve's last point
    assert r.best == 0.7 and r.full_best == 0.7


def test_pruning_the_best_trial_shows_as_a_loss() -> None:
    r = pruners.replay([GOOD, SLOW], _median())
    # SLOW is below GOOD at epoch 1 and is pruned there: the best left is GOOD's 0.7, not 0.95
    assert r.pruned == 1 and r.epochs == 4
    assert r.best == 0.7 and r.delta == pytest.approx(-0.25)


def test_startup_trials_are_never_pruned() -> None:
    r = pruners.replay([GOOD, SLOW, BAD], _median(startup=2))
    # SLOW is one of the 2 startup trials: it completes; BAD is pruned at epoch 1
    assert r.pruned == 1 and r.best == 0.95 and r.delta == 0.0


def test_minimize_direction() -> None:
    loss = [Curve((1.0, 0.8, 0.6), 0.6), Curve((2.0, 1.9, 1.8), 1.8)]
    r = pruners.replay(loss, _median(), direction="minimize")
    # the second trial's loss is above the first's at epoch 1: pruned; the best stays 0.6
    assert r.pruned == 1 and r.epochs == 4 and r.best == 0.6


def test_pick_prefers_the_configuration_whose_worst_seed_loses_least() -> None:
    def rep(epochs: int, best: float) -> object:
        return pruners.Replay(epochs=epochs, full_epochs=100, best=best, full_best=0.9, pruned=0)

    # lean: 30%, mean -0.45 points, but -0.9 on one seed; safe: 38%, worst -0.1 points
    lean = pruners.Row({"name": "a"}, (rep(30, 0.9), rep(30, 0.891)))
    safe = pruners.Row({"name": "b"}, (rep(38, 0.9), rep(38, 0.899)))
    over = pruners.Row({"name": "c"}, (rep(45, 0.9), rep(45, 0.9)))  # 45%: misses the epochs
    lossy = pruners.Row({"name": "d"}, (rep(20, 0.88), rep(20, 0.88)))  # -2 points: misses
    # both targets are on the mean over seeds
    assert lean.meets and safe.meets and not over.meets and not lossy.meets
    assert pruners.pick([lean, safe, over, lossy]) is safe
    assert pruners.pick([over, lossy]) is None


@pytest.mark.parametrize("epochs", [20, 30])
def test_every_candidate_is_a_pruner_hpo_builds(epochs: int) -> None:
    # the candidates are written in the space's own words: each must build as hpo builds it
    configs = pruners.candidates(epochs)
    assert len({pruners.label(c) for c in configs}) == len(configs)  # no duplicates
    for config in configs:
        assert pruners.pruner_factory(config, epochs=epochs)() is not None
