"""orchestrator/tasks: each task's scores are scikit-learn's, in the data's own units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orchestrator.data import DataSpec
from orchestrator.tasks import METRICS, TASKS, get_task


def _spec(task: str, k: int, **kwargs: object) -> DataSpec:
    return DataSpec("features", (4,), k, [f"c{i}" for i in range(k)], task=task, **kwargs)


def test_every_metric_has_a_direction() -> None:
    # every metric of every task can be an objective: it has a direction
    for name in TASKS:
        task = get_task(name)
        assert set(task.objectives()) <= set(METRICS)
        assert task.default_metric in task.objectives()
        assert task.metrics[0] == "loss"


def test_multiclass_scores_match_sklearn() -> None:
    from sklearn import metrics

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 4, generator=gen)
    y = torch.randint(0, 4, (300,), generator=gen)
    report = get_task("multiclass").score(logits, y, _spec("multiclass", 4), details=True)
    probs = torch.softmax(logits, 1).numpy()
    pred = probs.argmax(1)
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert report["f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    assert report["weighted_f1"] == pytest.approx(metrics.f1_score(y, pred, average="weighted"))
    assert report["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, pred))
    assert report["log_loss"] == pytest.approx(metrics.log_loss(y, probs), rel=1e-5)
    assert report["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y, probs, multi_class="ovr", average="macro"), rel=1e-6
    )
    assert report["loss"] == pytest.approx(report["log_loss"], rel=1e-4)  # the plain CE
    assert report["confusion_matrix"] == metrics.confusion_matrix(y, pred).tolist()
    # without details (every epoch): the metrics alone
    assert "confusion_matrix" not in get_task("multiclass").score(logits, y, _spec("multiclass", 4))


def test_binary_scores_the_positive_class_and_chooses_the_f1_threshold() -> None:
    from sklearn import metrics

    gen = torch.Generator().manual_seed(1)
    y = (torch.rand(400, generator=gen) < 0.3).long()
    logits = torch.stack([torch.zeros(400), 1.5 * y.float() + torch.randn(400, generator=gen)], 1)
    task = get_task("binary")
    report = task.score(logits, y, _spec("binary", 2), details=True)
    positive = torch.softmax(logits, 1)[:, 1].numpy()
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, positive))
    assert report["pr_auc"] == pytest.approx(metrics.average_precision_score(y, positive))
    assert report["brier"] == pytest.approx(metrics.brier_score_loss(y, positive))
    assert report["mcc"] == pytest.approx(metrics.matthews_corrcoef(y, positive >= 0.5))
    # F1 at the threshold chosen on this split: no threshold does better
    best = max(metrics.f1_score(y, positive >= t) for t in np.unique(positive))
    assert report["f1"] == pytest.approx(best)
    assert report["f1"] == pytest.approx(metrics.f1_score(y, positive >= report["threshold"]))
    # a threshold decided elsewhere (the validation split) is applied as it is
    fixed = task.score(logits, y, _spec("binary", 2), decision={"threshold": 0.9})
    assert fixed["threshold"] == 0.9
    assert fixed["f1"] == pytest.approx(metrics.f1_score(y, positive >= 0.9))
    # the report's curves: ROC from (0, 0) to (1, 1), calibration bins within [0, 1]
    roc = report["curves"]["roc"]
    assert (roc["x"][0], roc["y"][0], roc["x"][-1], roc["y"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert all(0 <= v <= 1 for v in report["curves"]["calibration"]["observed"])


def test_regression_scores_in_the_targets_units() -> None:
    from sklearn import metrics

    gen = torch.Generator().manual_seed(2)
    mean, std = 150.0, 70.0
    y = torch.randn(200, generator=gen)  # standardised, as the model trains on it
    out = (y + 0.3 * torch.randn(200, generator=gen)).unsqueeze(1)
    spec = _spec("regression", 1, target={"mean": mean, "std": std, "min": 10.0, "max": 400.0})
    report = get_task("regression").score(out, y, spec, details=True)
    true, pred = y.double().numpy() * std + mean, out[:, 0].double().numpy() * std + mean
    assert report["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(true, pred)))
    assert report["mae"] == pytest.approx(metrics.mean_absolute_error(true, pred))
    assert report["r2"] == pytest.approx(metrics.r2_score(true, pred))
    assert report["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(true, pred))
    assert report["rmsle"] == pytest.approx(
        np.sqrt(metrics.mean_squared_log_error(np.clip(true, 0, None), np.clip(pred, 0, None)))
    )
    # the loss is the mean squared error in standard units, whatever the training loss
    assert report["loss"] == pytest.approx(float(((out[:, 0] - y) ** 2).mean()), rel=1e-5)
    assert len(report["pairs"]["actual"]) == 200
    # a target with negative values has no RMSLE
    negative = _spec("regression", 1, target={"mean": 0.0, "std": 1.0, "min": -3.0, "max": 3.0})
    assert "val_rmsle" not in get_task("regression").objectives(negative)
    assert "rmsle" not in get_task("regression").score(out, y, negative)


def test_multilabel_scores_match_sklearn() -> None:
    from sklearn import metrics

    gen = torch.Generator().manual_seed(3)
    y = (torch.rand(150, 3, generator=gen) < 0.4).float()
    logits = 2 * y - 1 + torch.randn(150, 3, generator=gen)
    report = get_task("multilabel").score(logits, y, _spec("multilabel", 3), details=True)
    probs = torch.sigmoid(logits).numpy()
    pred = (probs >= 0.5).astype(int)
    true = y.numpy().astype(int)
    assert report["micro_f1"] == pytest.approx(metrics.f1_score(true, pred, average="micro"))
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(true, pred, average="macro"))
    assert report["hamming"] == pytest.approx(metrics.hamming_loss(true, pred))
    assert report["subset_accuracy"] == pytest.approx(metrics.accuracy_score(true, pred))
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(true, probs, average="macro"))
    assert report["per_label_positives"] == true.sum(0).tolist()


@pytest.mark.parametrize(
    ("task", "y", "width"),
    [
        ("multiclass", torch.tensor([0, 1, 2, 2]), 3),
        ("binary", torch.tensor([0, 1, 1, 0]), 2),
        ("multilabel", torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]), 2),
        ("regression", torch.tensor([0.5, -1.0, 0.2, 1.3]), 1),
    ],
)
def test_losses_train_each_task(task: str, y: torch.Tensor, width: int) -> None:
    from orchestrator.config import TrainConfig

    # a few steps of a linear model on the task's loss bring the loss down
    torch.manual_seed(0)
    spec = _spec(task, width, target={"mean": 0.0, "std": 1.0, "min": -1.0, "max": 1.3})
    config = TrainConfig(class_weight="none" if task == "regression" else "balanced")
    loss_fn = get_task(task).loss_function(config, spec, y)
    x = torch.randn(4, 4)
    model = torch.nn.Linear(4, get_task(task).n_outputs(spec))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    first = loss_fn(model(x), y).item()
    for _ in range(30):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    assert loss_fn(model(x), y).item() < first


def test_regression_losses_can_be_chosen() -> None:
    from orchestrator.config import TrainConfig

    spec = _spec("regression", 1)
    out, y = torch.tensor([[3.0], [0.0]]), torch.tensor([0.0, 0.0])
    task = get_task("regression")
    # mse squares, l1 does not, huber is quadratic near 0 and linear far away (delta 1 std)
    assert task.loss_function(TrainConfig(loss="mse"), spec, y)(out, y).item() == 4.5
    assert task.loss_function(TrainConfig(loss="l1"), spec, y)(out, y).item() == 1.5
    assert task.loss_function(TrainConfig(loss="huber"), spec, y)(out, y).item() == 1.25


@pytest.mark.parametrize(
    ("task", "key", "value", "problem"),
    [
        ("regression", "class_weight", "balanced", "class weights apply to classes"),
        ("regression", "label_smoothing", 0.1, "label smoothing applies to classes"),
        ("multiclass", "loss", "huber", "multiclass classification takes train.loss: auto"),
        ("regression", "loss", "huber", None),
        ("binary", "class_weight", "balanced", None),
    ],
)
def test_training_settings_that_do_not_fit_the_task(
    task: str, key: str, value: object, problem: str | None
) -> None:
    found = get_task(task).training_problem(key, value)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_prediction_columns_name_the_target() -> None:
    record = {"preprocessing": {"target_name": "species"}}
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    spec = DataSpec("features", (4,), 3, ["a", "b", "c"], task="multiclass")
    columns = get_task("multiclass").prediction_columns(probs, spec, record=record, proba=True)
    assert list(columns) == ["species", "proba_a", "proba_b", "proba_c"]
    assert columns["species"] == ["a", "c"]
    # a binary model's threshold moves its decisions
    spec2 = DataSpec("features", (4,), 2, ["no", "yes"], task="binary")
    p = np.array([[0.7, 0.3], [0.4, 0.6]])
    assert get_task("binary").prediction_columns(p, spec2, record=record)["species"] == [
        "no",
        "yes",
    ]
    low = get_task("binary").prediction_columns(p, spec2, record=record, threshold=0.2)
    assert low["species"] == ["yes", "yes"]


def test_outcomes_say_what_was_wrong_and_how_badly_for_each_task() -> None:
    import torch

    from orchestrator.data import DataSpec
    from orchestrator.tasks import get_task

    classes = DataSpec("features", (3,), 3, ["a", "b", "c"])
    seen = get_task("multiclass").outcomes(
        torch.tensor([[3.0, 0, 0], [0, 3.0, 0]]), torch.tensor([0, 2]), classes
    )
    # the second sample said b for c: wrong, with all but c's probability against it
    assert seen.predicted == ["a", "b"] and seen.actual == ["a", "c"]
    assert seen.wrong.tolist() == [False, True] and seen.target.tolist() == [0, 1]
    assert seen.badness[1] > 0.9 > seen.badness[0]

    binary = DataSpec("features", (3,), 2, ["no", "yes"], task="binary")
    said = get_task("binary").outcomes(
        torch.tensor([[0.0, 1.0], [0.0, -1.0]]),
        torch.tensor([1, 1]),
        binary,
        decision={"threshold": 0.3},
    )
    # the validation split's threshold decides: P(yes) = 0.27 is below 0.3
    assert said.predicted == ["yes", "no"] and said.wrong.tolist() == [False, True]

    values = DataSpec("features", (3,), 1, ["y"], task="regression", target={"mean": 10, "std": 2})
    off = get_task("regression").outcomes(
        torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.zeros(4), values
    )
    # errors in the target's units; the largest quarter counts as wrong
    assert off.badness.tolist() == [0.0, 2.0, 4.0, 6.0] and off.wrong.tolist() == [0, 0, 0, 1]
    assert off.predicted[3] == "16" and off.actual[3] == "10"

    labels = DataSpec("features", (3,), 2, ["x", "z"], task="multilabel")
    tagged = get_task("multilabel").outcomes(
        torch.tensor([[3.0, -3.0], [-3.0, -3.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), labels
    )
    assert tagged.predicted == ["x", "(none)"] and tagged.actual == ["x", "z"]
    assert tagged.wrong.tolist() == [False, True]
