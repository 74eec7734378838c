"""orchestrator/ensemble/_select.py: Caruana's selection on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.ensemble import select

TRUTH = np.array([1.0, 2.0, 3.0, 4.0])


def rmse(predictions: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - TRUTH) ** 2)))


def test_complementary_models_beat_each_alone() -> None:
    # two models wrong in opposite directions: their average is exact
    low, high = TRUTH - 1.0, TRUTH + 1.0
    selection = select([low, high], rmse, maximize=False, size=4, init=1)
    assert selection.counts == [2, 2]
    assert selection.score == pytest.approx(0.0)
    assert selection.weights == [0.5, 0.5]


def test_a_model_can_be_picked_again_and_the_best_starts() -> None:
    # the best model alone is best: with replacement, every pick is it
    best, worse, worst = TRUTH + 0.1, TRUTH + 2.0, TRUTH - 3.0
    selection = select([worse, best, worst], rmse, maximize=False, size=5, init=1)
    assert selection.counts == [0, 5, 0]
    assert selection.history[0] == pytest.approx(rmse(best))


def test_sorted_initialisation_starts_with_the_best_few() -> None:
    models = [TRUTH + d for d in (0.5, -0.2, 1.0, 3.0)]
    selection = select(models, rmse, maximize=False, size=3, init=3)
    # the three best on their own start it: nothing is left to pick
    assert selection.counts == [1, 1, 1, 0]
    # larger is better with maximize: the negated score picks the same
    negated = select(models, lambda p: -rmse(p), maximize=True, size=3, init=3)
    assert negated.counts == selection.counts


def test_a_tie_on_the_metric_goes_to_the_smaller_tiebreak_loss() -> None:
    # accuracy over 4 rows: both models get all 4 right, but the second is more confident
    labels = np.array([0, 1, 0, 1])
    unsure = np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4], [0.4, 0.6]])
    sure = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])

    def accuracy(p: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == labels))

    def log_loss(p: np.ndarray) -> float:
        return float(-np.mean(np.log(p[np.arange(4), labels])))

    plain = select([unsure, sure], accuracy, maximize=True, size=3, init=1)
    assert plain.counts == [3, 0]  # ties go to the earlier model
    broken = select([unsure, sure], accuracy, maximize=True, size=3, init=1, tiebreak=log_loss)
    assert broken.counts == [0, 3]
    assert broken.score == 1.0


def test_a_model_that_scores_nan_is_never_picked() -> None:
    def score(p: np.ndarray) -> float:
        return float("nan") if p[0] > 100 else rmse(p)

    selection = select([TRUTH + 1e3, TRUTH + 0.5], score, maximize=False, size=3)
    assert selection.counts == [0, 3]


@pytest.mark.parametrize(
    ("predictions", "size", "message"),
    [
        ([], 3, "at least one model"),
        ([TRUTH, TRUTH[:2]], 3, "different shapes"),
        ([TRUTH], 0, "size must be >= 1"),
    ],
)
def test_bad_libraries_are_refused(predictions: list, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select(predictions, rmse, maximize=False, size=size)
