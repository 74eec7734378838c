"""K-fold cross-validation over the rows a search may use (train and validation together; the
test split stays untouched): each fold's splits, and where its validation rows sit, so that the
folds' predictions make one out-of-fold prediction per row."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from orchestrator.data._spec import Splits

if TYPE_CHECKING:
    import numpy as np

__all__ = ["cv_folds", "searched_rows"]


def searched_rows(splits: Splits) -> tuple[object, object]:
    """The train and validation rows together (tensors ``x``, ``y``), train first: what
    cross-validation folds and what out-of-fold predictions cover, in this order."""
    import torch

    return (
        torch.cat([splits.train[0], splits.val[0]]),
        torch.cat([splits.train[1], splits.val[1]]),
    )


def cv_folds(splits: Splits, k: int, *, seed: int) -> list[tuple[Splits, np.ndarray]]:
    """``k`` folds of the train and validation rows: for each, the splits whose validation part
    is that fold and whose training part is the rest, and the fold's positions among
    :func:`searched_rows`. Stratified by class for classes (scikit-learn's ``StratifiedKFold``),
    plain ``KFold`` otherwise; shuffled, seeded by the study seed, so every trial of a study sees
    the same folds. The data stays standardised as the training split's statistics say."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    x, y = searched_rows(splits)
    state = seed % 2**32
    if splits.preprocessing.get("stratified"):
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=state).split(
            np.zeros(len(y)), y.numpy()
        )
    else:
        folds = KFold(n_splits=k, shuffle=True, random_state=state).split(np.zeros(len(y)))
    out = []
    for train_rows, val_rows in folds:
        train_rows, val_rows = np.sort(train_rows), np.sort(val_rows)
        train = (x[train_rows], y[train_rows])
        val = (x[val_rows], y[val_rows])
        out.append((dataclasses.replace(splits, train=train, val=val), val_rows))
    return out
