"""A narrower search space from a finished study (``hpo refine``): where its best trials went.

From the stored space and the study's best trials (its top :data:`TOP_SHARE`, at least
:data:`MIN_TOP`): a numeric range becomes the span its best trials used, padded by
:data:`PADDING` of that span on each side (in log space for a log parameter) and kept inside the
old range; categorical choices (branches too) become those the best trials used; a parameter
that Optuna's importance (``optuna.importance``, its default evaluator) rates below
:data:`UNIMPORTANT` of the total (with at least :data:`MIN_FOR_IMPORTANCE` completed trials),
or that the best trials all gave one value, is fixed at the best trial's value (floats to 4
significant digits). Every change is said in the new file's header, with why. The new study
names its parent: it warm-starts from the parent's best trials that fit the narrowed space
(``study.warm_start``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StudyError

if TYPE_CHECKING:
    import optuna

    from orchestrator.space import ParamSpec

__all__ = ["Change", "Refined", "refine_space"]

TOP_SHARE = 0.2  # the study's best trials the new ranges follow
MIN_TOP = 3
PADDING = 0.1  # of the best trials' span, on each side
UNIMPORTANT = 0.01  # of the total importance: below this a parameter is fixed ...
MIN_FOR_IMPORTANCE = 10  # ... when at least this many trials completed (fewer: too noisy)


@dataclass(frozen=True)
class Change:
    path: str  # the setting's place in the file: train.optimizer.choices.adamw.lr
    before: str
    after: str
    why: str


@dataclass(frozen=True)
class Refined:
    raw: dict[str, Any]  # the new space, as a mapping
    changes: list[Change]
    top: list[int]  # the trials it follows
    parent: str

    def yaml(self) -> str:
        """The new space file: the changes and their reasons as comments, then the space."""
        import yaml

        head = [
            f"# Refined from study '{self.parent}' by hpo refine: its best {len(self.top)} "
            f"trials ({', '.join(f'#{n}' for n in self.top)}) set these changes:",
        ]
        head += [f"#   {c.path}: {c.before} -> {c.after} ({c.why})" for c in self.changes]
        if not self.changes:
            head.append("#   none: the best trials used the whole space")
        head.append(
            "# It warm-starts from the parent's best trials that fit it (study.warm_start)."
        )
        body = yaml.safe_dump(self.raw, sort_keys=False, default_flow_style=None, width=100)
        return "\n".join(head) + "\n" + body


def refine_space(
    study: optuna.Study, *, name: str | None = None, top_share: float = TOP_SHARE
) -> Refined:
    """The narrowed space of ``study`` (see the module docstring); ``name`` the new study's
    (default ``<parent>-refined``).

    Raises:
        StudyError: no stored space, or fewer than :data:`MIN_TOP` completed trials.
    """
    from orchestrator.study._queries import stored_space
    from orchestrator.study._ranking import directions_of, rank_trials

    space = stored_space(study)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < MIN_TOP:
        raise StudyError(
            f"study '{study.study_name}' has {len(complete)} completed trials; refining follows "
            f"its best ones and needs at least {MIN_TOP}"
        )
    ranked = [t for _, t in rank_trials(complete, directions_of(study))]
    best = ranked[: max(MIN_TOP, math.ceil(top_share * len(ranked)))]
    importances = _importances(study) if len(complete) >= MIN_FOR_IMPORTANCE else {}
    raw = copy.deepcopy(space.raw)
    changes: list[Change] = []
    groups: dict[str, list[ParamSpec]] = {}
    for spec in space.parameters():
        groups.setdefault(spec.path, []).append(spec)
    for path, specs in groups.items():
        values = [t.params[s.name] for t in best for s in specs if s.name in t.params]
        if not values:
            continue  # a branch none of the best trials took: its branch choice says so
        first = specs[0]
        winner = next((ranked[0].params[s.name] for s in specs if s.name in ranked[0].params), None)
        share = max(importances.get(s.name, 1.0) for s in specs)
        change = _narrow(first, values, winner=winner, importance=share)
        if change is not None:
            new, words = change
            before = first.describe()
            _place(raw, path, new)
            after = _describe(new) if isinstance(new, dict) else repr(new)
            changes.append(Change(path, before, str(after), words))
    study_section = raw.setdefault("study", {})
    study_section["name"] = name or f"{study.study_name}-refined"
    study_section["warm_start"] = {"study": study.study_name, "top": len(best)}
    return Refined(raw=raw, changes=changes, top=[t.number for t in best], parent=study.study_name)


def _importances(study: optuna.Study) -> dict[str, float]:
    """Each parameter's share of the importance Optuna gives them, {} where it cannot."""
    import warnings

    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except Exception:  # too few trials, one parameter, a dynamic space Optuna refuses
        return {}
    total = sum(found.values()) or 1.0
    return {k: v / total for k, v in found.items()}


