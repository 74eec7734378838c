"""Which columns of a table the network needs: permutation importance, one value per original
column, with scikit-learn's :func:`~sklearn.inspection.permutation_importance`.

A categorical column is several one-hot features; shuffling them apart would make rows no table
holds. So each column of what scikit-learn shuffles is one original column and holds row numbers:
shuffling it hands every row another row's values of all that column's features at once. The
score is the study's metric on the test split (its direction applied: a drop is importance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.data import DataSpec

__all__ = ["REPEATS", "ColumnImportance", "column_groups", "permutation_importance"]

REPEATS = 5  # shuffles per column: the bars' spread is over these


@dataclass
class ColumnImportance:
    """One original column: how much the metric drops when it is shuffled (mean and standard
    deviation over the repeats) and its mean absolute attribution."""

    column: str
    mean: float
    std: float
    attribution: float = float("nan")


def column_groups(preprocessing: dict[str, Any], n_features: int) -> list[tuple[str, list[int]]]:
    """The original columns and the features each became: a CSV's columns (a categorical's
    one-hot features together), else one column per feature (``feature 3``)."""
    encoding = preprocessing.get("encoding") or {}
    columns = encoding.get("columns") if encoding.get("type") == "table" else None
    if not columns:
        names = preprocessing.get("feature_names") or [f"feature {i}" for i in range(n_features)]
        return [(str(name), [i]) for i, name in enumerate(names[:n_features])]
    groups, at = [], 0
    for column in columns:
        width = 1 if column["kind"] == "numeric" else len(column["categories"])
        groups.append((str(column["name"]), list(range(at, at + width))))
        at += width
    return [(name, features) for name, features in groups if features]


def permutation_importance(
    outputs_of: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    spec: DataSpec,
    groups: list[tuple[str, list[int]]],
    metric: str,
    maximize: bool,
    decision: dict[str, float] | None = None,
    repeats: int = REPEATS,
    seed: int = 0,
) -> list[ColumnImportance]:
    """The drop of ``metric`` (a name the task scores, e.g. ``"rmse"``) on ``x``/``y`` when each
    group of features is shuffled across rows, ``repeats`` times, in the groups' order.

    Args:
        outputs_of: the network's outputs for a batch of inputs (float32, on the CPU).
        maximize: whether a larger ``metric`` is better (the drop is then its fall).
    """
    import numpy as np
    import torch
    from sklearn.inspection import permutation_importance as shuffle_importance

    from orchestrator.tasks import task_of

    task = task_of(spec)
    base = x.numpy()
    sign = 1.0 if maximize else -1.0
    rows = np.repeat(np.arange(len(base))[:, None], len(groups), axis=1)

    def gathered(chosen: np.ndarray) -> torch.Tensor:
        out = base.copy()
        for g, (_, features) in enumerate(groups):
            out[:, features] = base[chosen[:, g].astype(np.int64)][:, features]
        return torch.from_numpy(out)

    class _Network:  # what scikit-learn shuffles for: a fitted estimator of row numbers
        def fit(self, *_: Any) -> _Network:
            return self

    def score(_: object, chosen: np.ndarray, _y: np.ndarray) -> float:
        report = task.score(outputs_of(gathered(chosen)), y, spec, decision=decision)
        return sign * float(report[metric])

    result = shuffle_importance(
        _Network(), rows, np.zeros(len(rows)), scoring=score, n_repeats=repeats, random_state=seed
    )
    return [
        ColumnImportance(name, float(mean), float(std))
        for (name, _), mean, std in zip(
            groups, result.importances_mean, result.importances_std, strict=True
        )
    ]
