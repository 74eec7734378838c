"""Tasks: what is predicted, behind one registry (as model families are behind ``FAMILIES``).

A task (:class:`Task`) owns what differs between kinds of problems: encoding the target, the
model's output size, the loss, its metrics and their directions, whether the split is
stratified, scoring a split, and what ``hpo predict``, ``hpo retrain`` and the report show.
Everything else asks the task of the data at hand (``task_of(spec)``) instead of naming classes.

- :mod:`.multiclass`: single-label classification into K classes.

A new task is one module with a :class:`Task` subclass and one line in :data:`TASKS`.

Importing this package is cheap: torch, NumPy and scikit-learn are imported where they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestrator.tasks._base import LossFunction, Task

if TYPE_CHECKING:
    from orchestrator.data import DataSpec

__all__ = ["DEFAULT_TASK", "TASKS", "LossFunction", "Task", "get_task", "task_of"]

# data.task -> "module:ClassName", imported on first use
TASKS: dict[str, str] = {
    "multiclass": "orchestrator.tasks.multiclass:MulticlassTask",
}
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


def task_of(spec: DataSpec) -> Task:
    """The task of the data ``spec`` describes."""
    return get_task(getattr(spec, "task", None) or DEFAULT_TASK)
