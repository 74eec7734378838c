"""The builder: validates a raw mapping into a node tree, collecting every problem on the way.

The sections and mappings of settings live here; search parameters come from ``_params``, named
branches and per-layer settings from ``_branches``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestrator.config import (
    METRICS,
    PRUNERS,
    SAMPLERS,
    DataConfig,
    StudyConfig,
    TrainConfig,
)
from orchestrator.space._branches import _BranchRules
from orchestrator.space._fields import (
    _check,
    _families,
    _family_config,
    _FreeValue,
    _is_param,
    _kind,
    _literal_items,
)
from orchestrator.space._messages import _json_problem, _show, _unknown
from orchestrator.space._model import (
    _INVALID,
    _At,
    _default_name,
    _Fixed,
    _Group,
    _Node,
    _Param,
    _searches,
)
from orchestrator.space._params import read_param
from orchestrator.space._sample import _resolve

SECTIONS = ("study", "data", "model", "train")

# the study settings that name objectives: their valid names, and what else each takes
_OBJECTIVES = {
    "metric": (sorted(METRICS), "or a list of them for several objectives"),
    "direction": (
        _literal_items(StudyConfig.model_fields["direction"].annotation),
        "or a list of them, one per metric",
    ),
}


class _NoTrial:
    """Stands in for a trial where nothing is sampled (fully fixed groups)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a fixed group asked to {name}")  # pragma: no cover


