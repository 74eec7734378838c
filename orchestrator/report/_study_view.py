"""The study as Optuna's plot functions read it: :class:`StudyView`, a study holding the trials
the report gives it, never copied; a seeded sample of a large study's trials for the plots that
draw one line, point or bar per trial; and Optuna's importance evaluators imported without
scikit-learn. Imported where a plot is drawn (it imports optuna)."""

from __future__ import annotations

import random
import sys
from collections.abc import Container, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import optuna

from orchestrator.storage._optuna import storage_of

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["StudyView", "optuna_importance", "sample_of"]


class StudyView(optuna.Study):
    """``study`` with only ``trials``, which are never copied: Optuna's plots ask for copies (the
    optimization history for a deep copy of every trial, its attributes included: seconds at
    10,000 trials), and nothing in the report changes a trial. The trials keep their numbers;
    the name, directions and storage are the study's, the metric names ``metric_names``."""

    def __init__(
        self, study: optuna.Study, trials: Sequence[FrozenTrial], *, metric_names: Sequence[str]
    ) -> None:
        super().__init__(
            study_name=study.study_name,
            storage=storage_of(study),
            sampler=optuna.samplers.RandomSampler(seed=0),  # never asked: nothing is sampled
        )
        self._view_trials = sorted(trials, key=lambda t: t.number)
        self._view_metrics = list(metric_names)

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        if states is None:
            return list(self._view_trials)
        return [t for t in self._view_trials if t.state in states]

    @property
    def metric_names(self) -> list[str] | None:
        return list(self._view_metrics)


def sample_of(trials: Sequence[FrozenTrial], size: int, *, seed: int) -> list[FrozenTrial]:
    """``size`` of ``trials`` drawn at random with ``seed`` (the same trials give the same
    sample), by number; every trial when there are no more than ``size``."""
    ordered = sorted(trials, key=lambda t: t.number)
    if len(ordered) <= size:
        return ordered
    return sorted(random.Random(seed).sample(ordered, size), key=lambda t: t.number)


def optuna_importance() -> ModuleType:
    """``optuna.importance``, imported without scikit-learn when nothing imported it yet.

    Optuna imports scikit-learn with it (for its fANOVA and mean-decrease-impurity evaluators,
    which hpo does not use: it asks for PED-ANOVA), about 1.5 s, and so does every plot module
    of ``optuna.visualization``. Refused here, that import fails inside Optuna's ``try_import``,
    which keeps the error until one of those two evaluators is used; scikit-learn itself stays
    importable for everything else.
    """
    if "optuna.importance" not in sys.modules and "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # import refused
        try:
            import optuna.importance  # noqa: F401
        finally:
            if sys.modules.get("sklearn", 0) is None:
                del sys.modules["sklearn"]
    import optuna.importance as importance

    return importance
