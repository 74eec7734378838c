"""orchestrator/tasks/_target.py: what ``data.task: auto`` decides, and each task's target."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.errors import DataError
from orchestrator.tasks import encode_target


@pytest.mark.parametrize(
    ("y", "task", "why"),
    [
        # a house-price or diabetes-style target: many distinct numbers are values, not classes
        (np.arange(25, 346, 1.0)[:214], "regression", "214 distinct numbers"),
        (np.array([151.0, 75.0, 141.0, 206.0, 135.5] * 5), "regression", "real numbers"),
        (np.array([0, 1] * 10), "binary", "two values (0, 1)"),
        (np.array(["yes", "no", "no"] * 4), "binary", "two classes"),
        (np.array([True, False] * 4), "binary", "true or false"),
        (np.array([1, 2, 3] * 4), "multiclass", "3 distinct whole numbers"),
        (np.array(["a", "b", "c"] * 3, dtype=object), "multiclass", "3 named classes"),
        # numbers read from a file as text are numbers
        (np.array(["1.5", "2.5", "3.25", "4.0"] * 3, dtype=object), "regression", "real numbers"),
        (np.array([[0, 1], [1, 0], [1, 1]] * 4), "multilabel", "2 target columns"),
    ],
)
def test_auto_decides_the_task_and_says_how_to_change_it(
    y: np.ndarray, task: str, why: str
) -> None:
    target = encode_target(y, source="t.csv: column 'y'")
    assert target.task == task
    # the note names the file, what was seen, and (where another reading exists) the override
    assert target.note is not None and target.note.startswith(
        f"data.task: auto chose {task} for t.csv: column 'y': {why}"
    )
    if task == "regression":
        assert "set data.task: multiclass" in target.note


def test_whole_numbers_as_classes_when_asked() -> None:
    # the diabetes case read as classes on purpose: each distinct value is a class
    y = np.repeat(np.arange(30), 3).astype(float)
    target = encode_target(y, task="multiclass", source="s")
    assert target.task == "multiclass" and len(target.names) == 30 and target.note is None


def test_binary_puts_the_positive_class_last() -> None:
    y = np.array(["no"] * 8 + ["yes"] * 2 + ["no"] * 2)
    # default: the minority class is positive, and the note says so
    target = encode_target(y, task="binary", source="s")
    assert target.names == ["no", "yes"] and target.y.tolist() == [0] * 8 + [1] * 2 + [0] * 2
    assert "positive class 'yes' (2 of 12 rows, the minority class)" in (target.note or "")
    # data.positive_class chooses the other: it becomes class 1
    chosen = encode_target(y, task="binary", source="s", positive_class="no")
    assert chosen.names == ["yes", "no"] and chosen.y.tolist() == [1] * 8 + [0] * 2 + [1] * 2
    # numbers name classes as they are written: 1 is class '1'
    ones = encode_target(np.array([0, 1, 1, 1]), task="binary", source="s", positive_class=1)
    assert ones.names == ["0", "1"]


@pytest.mark.parametrize(
    ("y", "kwargs", "message"),
    [
        (np.array([1, 2, 3]), {"task": "binary"}, "a binary task needs exactly two classes"),
        (
            np.array(["a", "b"] * 2),
            {"task": "binary", "positive_class": "c"},
            "data.positive_class: 'c' is not a class of s (classes: 'a', 'b')",
        ),
        (
            np.array(["a", "b", "c"] * 2),
            {"positive_class": "a"},
            "data.positive_class: 'a' applies to a binary task, but the task is multiclass",
        ),
        (
            np.array(["x", "1.5", "2"], dtype=object),
            {"task": "regression"},
            "a regression target must be numbers, got 'x'",
        ),
        (np.array([2.0, 2.0, 2.0]), {"task": "regression"}, "every target value is 2"),
        (
            np.array([0.5, 1.5, 2.0]),
            {"task": "multiclass"},
            "the labels are real numbers (e.g. 0.5), not classes; set data.task: regression",
        ),
        (
            np.array([[0, 2], [1, 0]]),
            {"task": "multilabel"},
            "label 'label_1' holds 2; each column of a multilabel target must be 0 or 1",
        ),
        (np.array([0, 1, 1]), {"task": "multilabel"}, "needs several 0/1 target columns"),
        (np.array([[0, 1], [1, 0]]), {"task": "regression"}, "set data.task: multilabel"),
    ],
)
def test_a_target_that_does_not_fit_its_task_is_refused(
    y: np.ndarray, kwargs: dict, message: str
) -> None:
    with pytest.raises(DataError) as info:
        encode_target(y, source="s", **kwargs)
    assert message in str(info.value)


def test_labels_and_values_keep_their_names() -> None:
    labels = encode_target(np.array([[0, 1], [1, 1]]), source="s", label_names=["cat", "dog"])
    assert labels.task == "multilabel" and labels.names == ["cat", "dog"]
    assert labels.y.dtype == np.float32
    values = encode_target(np.linspace(0, 1, 30), source="s", label_names=["price"])
    assert values.task == "regression" and values.names == ["price"]