class _Builder(_BranchRules):
    """Validates a raw mapping into a node tree, collecting every problem on the way."""

    # -- top level --

    def space(self, raw: Any, *, source: str) -> tuple[_Group | None, StudyConfig | None]:
        if raw is None:
            self.report("", "the file is empty; a search space needs at least model: {family: ...}")
            return None, None
        if not isinstance(raw, dict):
            self.report(
                "",
                f"expected a mapping with the sections {', '.join(SECTIONS)}, "
                f"got {_show(raw, typed=True)}",
            )
            return None, None
        for key in raw:
            if key not in SECTIONS:
                self.report(str(key), _unknown("section", key, SECTIONS))
        study = self.study(raw.get("study"), source=source)
        sections: dict[str, _Node] = {}
        for key in (*[k for k in raw if k in SECTIONS and k != "study"], "data", "model", "train"):
            if key in sections:
                continue
            value = raw.get(key)
            if value is None:
                value = {}
            if not isinstance(value, dict):
                self.report(key, f"expected a mapping of {key} settings, got {_show(value)}")
                sections[key] = _INVALID
            elif key == "model":
                sections[key] = self.model(value, present="model" in raw)
            else:
                model = DataConfig if key == "data" else TrainConfig
                sections[key] = self.group(value, model, _At(key, key))
        return _Group(sections), study

    def study(self, value: Any, *, source: str) -> StudyConfig | None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.report("study", f"expected a mapping of study settings, got {_show(value)}")
            return None
        start = len(self.problems)
        fields = StudyConfig.model_fields
        data: dict[str, Any] = {}
        for key, item in value.items():
            path = f"study.{key}"
            if key not in fields:
                self.report(path, _unknown("key", key, sorted(fields)))
            elif _is_param(item):
                self.report(
                    path,
                    "study settings are fixed; search parameters belong in data, model and "
                    "train; give one value",
                )
            elif key in ("sampler", "pruner"):
                option = self.named_option(item, key, SAMPLERS if key == "sampler" else PRUNERS)
                if option is not None:
                    data[key] = option
            elif key in _OBJECTIVES and item is not None:
                if self.objectives(item, key):
                    data[key] = item
            elif self.fits(StudyConfig, key, item, path):
                data[key] = item
        # each setting that passed is validated again by the model: its own rules (a duration),
        # then the rules between settings, which mean nothing while one of them is wrong
        try:
            study = StudyConfig.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if len(self.problems) > start:
                errors = [err for err in errors if err["loc"]]
            self.report_errors("study", errors)
            return None
        if len(self.problems) > start:
            return None
        if study.name is None:
            study = study.model_copy(update={"name": _default_name(source)})
        return study

    def objectives(self, value: Any, key: str) -> bool:
        """``metric`` or ``direction``: a name, or a list of names (one per objective)."""
        valid, also = _OBJECTIVES[key]
        if not isinstance(value, (str, list)):
            self.report(
                f"study.{key}",
                f"expected a {key} name or a list of them, got {_show(value, typed=True)}",
            )
            return False
        names = value if isinstance(value, list) else [value]
        wrong = [n for n in names if not isinstance(n, str) or n not in valid]
        for name in wrong:
            self.report(f"study.{key}", _unknown(key, name, valid, also=also))
        return not wrong

    def named_option(self, value: Any, key: str, valid: Sequence[str]) -> dict[str, Any] | None:
        """``tpe`` or ``{name: tpe, <option>: value}`` -> ``{"name": ..., "options": {...}}``."""
        path = f"study.{key}"
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            self.report(
                path,
                f"expected a {key} name (one of {', '.join(valid)}) or a mapping "
                f"{{name: ..., <option>: value}}, got {_show(value, typed=True)}",
            )
            return None
        if "name" not in value:
            self.report(path, f"missing 'name'; add one of {', '.join(valid)}")
            return None
        name = value["name"]
        if name not in valid:
            self.report(f"{path}.name", _unknown(key, name, valid))
            return None
        options = {k: v for k, v in value.items() if k != "name"}
        if isinstance(options.get("options"), dict):  # {name: tpe, options: {...}} also reads well
            options.update(options.pop("options"))
        problem = _json_problem(options)
        if problem:
            self.report(path, problem)
            return None
        return {"name": name, "options": options}

    def model(self, value: dict[str, Any], *, present: bool) -> _Node:
        families = sorted(_families())
        if "family" not in value:
            hint = "add it" if present else "add the section"
            self.report(
                "model",
                f"missing 'family'; {hint}: model: {{family: <name>}} "
                f"(valid: {', '.join(families)})",
            )
            return _INVALID
        family = value["family"]
        if _is_param(family):
            self.report(
                "model.family",
                "the model family is fixed for a study; run one study per family",
            )
            return _INVALID
        if family not in families:
            self.report("model.family", _unknown("model family", family, families))
            return _INVALID
        return self.group(value, _family_config(family), _At("model", "model"))

    # -- mappings of settings --

    def group(
        self,
        mapping: Mapping[Any, Any],
        model: type[BaseModel],
        at: _At,
        *,
        preset: Mapping[str, _Node] | None = None,
    ) -> _Group:
        """The settings of ``model`` in ``mapping``; ``preset`` nodes are set by the caller."""
        start = len(self.problems)
        fields = model.model_fields
        nodes: dict[str, _Node] = dict(preset or {})
        valid = sorted(k for k in fields if k not in nodes)
        repeats: list[str] = []
        for key, value in mapping.items():
            if key not in valid:
                message = _unknown("key", key, valid)
                if key == "repeat":
                    message += "; repeat belongs inside a per-layer setting such as blocks"
                self.report(at.child(key).path, message)
                continue
            kind = _kind(model, key)
            if kind.name == "layers" and isinstance(value, Mapping) and "repeat" in value:
                repeats.append(key)
                nodes[key] = _INVALID  # keeps file order; filled in once its siblings are known
            else:
                nodes[key] = self.field(model, key, value, at.child(key))
        for key in repeats:
            nodes[key] = self.repeat(mapping[key], _kind(model, key), at, key=key, siblings=nodes)
        for key, info in fields.items():
            if info.is_required() and key not in nodes:
                self.report(at.path, f"missing required key '{key}'; add it")
        group = _Group(nodes)
        if len(self.problems) == start and not _searches(group):
            # fully fixed: the model's own cross-field rules can be checked now, not every trial
            try:
                model.model_validate(_resolve(group, _NoTrial(), {}))
            except ValidationError as exc:
                self.report_errors(at.path, exc.errors(include_url=False))
        return group

    def field(self, model: type[BaseModel], key: str, value: Any, at: _At) -> _Node:
        kind = _kind(model, key)
        if value is None or kind.name == "scalar":
            return self.scalar(model, key, value, at)
        if kind.name == "branch":
            return self.branch(value, kind, at, key=key)
        if kind.name == "layers":
            return self.layers(value, kind, at, key=key)
        if kind.name == "free":
            return self.free(value, at, key=key)
        assert kind.model is not None
        subkeys = ", ".join(sorted(kind.model.model_fields))
        if not isinstance(value, Mapping):
            self.report(
                at.path, f"expected a mapping of {key} settings ({subkeys}), got {_show(value)}"
            )
            return _INVALID
        if _is_param(value):
            self.report(
                at.path,
                f"'{key}' is a group of settings ({subkeys}), not one value; "
                "search its settings one by one instead",
            )
            return _INVALID
        return self.group(value, kind.model, at)

    def free(self, value: Any, at: _At, *, key: str) -> _Node:
        """The user's own settings (``model.params``): any keys, each value fixed or a search
        parameter, nested mappings alike; nothing is checked but the parameters' own rules."""
        if not isinstance(value, Mapping):
            self.report(at.path, f"'{key}' takes a mapping of settings, got {_show(value)}")
            return _INVALID
        if _is_param(value):
            self.report(
                at.path,
                f"'{key}' is a mapping of settings, not one value; search the settings inside "
                f"it, e.g. {key}: {{width: {{type: int, low: 16, high: 128}}}}",
            )
            return _INVALID
        nodes: dict[str, _Node] = {}
        for name, item in value.items():
            child = at.child(name)
            if not isinstance(name, str):
                self.report(child.path, f"key {_show(name)} must be a string; quote it")
            elif isinstance(item, Mapping) and not _is_param(item):
                nodes[name] = self.free(item, child, key=name)
            else:
                nodes[name] = self.scalar(_FreeValue, "value", item, child)
        return _Group(nodes)

    def scalar(self, model: type[BaseModel], key: str, value: Any, at: _At) -> _Node:
        if _is_param(value):
            return self.param(value, model, key, at)
        if not self.fits(model, key, value, at.path):
            return _INVALID
        return _Fixed(value, at.name)

    def fits(self, model: type[BaseModel], key: str, value: Any, path: str) -> bool:
        """Whether a fixed value fits the field ``key``; reports why not."""
        verdict = _check(model, key, value)
        if verdict is None:
            return True
        fix = "; give a value, or remove the key to use the default" if value is None else ""
        self.report(".".join([path, *map(str, verdict.loc)]), verdict.message + fix)
        return False

    def param(self, spec: Mapping[Any, Any], model: type[BaseModel], key: str, at: _At) -> _Node:
        """A search parameter, checked on its own and against the field ``key`` it feeds."""
        param, problems = read_param(spec, model=model, key=key)
        for problem in problems:
            self.report(at.path, problem)
        if param is None:
            return _INVALID
        spec = param.to_spec(at.name, condition=at.condition)
        return _Param(dataclasses.replace(spec, path=at.path))
