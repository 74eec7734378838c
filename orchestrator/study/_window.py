"""A sampler that learns from a window of the study: :class:`WindowedSampler`.

TPE (and the GP sampler) fit their models over every finished trial, so the time to sample one
trial grows with the study: at 2,000 trials TPE spends most of a trial's bookkeeping in Python
loops over the history. The window keeps what the model needs: the most recent ``window``
finished trials (TPE's own default weights already give older trials less say) and the best
tenth of that many by the first objective, whenever they ran, so that no good region is
forgotten; trials still running are kept (constant liar). Studies shorter than the window are
sampled exactly as without it.

What TPE learns its "good" density from is its best ``gamma(n)`` trials, at most 25 by default:
with a window of 250 or more, the best tenth kept holds them all, so that density is the one it
would fit over the whole study; only the "rest" density, where TPE's weights already give old
trials little say, sees fewer of them.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from optuna.samplers import BaseSampler

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["WindowedSampler", "kept_numbers", "window_of"]


def window_of(trials: Sequence[FrozenTrial], size: int, directions: Sequence[str]) -> list:
    """The trials a windowed sampler learns from (see the module's docstring), by number."""
    finished = [t for t in trials if t.state.is_finished()]
    if len(finished) <= size:
        return list(trials)
    keep = kept_numbers(finished, size, directions)
    return [t for t in trials if t.number in keep or not t.state.is_finished()]


def kept_numbers(finished: Sequence[FrozenTrial], size: int, directions: Sequence[str]) -> set:
    """The numbers of the finished trials a window of ``size`` keeps: the most recent ``size``
    and the best tenth of that many by the first objective."""
    from optuna.trial import TrialState

    keep = {t.number for t in sorted(finished, key=lambda t: t.number)[-size:]}
    done = [t for t in finished if t.state == TrialState.COMPLETE and t.values]
    sign = -1.0 if directions[0] == "maximize" else 1.0
    keep |= {t.number for t in sorted(done, key=lambda t: sign * t.values[0])[: size // 10]}
    return keep


class _Window:
    """The study as a windowed sampler sees it: every attribute its own, but its trials."""

    def __init__(self, study: optuna.Study, sampler: WindowedSampler) -> None:
        self._study = study
        self._sampler = sampler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        import copy

        trials = self._study._get_trials(deepcopy=False, states=None, use_cache=use_cache)
        windowed = self._sampler.windowed(trials, self._study)
        if states is not None:
            windowed = [t for t in windowed if t.state in states]
        return copy.deepcopy(windowed) if deepcopy else windowed

    def get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()


class WindowedSampler(BaseSampler):
    """``sampler``, learning from a window of ``size`` trials of the study (plus the best)."""

    def __init__(self, sampler: BaseSampler, size: int) -> None:
        if size < 10:
            raise ValueError(f"a sampler's window must hold at least 10 trials, got {size}")
        self.sampler = sampler
        self.size = size
        self._last: tuple[tuple[int, int], set[int]] | None = None

    def windowed(self, trials: list[FrozenTrial], study: optuna.Study) -> list[FrozenTrial]:
        """:func:`window_of` ``trials``. A sampler reads the study several times for one trial,
        each time with the running trials as new objects; which finished trials the window keeps
        is worked out again only when a trial was added or finished (finished trials never
        change, so the same counts mean the same finished trials)."""
        from optuna.trial import TrialState

        running, waiting = TrialState.RUNNING, TrialState.WAITING  # the unfinished states
        n_open = sum(1 for t in trials if t.state is running or t.state is waiting)
        if len(trials) - n_open <= self.size:
            return list(trials)
        key = (len(trials), n_open)
        if self._last is None or self._last[0] != key:
            finished = [t for t in trials if t.state.is_finished()]
            directions = [d.name.lower() for d in study.directions]
            self._last = (key, kept_numbers(finished, self.size, directions))
        keep = self._last[1]
        return [t for t in trials if t.state is running or t.state is waiting or t.number in keep]

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(_Window(study, self), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler.sample_relative(_Window(study, self), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.sampler.sample_independent(
            _Window(study, self), trial, param_name, param_distribution
        )

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
