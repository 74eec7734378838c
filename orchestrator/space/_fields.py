"""What a field of the config models takes: its kind (scalar, group, branch, layers, free-form),
its allowed values, and whether one value is valid for it."""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.space._messages import _errors, _explain, _json_problem, _rule, _show, _unknown


@dataclass(frozen=True)
class _Kind:
    """How a field may be written: a scalar, a group of settings, a named branch, layers, or a
    free-form mapping (``dict[str, Any]``, e.g. a custom model's ``params``)."""

    name: Literal["scalar", "group", "branch", "layers", "free"]
    model: type[BaseModel] | None = None  # group: the model; layers: the per-layer model
    names: dict[str, type[BaseModel]] = field(default_factory=dict)  # branch: name -> model
    list_only: bool = False  # layers: a list is required (no shared mapping)


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_strip(a) for a in get_args(annotation)]
    return [annotation]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _name_literals(model: type[BaseModel]) -> tuple[str, ...]:
    name = model.model_fields.get("name")
    if name is None or get_origin(name.annotation) is not Literal:
        return ()
    return tuple(get_args(name.annotation))


def _allows_none(annotation: Any) -> bool:
    return annotation is Any or type(None) in _members(annotation)


def _literals(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` field (``| None`` aside), else None."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if not members or any(get_origin(m) is not Literal for m in members):
        return None
    return tuple(v for m in members for v in get_args(m))


@functools.cache
def _kind(model: type[BaseModel], key: str) -> _Kind:
    members = [m for m in _members(model.model_fields[key].annotation) if m is not type(None)]
    if len(members) == 1 and get_origin(members[0]) is dict and get_args(members[0]) == (str, Any):
        return _Kind("free")
    models = [m for m in members if _is_model(m)]
    if members and len(models) == len(members):
        if all(_name_literals(m) for m in models):
            return _Kind("branch", names={n: m for m in models for n in _name_literals(m)})
        if len(models) == 1:
            return _Kind("group", model=models[0])
        return _Kind("scalar")
    lists = [m for m in members if get_origin(m) is list and len(get_args(m)) == 1]
    if len(lists) == 1 and _is_model(_strip(get_args(lists[0])[0])):
        item = _strip(get_args(lists[0])[0])
        others = [m for m in members if m is not lists[0]]
        if not others:
            return _Kind("layers", model=item, list_only=True)
        if others == [item]:
            return _Kind("layers", model=item)
    return _Kind("scalar")


@functools.cache
def _adapter(model: type[BaseModel], key: str) -> TypeAdapter[Any]:
    """The field's type alone, without its constraints."""
    return TypeAdapter(model.model_fields[key].annotation)


def _fits(model: type[BaseModel], key: str, value: Any) -> bool:
    """Whether the field's type (constraints aside) takes ``value`` as it is, without coercion."""
    try:
        _adapter(model, key).validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class _Verdict:
    """Why a value does not fit a field."""

    message: str
    rule: str | None = None  # the broken range constraint alone: "should be greater than 0"
    loc: tuple[Any, ...] = ()  # where inside the value, e.g. ("oom",) in a mapping


def _check(model: type[BaseModel], key: str, value: Any) -> _Verdict | None:
    """Whether ``value`` is valid for field ``key``: None, or why not.

    Booleans and numbers are not each other: ``epochs: true`` is not 1, ``normalize: 1`` is not
    true.
    """
    annotation = model.model_fields[key].annotation
    if value is None:
        if _allows_none(annotation):
            return None
        return _Verdict(f"null is not allowed for '{key}'")
    allowed = _literals(annotation)
    if allowed is not None:
        if any(type(value) is type(a) and value == a for a in allowed):
            return None
        return _Verdict(_unknown(str(key), value, allowed))
    keys = _literal_keys(annotation)
    if keys is not None and isinstance(value, Mapping):
        for name in value:
            if not any(type(name) is type(a) and name == a for a in keys):
                return _Verdict(_unknown("key", name, keys))
    try:
        # the model's own validation of this one field: its type, constraints and validators
        # (kernel_size must be odd); the other fields' errors and the rules between them aside
        model.model_validate({key: value}, strict=_strict(annotation, value))
    except ValidationError as exc:
        errors = [
            {**err, "loc": tuple(err["loc"])[1:]}
            for err in exc.errors(include_url=False)
            if tuple(err["loc"])[:1] == (key,)
        ]
        if errors:
            err = _errors(errors)[0]
            rule = _rule(err)
            if rule is not None:
                return _Verdict(f"got {_show(value)}, but the value {rule}", rule)
            return _Verdict(_explain(err), loc=tuple(err["loc"]))
    problem = _json_problem(value)
    return _Verdict(problem) if problem else None


def _strict(annotation: Any, value: Any) -> bool:
    """Whether to validate without coercion: for a boolean, and for a field of booleans."""
    members = [m for m in _members(annotation) if m is not type(None)]
    return isinstance(value, bool) or members == [bool]


def _literal_keys(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed keys of a ``dict[Literal[...], ...]`` field (``| None`` aside), else None."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) != 1 or get_origin(members[0]) is not dict:
        return None
    return _literals(get_args(members[0])[0])


def _literal_items(annotation: Any) -> tuple[Any, ...]:
    """The allowed values of a field that takes ``Literal[...]`` or a list of them."""
    values: list[Any] = []
    for member in _members(annotation):
        if get_origin(member) is list:
            member = _strip(get_args(member)[0])
        if get_origin(member) is Literal:
            values += [v for v in get_args(member) if v not in values]
    return tuple(values)


def _is_param(value: Any) -> bool:
    return isinstance(value, Mapping) and "type" in value


def _families() -> dict[str, str]:
    from orchestrator.models import FAMILIES

    return FAMILIES


def _family_config(name: str) -> type[BaseModel]:
    from orchestrator.models import family_config

    return family_config(name)


class _FreeValue(BaseModel):
    """Stands for one free-form setting (an entry of ``model.params``): any JSON value."""

    value: Any = None
