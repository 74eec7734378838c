"""Tests for orchestrator/train/_evaluate.py: loss and classification metrics."""

from __future__ import annotations

import pytest

from orchestrator.data import Splits
from orchestrator.train import evaluate
from tests.train.helpers import tiny_mlp

# --- evaluate -------------------------------------------------------------------------------------


def test_evaluate_metrics(digits: Splits) -> None:
    model = tiny_mlp(digits)
    x, y = digits.val
    out = evaluate(model, x, y, device="cpu", num_classes=10, batch_size=100)
    cm = out["confusion_matrix"]
    # a 10x10 confusion matrix over every sample; its diagonal is the accuracy
    assert len(cm) == 10 and all(len(row) == 10 for row in cm)
    assert sum(map(sum, cm)) == len(y)
    assert out["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(10)) / len(y))
    # per-class lists, and macro averages that are their means
    assert len(out["per_class_f1"]) == 10
    assert out["f1"] == pytest.approx(sum(out["per_class_f1"]) / 10)
    # and the model is left in the mode it was in
    assert model.training
