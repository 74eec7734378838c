"""orchestrator/explain/_importance.py: permutation importance of a table's original columns,
its one-hot features shuffled together, for the study's metric in its direction."""

from __future__ import annotations

import numpy as np
import torch

from orchestrator.data import DataSpec
from orchestrator.explain._importance import column_groups, permutation_importance

TABLE = {
    "encoding": {
        "type": "table",
        "columns": [
            {"name": "age", "kind": "numeric", "fill": 0.0},
            {"name": "colour", "kind": "categorical", "categories": ["blue", "green", "red"]},
            {"name": "noise", "kind": "numeric", "fill": 0.0},
        ],
    }
}


def test_a_categorical_column_is_one_group_of_its_one_hot_features() -> None:
    assert column_groups(TABLE, 5) == [("age", [0]), ("colour", [1, 2, 3]), ("noise", [4])]
    # a bundled table names its features; anything else is numbered
    assert column_groups({"feature_names": ["x", "y"]}, 2) == [("x", [0]), ("y", [1])]
    assert column_groups({}, 2) == [("feature 0", [0]), ("feature 1", [1])]


def _colour_table(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 3, size=n)
    x = np.zeros((n, 5), dtype=np.float32)
    x[:, 0] = rng.normal(size=n)
    x[np.arange(n), 1 + colour] = 1.0
    x[:, 4] = rng.normal(size=n)
    return torch.from_numpy(x), torch.from_numpy((colour == 2).astype(np.int64))


def test_the_column_that_decides_the_label_ranks_first() -> None:
    x, y = _colour_table()
    spec = DataSpec("features", (5,), 2, ["no", "yes"], task="binary")
    weights = torch.zeros(5, 2)
    weights[3, 1], weights[1, 0], weights[2, 0] = 4.0, 2.0, 2.0  # red says yes
    weights[0, 1] = 0.3  # age, a little

    ranked = permutation_importance(
        lambda inputs: inputs @ weights,
        x,
        y,
        spec=spec,
        groups=column_groups(TABLE, 5),
        metric="accuracy",
        maximize=True,
        repeats=4,
    )
    by_name = {c.column: c for c in ranked}
    assert [c.column for c in ranked] == ["age", "colour", "noise"]  # the groups' order
    assert by_name["colour"].mean > 0.3  # shuffling colour breaks the classifier
    assert by_name["noise"].mean == 0.0 and by_name["noise"].std == 0.0  # never used
    assert by_name["colour"].mean > by_name["age"].mean


def test_a_metric_to_minimise_counts_its_rise_as_importance() -> None:
    x, _ = _colour_table()
    target = (3.0 * x[:, 0]).reshape(-1, 1)
    spec = DataSpec("features", (5,), 1, ["y"], task="regression", target={"mean": 0.0, "std": 1.0})
    weights = torch.zeros(5, 1)
    weights[0, 0] = 3.0
    ranked = permutation_importance(
        lambda inputs: inputs @ weights,
        x,
        target.reshape(-1),
        spec=spec,
        groups=column_groups(TABLE, 5),
        metric="rmse",
        maximize=False,
    )
    assert ranked[0].column == "age" and ranked[0].mean > 1.0  # the rmse rises from 0
    assert ranked[1].mean == ranked[2].mean == 0.0
