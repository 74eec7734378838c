"""orchestrator/retrain/_summary.py: the seeds of a retraining, and mean and std over them.

The arithmetic is checked on hand-made evaluations.
"""

from __future__ import annotations

import math

import pytest


def _evaluation(accuracy: float, f1_first: float, matrix: list[list[int]]) -> dict:
    return {
        "loss": 1 - accuracy,
        "accuracy": accuracy,
        "precision": accuracy,
        "recall": accuracy,
        "f1": accuracy,
        "per_class_precision": [f1_first, 1.0],
        "per_class_recall": [f1_first, 1.0],
        "per_class_f1": [f1_first, 1.0],
        "confusion_matrix": matrix,
    }


def test_summarize_gives_mean_std_and_summed_matrix() -> None:
    from orchestrator.retrain import summarize

    summary = summarize(
        [_evaluation(0.9, 0.8, [[4, 1], [0, 5]]), _evaluation(0.8, 0.6, [[3, 2], [0, 5]])]
    )
    # mean and sample standard deviation over the two seeds
    assert summary["n"] == 2
    assert summary["mean"]["test_accuracy"] == pytest.approx(0.85)
    assert summary["std"]["test_accuracy"] == pytest.approx(math.sqrt(0.005))
    # per class, each class on its own
    assert summary["per_class"]["f1"]["mean"] == pytest.approx([0.7, 1.0])
    assert summary["per_class"]["f1"]["std"] == pytest.approx([math.sqrt(0.02), 0.0])
    # the confusion matrices add up (rows: true class)
    assert summary["confusion_matrix"] == [[7, 3], [0, 10]]
    # one seed: no spread, not NaN
    assert summarize([_evaluation(0.9, 0.8, [[1]])])["std"]["test_accuracy"] == 0.0


def test_retrain_seeds_start_with_the_trials_own() -> None:
    from orchestrator.retrain import retrain_seeds

    assert retrain_seeds(23774, 3) == [23774, 23775, 23776]
