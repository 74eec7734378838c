"""Tasks: what is predicted, behind one registry (as model families are behind ``FAMILIES``).

A task (:class:`Task`) owns what differs between kinds of problems: encoding the target, the
model's output size, the loss, its metrics and their directions, whether the split is
stratified, scoring a split, and what ``hpo predict``, ``hpo retrain`` and the report show.
Everything else asks the task of the data at hand (``task_of(spec)``) instead of naming classes.

- :mod:`.multiclass`: single-label classification into K classes;
- :mod:`.binary`: two classes, one of them positive;
- :mod:`.multilabel`: any number of L labels per sample;
- :mod:`.regression`: one number per sample;
- :mod:`._target`: ``data.task: auto`` and the target encoded as its task trains on it;
- :mod:`._metrics`: every metric's direction, one table.

A new task is one module with a :class:`Task` subclass and one line in :data:`TASKS`.

Importing this package is cheap: torch, NumPy and scikit-learn are imported where they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestrator.tasks._base import LossFunction, Outcomes, Task
from orchestrator.tasks._metrics import DIRECTIONS, LABELS, MEASURED
from orchestrator.tasks._target import AUTO_MAX_CLASSES, TASK_NAMES, Target, encode_target

if TYPE_CHECKING:
    from orchestrator.data import DataSpec

__all__ = [
    "AUTO_MAX_CLASSES",
    "DEFAULT_TASK",
    "DIRECTIONS",
    "LABELS",
    "MEASURED",
    "METRICS",
    "TASKS",
    "TASK_NAMES",
    "LossFunction",
    "Outcomes",
    "Target",
    "Task",
    "encode_target",
    "get_task",
    "metric_label",
    "task_of",
]

# data.task -> "module:ClassName", imported on first use
TASKS: dict[str, str] = {
    "multiclass": "orchestrator.tasks.multiclass:MulticlassTask",
    "binary": "orchestrator.tasks.binary:BinaryTask",
    "multilabel": "orchestrator.tasks.multilabel:MultilabelTask",
    "regression": "orchestrator.tasks.regression:RegressionTask",
}

# every objective a study may name, with its direction: a task's val_<metric>, or what is
# measured of the model
METRICS: dict[str, str] = {f"val_{m}": d for m, d in DIRECTIONS.items()} | MEASURED
DEFAULT_TASK = "multiclass"  # what a study or a model recorded before tasks existed was

_instances: dict[str, Task] = {}


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    if name not in _instances:
        try:
            target = TASKS[name]
        except KeyError:
            raise ValueError(
                f"data.task: unknown task {name!r}; valid: {', '.join(sorted(TASKS))}"
            ) from None
        module, _, attribute = target.partition(":")
        _instances[name] = getattr(importlib.import_module(module), attribute)()
    return _instances[name]


def metric_label(key: str) -> str:
    """How a metric is written for people: ``test_roc_auc`` -> ``ROC AUC``."""
    for prefix in ("val_", "test_", "best_", "trainval_"):
        key = key.removeprefix(prefix)
    return LABELS.get(key, key.replace("_", " "))


def task_of(spec: DataSpec) -> Task:
    """The task of the data ``spec`` describes."""
    return get_task(getattr(spec, "task", None) or DEFAULT_TASK)
