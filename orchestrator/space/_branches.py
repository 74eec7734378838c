"""Settings chosen by name (``train.optimizer``: a fixed name or named branches, each with its own
sub-parameters) and per-layer settings (a list, a shared mapping, or ``repeat: <depth key>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from orchestrator.space._fields import _is_param, _Kind
from orchestrator.space._messages import _article, _Collector, _show, _unknown, _unknown_field
from orchestrator.space._model import (
    _INVALID,
    ParamSpec,
    _and,
    _At,
    _Branch,
    _Fixed,
    _Group,
    _Invalid,
    _List,
    _Node,
    _Param,
    _Repeat,
)
from orchestrator.space._params import CategoricalParam

_MAX_LAYERS = 1024  # per-layer parameters are listed for each possible index


class _BranchRules(_Collector):
    """The builder's part that reads named branches and per-layer settings."""

    def group(
        self,
        mapping: Mapping[Any, Any],
        model: type[BaseModel],
        at: _At,
        *,
        preset: Mapping[str, _Node] | None = None,
    ) -> _Group:
        """The settings of ``model`` in ``mapping``: defined by the builder that mixes this in."""
        raise NotImplementedError

    def branch(self, value: Any, kind: _Kind, at: _At, *, key: str) -> _Node:
        names = kind.names
        valid = sorted(names)
        single = len(set(names.values())) == 1  # one model with a `name` literal (schedule)
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            self.report(
                at.path,
                f"expected {_article(key)} name (one of {', '.join(valid)}), a mapping with "
                f"'name', or {{type: categorical, choices: {{...}}}}, got "
                f"{_show(value, typed=True)}",
            )
            return _INVALID
        if _is_param(value):
            return self.branch_choice(value, kind, at, key=key)
        if "name" not in value:
            if single:
                return self.group(value, next(iter(names.values())), at)
            self.report(at.path, f"missing 'name'; add name: <one of {', '.join(valid)}>")
            return _INVALID
        name = value["name"]
        if _is_param(name):
            self.report(
                f"{at.path}.name",
                f"the {key} name cannot be searched on its own, since each {key} has its own "
                f"settings; write {key}: {{type: categorical, choices: {{{valid[0]}: {{}}, ...}}}}",
            )
            return _INVALID
        if not isinstance(name, str) or name not in names:
            self.report(f"{at.path}.name", _unknown(key, name, valid))
            return _INVALID
        rest = {k: v for k, v in value.items() if k != "name"}
        return self.group(rest, names[name], at, preset={"name": _Fixed(name, f"{at.name}.name")})

    def branch_choice(self, spec: Mapping[Any, Any], kind: _Kind, at: _At, *, key: str) -> _Node:
        """``{type: categorical, choices: {sgd: {...}, adamw: {...}}}`` (or a list of names)."""
        names = kind.names
        valid = sorted(names)
        if spec["type"] != "categorical":
            self.report(
                at.path,
                f"the {key} is chosen by name, so only type: categorical fits, e.g. "
                f"{{type: categorical, choices: {{{valid[0]}: {{}}, {valid[-1]}: {{}}}}}}; "
                f"got type {_show(spec['type'])}",
            )
            return _INVALID
        start = len(self.problems)
        fields = tuple(CategoricalParam.model_fields)
        for name in spec:
            if name not in fields:
                self.report(at.path, _unknown_field("categorical", name, fields, listed=False))
        choices = spec.get("choices")
        if isinstance(choices, list) and all(isinstance(c, str) for c in choices):
            choices = {c: None for c in choices}
        if not isinstance(choices, Mapping):
            self.report(
                at.path,
                f"choices must map each {key} name to its settings, e.g. "
                f"{{{valid[0]}: {{lr: 0.01}}, {valid[-1]}: {{}}}}, or list names; "
                f"got {_show(choices, typed=True)}",
            )
            return _INVALID
        if not choices:
            self.report(at.path, "choices is empty; give at least one value")
            return _INVALID
        groups: dict[str, _Group] = {}
        for name, sub in choices.items():
            where = at.child("choices").child(name)
            if name not in names:
                self.report(where.path, _unknown(key, name, valid))
                continue
            if sub is None:
                sub = {}
            if not isinstance(sub, Mapping):
                self.report(
                    where.path,
                    f"branch '{name}' needs a mapping of its settings ({{}} for none), "
                    f"got {_show(sub, typed=True)}",
                )
                continue
            if "name" in sub:
                self.report(
                    f"{where.path}.name", f"the branch key '{name}' already names it; remove name"
                )
                sub = {k: v for k, v in sub.items() if k != "name"}
            branch_at = _At(
                path=where.path,
                name=f"{at.name}.{name}",
                condition=_and(at.condition, f"{at.name} == {name}"),
            )
            preset = {"name": _Fixed(name, f"{branch_at.name}.name", listed=False)}
            groups[str(name)] = self.group(sub, names[name], branch_at, preset=preset)
        if len(self.problems) > start:
            return _INVALID
        spec_out = ParamSpec(
            name=at.name,
            type="categorical",
            choices=tuple(groups),
            condition=at.condition,
            path=at.path,
        )
        return _Branch(spec_out, groups)

    # -- per-layer settings --

    def layers(self, value: Any, kind: _Kind, at: _At, *, key: str) -> _Node:
        assert kind.model is not None
        if isinstance(value, list):
            items: list[_Node] = []
            for index, item in enumerate(value):
                item_at = at.child(index)
                if not isinstance(item, Mapping):
                    self.report(
                        item_at.path,
                        f"expected a mapping of one layer's settings, got {_show(item)}",
                    )
                    items.append(_INVALID)
                else:
                    items.append(self.group(item, kind.model, item_at))
            return _List(tuple(items))
        shape = "a list with one mapping per layer, or a mapping with repeat: <depth key>"
        if not kind.list_only:
            shape = f"a mapping shared by every layer, {shape}"
        if not isinstance(value, Mapping):
            self.report(at.path, f"'{key}' takes {shape}; got {_show(value, typed=True)}")
            return _INVALID
        if _is_param(value):
            self.report(
                at.path,
                f"'{key}' holds per-layer settings, not one value; search the settings inside it "
                "(with repeat: depth for a value per layer)",
            )
            return _INVALID
        if kind.list_only:
            self.report(at.path, f"'{key}' takes {shape}")
            return _INVALID
        return self.group(value, kind.model, at)

    def repeat(
        self,
        spec: Mapping[Any, Any],
        kind: _Kind,
        parent: _At,
        *,
        key: str,
        siblings: Mapping[str, _Node],
    ) -> _Node:
        """``{repeat: depth, <layer settings>}``: one group per layer index up to max depth."""
        assert kind.model is not None
        at = parent.child(key)
        count = spec["repeat"]
        rest = {k: v for k, v in spec.items() if k != "repeat"}
        template = self.group(rest, kind.model, at)
        where = f"{at.path}.repeat"
        if not isinstance(count, str) or count == key or count not in siblings:
            self.report(
                where,
                f"repeat: {_show(count)} is not a key of this mapping; repeat names the integer "
                f"sibling that holds the number of layers: add it beside '{key}' "
                "(a fixed integer or an int parameter), e.g. depth: {type: int, low: 1, high: 4}",
            )
            return _INVALID
        counter = siblings[count]
        if isinstance(counter, _Invalid):
            return _INVALID  # its own problem is reported already
        span = _count_range(counter)
        if span is None:
            got = counter.spec.describe() if isinstance(counter, _Param) else None
            if isinstance(counter, _Fixed):
                got = _show(counter.value, typed=True)
            self.report(
                where,
                f"repeat: '{count}' must be a fixed integer, an int parameter or a categorical "
                f"of integers, got {got or 'a mapping'}",
            )
            return _INVALID
        low, high = span
        if high > _MAX_LAYERS:
            self.report(
                where,
                f"repeat: '{count}' can reach {high}; per-layer settings allow at most "
                f"{_MAX_LAYERS} layers",
            )
            return _INVALID
        count_name = parent.child(count).name
        layers: list[_Group] = []
        for index in range(max(high, 0)):
            condition = None if index < low else f"{count_name} >= {index + 1}"
            layer_at = _At(at.path, f"{at.name}.{index}", _and(at.condition, condition))
            layers.append(type(self)().group(rest, kind.model, layer_at))  # problems: template's
        return _Repeat(count, template, tuple(layers))


def _count_range(node: _Node) -> tuple[int, int] | None:
    """The smallest and largest number of layers a counter can give, or None if not integer."""
    if (
        isinstance(node, _Fixed)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        return node.value, node.value
    if isinstance(node, _Param):
        spec = node.spec
        if spec.type == "int":
            return int(spec.low or 0), int(spec.high or 0)
        ints = [c for c in spec.choices if isinstance(c, int) and not isinstance(c, bool)]
        if spec.type == "categorical" and len(ints) == len(spec.choices):
            return min(ints), max(ints)
    return None