def _narrow(
    spec: ParamSpec, values: Sequence[Any], *, winner: Any, importance: float
) -> tuple[Any, str] | None:
    """The new entry for ``spec`` (a parameter mapping, or a fixed value) and why; None to keep
    it as it is."""
    if importance < UNIMPORTANT and winner is not None:
        value = float(f"{winner:.4g}") if isinstance(winner, float) else winner
        return value, f"importance {importance:.1%}: fixed at the best trial's value"
    if spec.type == "categorical":
        used = [c for c in spec.choices if any(v == c and type(v) is type(c) for v in values)]
        if len(used) == len(spec.choices):
            return None
        if len(used) == 1:
            return used[0], "the best trials all chose it"
        return {"type": "categorical", "choices": used}, "the choices the best trials made"
    low, high = min(values), max(values)
    if low == high:
        return low, "the best trials all gave it this value"
    if spec.log:
        a, b = math.log(low), math.log(high)
        pad = PADDING * (b - a)
        new_low, new_high = math.exp(a - pad), math.exp(b + pad)
    else:
        pad = PADDING * (high - low)
        new_low, new_high = low - pad, high + pad
    new_low, new_high = max(new_low, float(spec.low)), min(new_high, float(spec.high))
    if spec.type == "int":
        step = int(spec.step or 1)
        base = int(spec.low)
        new_low = base + math.floor((new_low - base) / step) * step
        new_high = base + math.ceil((new_high - base) / step) * step
        new_low, new_high = max(int(new_low), int(spec.low)), min(int(new_high), int(spec.high))
    else:
        new_low, new_high = float(f"{new_low:.4g}"), float(f"{new_high:.4g}")
        new_low, new_high = max(new_low, float(spec.low)), min(new_high, float(spec.high))
    if (new_low, new_high) == (spec.low, spec.high):
        return None
    entry: dict[str, Any] = {"type": spec.type, "low": new_low, "high": new_high}
    if spec.step is not None:
        entry["step"] = spec.step
        if spec.type == "float":  # the span must stay a whole number of steps from low
            steps = math.floor((new_high - new_low) / spec.step + 1e-9)
            entry["high"] = new_low + steps * spec.step
    if spec.log:
        entry["log"] = True
    return entry, f"the span of the best trials, padded {PADDING:.0%}"


def _describe(entry: dict[str, Any]) -> str:
    if entry["type"] == "categorical":
        return f"categorical {entry['choices']}"
    text = f"{entry['type']} [{entry['low']!r}, {entry['high']!r}]"
    return text + (" log" if entry.get("log") else "")


def _place(raw: dict[str, Any], path: str, new: Any) -> None:
    """Put ``new`` at the dotted ``path`` of the space's mapping. A branch choice keeps the
    mappings of the branches it keeps; fixed, it becomes that branch's mapping."""
    keys = path.split(".")
    parent = raw
    walk = iter(keys[:-1])
    for key in walk:
        if key == "choices" and "choices" not in parent:  # a branch fixed already: its mapping
            next(walk)  # the branch's name
            continue
        parent = parent[key]
    old = parent[keys[-1]]
    branches = old.get("choices") if isinstance(old, dict) else None
    if isinstance(branches, dict):  # a choice between named branches
        if isinstance(new, dict):
            old["choices"] = {k: v for k, v in branches.items() if k in new["choices"]}
            return
        parent[keys[-1]] = {"name": new, **(branches.get(new) or {})}
        return
    if isinstance(old, dict) and isinstance(new, dict):
        kept = {k: v for k, v in old.items() if k not in ("low", "high", "choices", "step", "log")}
        parent[keys[-1]] = {**kept, **new}
        return
    parent[keys[-1]] = new
