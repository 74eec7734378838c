"""Tests for orchestrator/train/_evaluate.py: loss and classification metrics."""

from __future__ import annotations

import pytest
import torch

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


def test_metrics_match_sklearn() -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from orchestrator.train import classification_metrics

    # random predictions over 6 classes, class 5 never true and class 4 never predicted
    gen = torch.Generator().manual_seed(0)
    true = torch.randint(0, 5, (300,), generator=gen)
    pred = torch.randint(0, 6, (300,), generator=gen)
    pred[pred == 4] = 0
    cm = torch.tensor(confusion_matrix(true, pred, labels=range(6)))
    ours = classification_metrics(cm)
    p, r, f, _ = precision_recall_fscore_support(
        true, pred, labels=range(6), average=None, zero_division=0
    )
    # the same per-class and macro numbers as sklearn with zero_division=0
    assert ours["per_class_precision"] == pytest.approx(p.tolist())
    assert ours["per_class_recall"] == pytest.approx(r.tolist())
    assert ours["per_class_f1"] == pytest.approx(f.tolist())
    assert ours["f1"] == pytest.approx(f.mean()) and ours["precision"] == pytest.approx(p.mean())
    assert ours["accuracy"] == pytest.approx(float((true == pred).double().mean()))
