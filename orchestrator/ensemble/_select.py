"""Caruana's ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004; as
auto-sklearn and AutoGluon's WeightedEnsemble use it): forward selection with replacement from a
library of models' predictions on the same rows, from a sorted initialisation, for one metric.

Pure NumPy around a scoring function: :func:`select` knows nothing of trials or tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Selection", "select"]


@dataclass(frozen=True)
class Selection:
    """The ensemble chosen: how often each model was picked, and the score along the way."""

    counts: list[int]  # per model of the library, in its order
    score: float  # of the final ensemble
    history: list[float]  # the ensemble's score after each pick

    @property
    def weights(self) -> list[float]:
        """Each model's share of the average (counts over the ensemble's size)."""
        total = sum(self.counts)
        return [c / total for c in self.counts]


def select(
    predictions: Sequence[np.ndarray],
    score: Callable[[np.ndarray], float],
    *,
    maximize: bool,
    size: int = 20,
    init: int = 1,
    tiebreak: Callable[[np.ndarray], float] | None = None,
) -> Selection:
    """Pick ``size`` models, with replacement, whose averaged predictions score best.

    The ensemble starts with the ``init`` best models on their own (sorted initialisation); each
    step then adds the model (any, again included) whose addition scores best, ties to the
    earlier model. The library is scored once model by model, then once per candidate per step.
    A coarse metric (accuracy over a few hundred rows) ties often; ``tiebreak``, a loss (smaller
    is better: log loss for classes), then decides between the tied candidates.

    Args:
        predictions: each model's predictions of the same rows, of one shape.
        score: the metric of averaged predictions (larger is better with ``maximize``).
        size: picks in all, initialisation included.
        init: the best models that start it (at most ``size``).
        tiebreak: a loss of averaged predictions that orders candidates tied on ``score``.

    Raises:
        ValueError: an empty library, predictions of different shapes, or ``size < 1``.
    """
    import numpy as np

    if not predictions:
        raise ValueError("ensemble selection needs at least one model")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    stack = [np.asarray(p, dtype=np.float64) for p in predictions]
    if len({p.shape for p in stack}) > 1:
        raise ValueError(f"predictions of different shapes: {sorted({p.shape for p in stack})}")
    sign = 1.0 if maximize else -1.0

    def better(value: float) -> float:  # NaN is worst
        return -np.inf if np.isnan(value) else sign * value

    def second(values: list[float], candidates: list[np.ndarray]) -> list[float]:
        # the tiebreak (larger is better) of the candidates tied on the best value; 0 elsewhere
        top = max(values)
        keys = [0.0] * len(candidates)
        if tiebreak is None or not np.isfinite(top):
            return keys
        for i, value in enumerate(values):
            if value == top:
                loss = tiebreak(candidates[i])
                keys[i] = -np.inf if np.isnan(loss) else -loss
        return keys

    alone = [better(score(p)) for p in stack]
    tie = second(alone, stack)
    order = sorted(range(len(stack)), key=lambda i: (-alone[i], -tie[i], i))
    counts = [0] * len(stack)
    total = np.zeros_like(stack[0])
    history: list[float] = []
    for i in order[: max(1, min(init, size))]:
        counts[i] += 1
        total += stack[i]
        history.append(score(total / sum(counts)))
    while sum(counts) < size:
        n = sum(counts) + 1
        candidates = [(total + p) / n for p in stack]
        trials = [better(score(c)) for c in candidates]
        tie = second(trials, candidates)
        best = max(range(len(stack)), key=lambda i: (trials[i], tie[i], -i))
        counts[best] += 1
        total += stack[best]
        history.append(sign * trials[best] if np.isfinite(trials[best]) else float("nan"))
    return Selection(counts=counts, score=history[-1], history=history)
