"""Resuming safely: the difference between a stored space and the one given now; warm starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, StudyError
from orchestrator.space import Space
from orchestrator.storage._optuna import study_attr
from orchestrator.study._attrs import ATTR_SPACE, ATTR_WARM_START
from orchestrator.study._queries import load_study, stored_space, with_objectives_of
from orchestrator.study._ranking import directions_of, objective_names, rank_trials

if TYPE_CHECKING:
    import optuna

__all__ = ["SpaceChange", "check_resume", "diff_spaces", "warm_start"]


@dataclass(frozen=True)
class SpaceChange:
    """One difference between the stored space of a study and the one given now."""

    name: str
    before: str
    after: str
    compatible: bool  # a new parameter or a wider range

    def describe(self) -> str:
        verdict = "compatible" if self.compatible else "incompatible"
        return f"{self.name}: {self.before} -> {self.after} ({verdict})"


def _wider(old: Any, new: Any) -> bool:
    if old.type != new.type:
        return False
    if old.type == "categorical":
        return set(map(repr, old.choices)) <= set(map(repr, new.choices))
    return (
        old.log == new.log and old.step == new.step and new.low <= old.low and new.high >= old.high
    )


def diff_spaces(before: Space, after: Space) -> list[SpaceChange]:
    """What changed in the searched space (the ``study`` section, how to search, is ignored).

    Compatible: new parameters, wider ranges, more choices. Anything else (a removed or narrowed
    parameter, a changed fixed value) would make old and new trials incomparable.
    """
    changes = []
    old = {p.name: p for p in before.parameters()}
    new = {p.name: p for p in after.parameters()}
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is None:
            changes.append(SpaceChange(name, "absent", b.describe(), True))
        elif b is None:
            changes.append(SpaceChange(name, a.describe(), "absent", False))
        elif a.describe() != b.describe():
            changes.append(SpaceChange(name, a.describe(), b.describe(), _wider(a, b)))
    fixed_a = {k: v for k, v in before.fixed_params().items() if not k.startswith("study.")}
    fixed_b = {k: v for k, v in after.fixed_params().items() if not k.startswith("study.")}
    for name in sorted(fixed_a.keys() | fixed_b.keys()):
        a, b = fixed_a.get(name, "absent"), fixed_b.get(name, "absent")
        if a != b:
            changes.append(SpaceChange(name, json.dumps(a), json.dumps(b), False))
    return changes


def check_resume(study: optuna.Study, space: Space, *, allow_space_change: bool) -> bool:
    """Whether ``space`` may resume ``study``; True when the stored space must be replaced.

    Reads the study only: a refusal leaves both stores untouched.

    Raises:
        StudyError: the study optimizes other objectives.
        ConfigError: the space changed (see :func:`diff_spaces`), unless allowed and compatible.
    """
    stored = directions_of(study)
    stored_metrics = objective_names(study)
    wanted = space.study
    if stored != wanted.directions or stored_metrics != wanted.metrics:
        before = ", ".join(f"{d} {m}" for d, m in zip(stored, stored_metrics, strict=False))
        now = ", ".join(f"{d} {m}" for d, m in zip(wanted.directions, wanted.metrics, strict=True))
        raise StudyError(
            f"study '{study.study_name}' was created to {before}, but the space asks to {now}; "
            "use another --study name"
        )
    return _check_space_change(study, space, allow=allow_space_change)


def check_stored(store: Any, name: str, space: Space, *, allow_space_change: bool = False) -> None:
    """Check ``space`` against the one study ``name`` was created with, as a resume would, and
    write nothing: for a study that has nothing left to run, so that a changed space is still
    said (``hpo run`` of a study at its budget).

    Raises:
        StudyError: the study optimizes other objectives.
        ConfigError: the space changed, unless allowed and compatible.
    """
    study = load_study(name, storage=store)
    check_resume(study, with_objectives_of(space, study), allow_space_change=allow_space_change)


def _check_space_change(study: optuna.Study, space: Space, *, allow: bool) -> bool:
    """Refuse a changed space on resume (with a readable diff); True when the stored one changes."""
    stored_raw = study_attr(study, ATTR_SPACE)
    if stored_raw is None:
        return True
    changes = diff_spaces(stored_space(study), space)
    if not changes:
        return False
    listing = "\n".join(f"  {c.describe()}" for c in changes)
    if not allow:
        raise ConfigError(
            f"{space.source}: the search space differs from the one study "
            f"'{study.study_name}' was created with:\n{listing}\n"
            "Use the original file, another --study name, or --allow-space-change "
            "(compatible changes only: new parameters, wider ranges)"
        )
    bad = [c for c in changes if not c.compatible]
    if bad:
        listing = "\n".join(f"  {c.describe()}" for c in bad)
        raise ConfigError(
            f"{space.source}: --allow-space-change accepts only new parameters and wider "
            f"ranges; these changes would make old and new trials incomparable:\n{listing}\n"
            "Use another --study name for this space"
        )
    return True


def warm_start(
    study: optuna.Study, space: Space, *, source: optuna.Study, top: int, fitting: bool = False
) -> list[int]:
    """Enqueue the best ``top`` configurations of study ``source`` (the study's own ranking),
    keeping only the parameters that exist in ``space`` (and values inside their current
    ranges); with ``fitting``, only the trials whose every parameter that ``space`` samples
    fits it (a narrowed space's parent's). Returns their numbers."""
    from optuna.trial import TrialState

    done = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = [t for _, t in rank_trials(done, directions_of(source))]
    specs = {p.name: p for p in space.parameters()}
    queued = []
    for trial in ranked[:top]:
        params = {k: v for k, v in trial.params.items() if k in specs and _inside(specs[k], v)}
        if fitting and len(params) < sum(1 for k in trial.params if k in specs):
            continue
        if not params:
            continue
        study.enqueue_trial(
            params,
            user_attrs={ATTR_WARM_START: f"{source.study_name}#{trial.number}"},
            skip_if_exists=True,
        )
        queued.append(trial.number)
    return queued


def _inside(spec: Any, value: Any) -> bool:
    if spec.type == "categorical":
        return any(value == c and type(value) is type(c) for c in spec.choices)
    return spec.low <= value <= spec.high
