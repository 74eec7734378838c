"""The search space: one YAML file, validated at once, sampled by Optuna one trial at a time.

The file format
===============

Four top-level sections, each optional except ``model``::

    study:   {...}   # how to search: fixed values only
    data:    {...}   # DataConfig fields
    model:   {...}   # `family` (required) plus that family's Config fields
    train:   {...}   # TrainConfig fields

Keys are exactly the pydantic field names of :mod:`orchestrator.config` and of the model family's
``Config``; anything left out keeps its default. Each value is either FIXED (a plain YAML value) or
a SEARCH PARAMETER in Optuna's own words::

    lr:         {type: float, low: 1.0e-5, high: 0.1, log: true}   # optional: step (not with log)
    batch_size: {type: int, low: 32, high: 256, step: 32}          # optional: step, log
    activation: {type: categorical, choices: [relu, gelu]}         # null, bools, numbers, strings

Conditional branches, for settings chosen by ``name`` (``train.optimizer``, ``train.schedule``):
``choices`` is a mapping of named alternatives, each with its own sub-parameters (fixed or search
parameters; ``{}`` or null for none). A branch's sub-parameters are suggested only when it is
chosen, and the setting resolves to ``{"name": <chosen>, **sub}``::

    optimizer:
      type: categorical
      choices:
        sgd:   {lr: {type: float, low: 1.0e-3, high: 0.3, log: true}, momentum: 0.9}
        adamw: {lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
        adam:  {}

``choices: [sgd, adamw]`` is short for branches without sub-parameters. The fixed form is a plain
mapping, ``optimizer: {name: adamw, lr: 0.001}`` (its other values may still be search
parameters), or just the name, ``schedule: cosine``.

Per-layer parameters after a sampled depth: a mapping with the reserved key ``repeat`` naming an
integer sibling (a fixed integer, an int parameter or a categorical of integers) resolves to a list
with one mapping per layer; layers at or beyond the sampled depth are never suggested::

    model:
      family: cnn
      depth: {type: int, low: 1, high: 4}
      blocks: {repeat: depth, channels: {type: int, low: 16, high: 64}, kernel_size: 3}

A mapping without ``repeat`` (``blocks: {channels: 32}``) is shared by every layer; a list gives
each layer its own mapping.

Free-form settings: a field that is a plain mapping (the custom family's ``model.params``) takes
any keys; each value is fixed or a search parameter (``model.params.width``), nested mappings
alike.

Optuna parameter names are the dotted paths: ``train.batch_size``, ``train.optimizer`` (the branch
choice), ``train.optimizer.sgd.lr`` (a branch's sub-parameters carry the branch name, since two
branches may give ``lr`` different ranges), ``model.blocks.0.channels`` (one per layer index).

``study`` takes fixed values only: ``name`` (default: the file's stem), ``metric`` (one of
``config.METRICS``), ``direction``, ``n_trials``, ``timeout`` (``"30m"``), ``seed``, and
``sampler``/``pruner``, each a name (``tpe``) or a mapping ``{name: tpe, <option>: value}`` whose
other keys become the constructor ``options``.

Overrides (``hpo run --set train.epochs=2``) are ``dotted.key=value`` strings, the value read as
YAML; they are applied to the file's mapping before validation and validated like the file.

Every problem in a file is reported at once (:class:`~orchestrator.errors.SpaceError`), each with
its dotted path, the value received, the rule and the fix. This module imports neither torch nor
optuna: ``hpo validate`` stays fast.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import re
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.config import (
    METRICS,
    PRUNERS,
    SAMPLERS,
    DataConfig,
    StudyConfig,
    TrainConfig,
)
from orchestrator.errors import Problem, SpaceError, TrialFailure

__all__ = [
    "ParamSpec",
    "Space",
    "TrialConfig",
    "TrialLike",
    "describe_space",
    "flatten",
    "load_space",
    "parse_space",
    "parse_space_dict",
    "suggest",
]

SECTIONS = ("study", "data", "model", "train")
PARAM_TYPES = ("float", "int", "categorical")
_PARAM_FIELDS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "step", "log"),
    "int": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
}
# words people reach for, mapped onto Optuna's, for "did you mean"
_SYNONYMS = {
    "min": "low",
    "minimum": "low",
    "lower": "low",
    "max": "high",
    "maximum": "high",
    "upper": "high",
    "values": "choices",
    "options": "choices",
    "log_scale": "log",
    "q": "step",
    "distribution": "type",
}
_MAX_LAYERS = 1024  # per-layer parameters are listed for each possible index
_OVERRIDE_SOURCE = "--set"


class TrialLike(Protocol):
    """What :func:`suggest` needs from a trial: ``optuna.Trial`` and ``FixedTrial`` both fit."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


# --- public values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One search parameter: one ``suggest_*`` call under its dotted Optuna name."""

    name: str  # dotted Optuna name, e.g. "train.optimizer.sgd.lr"
    type: Literal["float", "int", "categorical"]
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None  # None: continuous (float) or 1 (int)
    log: bool = False
    choices: tuple[Any, ...] = ()
    condition: str | None = None  # when it is suggested, e.g. "train.optimizer == sgd"

    def describe(self) -> str:
        """The distribution in a few words: ``float [1e-05, 0.1] log``, ``int [16, 64] step 8``."""
        if self.type == "categorical":
            return f"categorical [{', '.join(_plain(c) for c in self.choices)}]"
        text = f"{self.type} [{self.low!r}, {self.high!r}]"
        if self.step is not None:
            text += f" step {self.step!r}"
        if self.log:
            text += " log"
        return text


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial runs with, every search parameter sampled and validated."""

    data: DataConfig
    model: BaseModel  # the family's Config instance (has .family)
    train: TrainConfig
    params: dict[str, Any] = field(default_factory=dict)  # sampled values, dotted Optuna names

    def to_dict(self) -> dict[str, Any]:
        """The whole resolved config, JSON-serialisable (the ``trial_config.json`` artifact)."""
        return {
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json"),
            "train": self.train.model_dump(mode="json"),
            "params": dict(self.params),
        }


# --- the validated tree --------------------------------------------------------------------------
# A space is a tree of nodes built once by _Builder; suggest() walks it with a trial.


@dataclass(frozen=True)
class _Fixed:
    value: Any
    name: str  # dotted name for fixed_params()
    listed: bool = True  # False for a branch's own name, which the branch choice already records


@dataclass(frozen=True)
class _Param:
    spec: ParamSpec


@dataclass(frozen=True)
class _Group:
    fields: dict[str, _Node]  # file order


@dataclass(frozen=True)
class _Branch:
    spec: ParamSpec  # the categorical choice between branch names
    choices: dict[str, _Group]  # each holds its `name` and its own sub-parameters


@dataclass(frozen=True)
class _Repeat:
    count: str  # the sibling key holding the number of layers
    template: _Group  # the per-layer mapping, named without an index (fixed_params)
    layers: tuple[_Group, ...]  # one per possible layer index, each with its own names


@dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Invalid:
    """Stands where a problem was reported; never part of a Space that parsed."""


_Node = _Fixed | _Param | _Group | _Branch | _Repeat | _List | _Invalid
_INVALID = _Invalid()


@dataclass(frozen=True)
class Space:
    """A validated search space: what ``hpo validate`` checks and ``hpo run`` samples."""

    source: str  # the file path as given, or "<string>"
    text: str  # the original YAML text (logged as an artifact)
    raw: dict[str, Any]  # the validated mapping, overrides applied and study.name filled in
    study: StudyConfig  # name filled from the file stem if missing
    _root: _Group = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        """The study name."""
        return self.study.name or _default_name(self.source)

    @property
    def family(self) -> str:
        """The model family searched, e.g. ``"cnn"``."""
        return str(self.raw["model"]["family"])

    def parameters(self) -> list[ParamSpec]:
        """Every parameter that can ever be suggested, in file order.

        Branch choices are categorical parameters of their own; per-layer parameters are listed
        once per possible layer index.
        """
        return [node.spec for node in _walk(self._root) if isinstance(node, (_Param, _Branch))]

    def max_params_per_trial(self) -> int:
        """The most parameters one trial can sample: largest branch, every layer at max depth."""
        return _max_params(self._root)

    def branches(self) -> dict[str, list[str]]:
        """Each conditional branch point (dotted Optuna name) and its branch names."""
        return {
            node.spec.name: list(node.choices)
            for node in _walk(self._root)
            if isinstance(node, _Branch)
        }

    def fixed_params(self) -> dict[str, Any]:
        """Every fixed value of the file, flattened to dotted names (logged on the parent run).

        Values inside a branch carry the branch name (``train.optimizer.sgd.momentum``); values
        shared by every layer carry no index (``model.blocks.kernel_size``).
        """
        out = flatten(self.raw.get("study") or {}, "study")
        for node in _walk(self._root, templates=True):
            if isinstance(node, _Fixed) and node.listed:
                if isinstance(node.value, (dict, list)) and node.value:
                    out.update(flatten(node.value, node.name))
                else:
                    out[node.name] = node.value
        return out


def _walk(node: _Node, *, templates: bool = False) -> Iterator[_Node]:
    """Every node under ``node``, depth first in file order.

    With ``templates`` a per-layer mapping is visited once (unindexed), else once per layer.
    """
    yield node
    if isinstance(node, _Group):
        for child in node.fields.values():
            yield from _walk(child, templates=templates)
    elif isinstance(node, _Branch):
        for child in node.choices.values():
            yield from _walk(child, templates=templates)
    elif isinstance(node, _Repeat):
        for child in (node.template,) if templates else node.layers:
            yield from _walk(child, templates=templates)
    elif isinstance(node, _List):
        for child in node.items:
            yield from _walk(child, templates=templates)


def _max_params(node: _Node) -> int:
    if isinstance(node, _Param):
        return 1
    if isinstance(node, _Branch):
        return 1 + max((_max_params(c) for c in node.choices.values()), default=0)
    if isinstance(node, _Group):
        return sum(_max_params(c) for c in node.fields.values())
    if isinstance(node, _Repeat):
        return sum(_max_params(c) for c in node.layers)
    if isinstance(node, _List):
        return sum(_max_params(c) for c in node.items)
    return 0


def _searches(node: _Node) -> bool:
    """Whether anything under ``node`` is sampled."""
    return any(isinstance(n, (_Param, _Branch)) for n in _walk(node))


# --- loading -------------------------------------------------------------------------------------


def load_space(path: str | Path, *, overrides: Sequence[str] = ()) -> Space:
    """Read, validate and return the search space in ``path``.

    Args:
        path: the YAML file; its stem is the default study name.
        overrides: ``dotted.key=value`` strings (``--set``), applied before validation.

    Raises:
        SpaceError: with every problem found; source ``--set`` for a malformed override.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(source, [Problem("", "file not found; check the path")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpaceError(source, [Problem("", f"cannot read the file: {reason}")]) from None
    return parse_space(text, source=source, overrides=overrides)


def parse_space(text: str, *, source: str = "<string>", overrides: Sequence[str] = ()) -> Space:
    """Validate a search space given as YAML text.

    Raises:
        SpaceError: with every problem found.
    """
    parsed, problems = _parse_overrides(overrides)
    raw = _load_yaml(text, source=source)
    if parsed:
        if raw is None:
            raw = {}
        if isinstance(raw, dict):
            problems += _apply_overrides(raw, parsed)
    if problems:
        raise SpaceError(_OVERRIDE_SOURCE, problems)
    return parse_space_dict(raw, source=source, text=text)


def parse_space_dict(raw: Any, *, source: str, text: str | None = None) -> Space:
    """Validate a search space already read into a mapping (e.g. ``Space.raw``, stored earlier).

    Raises:
        SpaceError: with every problem found.
    """
    raw = copy.deepcopy(raw)
    builder = _Builder()
    root, study = builder.space(raw, source=source)
    if builder.problems or root is None or study is None:
        raise SpaceError(source, builder.problems)
    raw.setdefault("study", None)
    if raw["study"] is None:
        raw["study"] = {}
    raw["study"]["name"] = study.name
    if text is None:
        text = yaml.safe_dump(raw, sort_keys=False)
    return Space(source=source, text=text, raw=raw, study=study, _root=root)


def _default_name(source: str) -> str:
    return "space" if source.startswith("<") else Path(source).stem


class _Loader(yaml.SafeLoader):
    """YAML as people write it: ``1e-5`` is a float, and a key given twice is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: SafeLoader reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; give each key once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 wants a dot in a float ("1.0e-5"); accept "1e-5" too.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)


def _load_yaml(text: str, *, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise SpaceError(source, [Problem("", _yaml_message(exc))]) from None
    except yaml.YAMLError as exc:
        raise SpaceError(source, [Problem("", f"invalid YAML: {_one_line(str(exc))}")]) from None


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if mark is None:
        return f"invalid YAML: {_one_line(problem)}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {_one_line(problem)}"


# --- overrides -----------------------------------------------------------------------------------


def _parse_overrides(overrides: Sequence[str]) -> tuple[list[tuple[str, Any]], list[Problem]]:
    parsed: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for item in overrides:
        key, sep, value_text = item.partition("=")
        key = key.strip()
        if not sep:
            problems.append(
                Problem("", f"override {item!r} has no '='; write key=value, e.g. train.epochs=2")
            )
            continue
        if not key or any(not part.strip() for part in key.split(".")):
            problems.append(
                Problem(
                    "",
                    f"override {item!r} has an empty key or key part; write dotted.key=value, "
                    "e.g. train.optimizer.lr=0.01",
                )
            )
            continue
        try:
            value = yaml.load(value_text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            problems.append(
                Problem(key, f"invalid YAML value {value_text!r}: {_one_line(str(reason))}")
            )
            continue
        parsed.append((key, value))
    return parsed, problems


def _apply_overrides(raw: dict[str, Any], parsed: list[tuple[str, Any]]) -> list[Problem]:
    """Set each ``dotted.key`` in ``raw``, creating missing mappings on the way."""
    problems: list[Problem] = []
    for key, value in parsed:
        parts = [p.strip() for p in key.split(".")]
        target: Any = raw
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(target, dict):
                if target.get(part) is None:
                    target[part] = {}
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                target = None
            if not isinstance(target, (dict, list)):
                problems.append(
                    Problem(
                        key,
                        f"cannot set '{key}': '{here}' is {_show(target, typed=True)} in the "
                        "file, not a mapping; override it whole instead",
                    )
                )
                break
        else:
            last = parts[-1]
            if isinstance(target, dict):
                target[last] = value
            elif isinstance(target, list) and last.isdigit() and int(last) < len(target):
                target[int(last)] = value
            else:
                problems.append(
                    Problem(key, f"cannot set '{key}': its parent is a list without index {last}")
                )
    return problems


# --- field introspection -------------------------------------------------------------------------


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
def _adapter(model: type[BaseModel], key: str, *, constrained: bool = True) -> TypeAdapter[Any]:
    info = model.model_fields[key]
    if constrained and info.metadata:
        return TypeAdapter(Annotated[(info.annotation, *info.metadata)])
    return TypeAdapter(info.annotation)


def _fits(model: type[BaseModel], key: str, value: Any) -> bool:
    """Whether the field's type (constraints aside) takes ``value`` as it is, without coercion."""
    try:
        _adapter(model, key, constrained=False).validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


def _check(model: type[BaseModel], key: str, value: Any) -> tuple[str, str | None] | None:
    """Whether ``value`` is valid for field ``key``: None, or (message, rule) where ``rule`` is
    the broken range constraint alone (``should be greater than 0``) when that is the problem."""
    annotation = model.model_fields[key].annotation
    if value is None:
        if _allows_none(annotation):
            return None
        return f"null is not allowed for '{key}'", None
    allowed = _literals(annotation)
    if allowed is not None:
        if any(type(value) is type(a) and value == a for a in allowed):
            return None
        return _unknown(str(key), value, allowed), None
    try:
        _adapter(model, key).validate_python(value)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        rule = _rule(err)
        if rule is not None:
            return f"got {_show(value)}, but the value {rule}", rule
        return _explain(err), None
    problem = _json_problem(value)
    return (problem, None) if problem else None


# --- messages ------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _rule(err: Mapping[str, Any]) -> str | None:
    """``should be greater than 0`` for a range error, None for anything else."""
    msg = str(err.get("msg", ""))
    if err.get("type") in _TYPE_WORDS or not msg.startswith("Input should"):
        return None
    return "should" + msg[len("Input should") :]


def _explain(err: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence with the value received."""
    etype, msg, value = err.get("type"), str(err.get("msg", "")), err.get("input")
    if etype in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[str(etype)]}, got {_show(value, typed=True)}"
    if etype == "missing":
        return "missing required key; add it"
    if etype == "extra_forbidden":
        return "unknown key; remove it"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    rule = _rule(err)
    if rule is not None:
        return f"got {_show(value)}, but the value {rule}"
    return f"{msg} (got {_show(value)})"


def _show(value: Any, *, typed: bool = False) -> str:
    """A value as the user wrote it in YAML, shortened; with its Python type if ``typed``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
        if len(text) > 60:
            text = text[:57] + "..."
    return f"{text} ({type(value).__name__})" if typed else text


def _plain(value: Any) -> str:
    """A choice without quotes: ``relu``, ``3``, ``true``, ``null``."""
    return value if isinstance(value, str) else _show(value)


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _unknown(what: str, value: Any, valid: Iterable[Any]) -> str:
    """``unknown key 'lrr'; did you mean 'lr'? (valid: lr, momentum)``."""
    names = [_plain(v) for v in valid]
    text = f"unknown {what} {_show(value)}"
    guess = _guess(value, names)
    if guess is not None:
        text += f"; did you mean {guess!r}?"
    return f"{text} (valid: {', '.join(names)})"


def _guess(value: Any, names: Sequence[str]) -> str | None:
    word = str(value)
    if _SYNONYMS.get(word) in names:
        return _SYNONYMS[word]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _json_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON (a date, a set, a non-string key), or None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, list):
        return next((p for p in map(_json_problem, value) if p), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {_show(key)} is a {type(key).__name__}; quote it to make it a string"
            problem = _json_problem(item)
            if problem:
                return problem
        return None
    return f"a {type(value).__name__} value ({_show(value)}) cannot be stored; quote it as a string"


def _is_param(value: Any) -> bool:
    return isinstance(value, Mapping) and "type" in value


def _families() -> dict[str, str]:
    from orchestrator.models import FAMILIES

    return FAMILIES


def _family_config(name: str) -> type[BaseModel]:
    from orchestrator.models import family_config

    return family_config(name)


# --- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _At:
    """Where a node is: its place in the file (for problems) and its Optuna name."""

    path: str  # e.g. "train.optimizer.choices.sgd.lr"
    name: str  # e.g. "train.optimizer.sgd.lr"
    condition: str | None = None

    def child(self, key: Any, *, name: Any = None) -> _At:
        key = str(key)
        name = key if name is None else str(name)
        return _At(
            path=f"{self.path}.{key}" if self.path else key,
            name=f"{self.name}.{name}" if self.name else name,
            condition=self.condition,
        )


def _and(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first} and {second}"
    return first or second


class _FreeValue(BaseModel):
    """Stands for one free-form setting (an entry of ``model.params``): any JSON value."""

    value: Any = None


class _NoTrial:
    """Stands in for a trial where nothing is sampled (fully fixed groups)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a fixed group asked to {name}")  # pragma: no cover


class _Builder:
    """Validates a raw mapping into a node tree, collecting every problem on the way."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, _one_line(message)))

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
            elif key == "metric" and any(
                not isinstance(m, str) or m not in METRICS
                for m in (item if isinstance(item, list) else [item])
            ):
                for m in item if isinstance(item, list) else [item]:
                    if not isinstance(m, str) or m not in METRICS:
                        self.report(path, _unknown("metric", m, sorted(METRICS)))
            else:
                data[key] = item
        try:
            study = StudyConfig.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                self.report(".".join(["study", *map(str, err["loc"])]), _explain(err))
            return None
        if study.name is None:
            study = study.model_copy(update={"name": _default_name(source)})
        return study

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
                for err in exc.errors(include_url=False):
                    self.report(".".join([at.path, *map(str, err["loc"])]), _explain(err))
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
        verdict = _check(model, key, value)
        if verdict is not None:
            fix = "; give a value, or remove the key to use the default" if value is None else ""
            self.report(at.path, verdict[0] + fix)
            return _INVALID
        return _Fixed(value, at.name)

    # -- search parameters --

    def param(self, spec: Mapping[Any, Any], model: type[BaseModel], key: str, at: _At) -> _Node:
        ptype = spec["type"]
        if not isinstance(ptype, str) or ptype not in PARAM_TYPES:
            self.report(at.path, _unknown("parameter type", ptype, PARAM_TYPES))
            return _INVALID
        start = len(self.problems)
        allowed = _PARAM_FIELDS[ptype]
        for name in spec:
            if name not in allowed:
                guess = _guess(name, allowed)
                hint = f"; did you mean {guess!r}?" if guess else ""
                self.report(
                    at.path,
                    f"{ptype} parameter has unknown field {_show(name)}{hint} "
                    f"(valid: {', '.join(allowed)})",
                )
        if ptype == "categorical":
            node = self.categorical(spec, model, key, at)
        else:
            node = self.numeric(spec, ptype, model, key, at)
        return node if len(self.problems) == start else _INVALID

    def numeric(
        self, spec: Mapping[Any, Any], ptype: str, model: type[BaseModel], key: str, at: _At
    ) -> _Node:
        missing = [b for b in ("low", "high") if b not in spec]
        if missing:
            self.report(
                at.path,
                f"{ptype} parameter needs {' and '.join(map(repr, missing))}; "
                f"e.g. {{type: {ptype}, low: 1, high: 10}}",
            )
            return _INVALID
        start = len(self.problems)
        bounds: dict[str, Any] = {"low": spec["low"], "high": spec["high"]}
        step, log = spec.get("step"), spec.get("log", False)
        for bound, value in bounds.items():
            if ptype == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                self.report(
                    at.path,
                    f"int parameter needs integer bounds, got {bound}={_show(value, typed=True)}; "
                    "use whole numbers, or type: float",
                )
            elif not _is_number(value):
                self.report(
                    at.path,
                    f"expected a finite number for {bound}, got {_show(value, typed=True)}",
                )
        if not isinstance(log, bool):
            self.report(at.path, f"log must be true or false, got {_show(log, typed=True)}")
        if step is not None:
            if ptype == "int" and (not isinstance(step, int) or isinstance(step, bool)):
                self.report(
                    at.path, f"int parameter needs an integer step, got {_show(step, typed=True)}"
                )
            elif not _is_number(step) or step <= 0:
                self.report(at.path, f"step must be a number > 0, got step={_show(step)}")
        if len(self.problems) > start:
            return _INVALID
        low, high = bounds["low"], bounds["high"]
        if low > high:
            self.report(at.path, f"low <= high must hold, but got low={low!r}, high={high!r}")
        if log and low <= 0:
            self.report(at.path, f"log=true needs low > 0, got low={low!r}")
        if step is not None and log:
            self.report(at.path, "step and log cannot be combined; remove one")
        elif step is not None and low <= high:
            count = (high - low) / step
            if ptype == "int":
                uneven = (high - low) % step != 0
                fixed_high = low + (high - low) // step * step
            else:  # tolerate float rounding: 0.5 / 0.1 is 5.000000000000001
                uneven = abs(count - round(count)) > 1e-9 + abs(count) * 1e-13
                fixed_high = round(low + math.floor(count) * step, 12)
            if uneven:
                self.report(
                    at.path,
                    f"high - low must be a multiple of step, but got low={low!r}, "
                    f"high={high!r}, step={step!r}; use high={fixed_high!r}",
                )
        self.fits_field(ptype, model, key, at, bounds)
        if len(self.problems) > start:
            return _INVALID
        as_type = float if ptype == "float" else int
        spec_out = ParamSpec(
            name=at.name,
            type=ptype,  # type: ignore[arg-type]  # checked against PARAM_TYPES above
            low=as_type(low),
            high=as_type(high),
            step=None if step is None else as_type(step),
            log=log,
            condition=at.condition,
        )
        return _Param(spec_out)

    def fits_field(
        self, ptype: str, model: type[BaseModel], key: str, at: _At, bounds: dict[str, Any]
    ) -> None:
        """A numeric parameter must feed its field: the right type, both bounds in range."""
        if not _fits(model, key, 0.5 if ptype == "float" else 1):
            if ptype == "float" and _fits(model, key, 1):
                self.report(
                    at.path,
                    f"'{key}' takes integers, so a float parameter cannot feed it; use type: int",
                )
                return
            allowed = _literals(model.model_fields[key].annotation)
            choices = f" from {', '.join(map(_plain, allowed))}" if allowed else ""
            self.report(
                at.path,
                f"'{key}' does not take numbers, so {_article(ptype)} parameter cannot feed it; "
                f"use type: categorical with choices{choices}",
            )
            return
        for bound, value in bounds.items():
            verdict = _check(model, key, value)
            if verdict is not None:
                message, rule = verdict
                detail = f"the value {rule}" if rule else message
                self.report(at.path, f"{bound}={value!r} is out of range for '{key}': {detail}")

    def categorical(
        self, spec: Mapping[Any, Any], model: type[BaseModel], key: str, at: _At
    ) -> _Node:
        choices = spec.get("choices")
        if "choices" not in spec:
            self.report(
                at.path,
                "categorical parameter needs 'choices', e.g. {type: categorical, "
                "choices: [16, 32, 64]}",
            )
            return _INVALID
        if isinstance(choices, Mapping):
            self.report(
                at.path,
                "choices given as a mapping (named branches) only work for settings chosen by "
                f"name, such as train.optimizer and train.schedule; '{key}' needs a list",
            )
            return _INVALID
        if not isinstance(choices, list):
            self.report(at.path, f"choices must be a list, got {_show(choices, typed=True)}")
            return _INVALID
        if not choices:
            self.report(at.path, "choices is empty; give at least one value")
            return _INVALID
        seen: list[tuple[type, Any]] = []
        for choice in choices:
            if not (choice is None or isinstance(choice, (bool, int, float, str))):
                what = "a list" if isinstance(choice, list) else f"a {type(choice).__name__}"
                if isinstance(choice, dict):
                    what = "a mapping"
                self.report(
                    at.path,
                    f"choice {_show(choice)} is {what}; Optuna's choices must be null, booleans, "
                    "numbers or strings. Search each element with its own parameter instead "
                    "(per-layer values: repeat)",
                )
                continue
            if (type(choice), choice) in seen:
                self.report(at.path, f"choice {_show(choice)} is given twice; give it once")
                continue
            seen.append((type(choice), choice))
            verdict = _check(model, key, choice)
            if verdict is not None:
                message, rule = verdict
                if rule:
                    self.report(
                        at.path, f"choice {_show(choice)} is out of range: the value {rule}"
                    )
                else:
                    self.report(at.path, f"choice {_show(choice)}: {message}")
        spec_out = ParamSpec(
            name=at.name, type="categorical", choices=tuple(choices), condition=at.condition
        )
        return _Param(spec_out)

    # -- branches chosen by name --

    def branch(self, value: Any, kind: _Kind, at: _At, *, key: str) -> _Node:
        names = kind.names
        valid = sorted(names)
        single = len(set(names.values())) == 1  # one model with a `name` literal (schedule)
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            self.report(
                at.path,
                f"expected a {key} name (one of {', '.join(valid)}), a mapping with 'name', "
                f"or {{type: categorical, choices: {{...}}}}, got {_show(value, typed=True)}",
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
        for name in spec:
            if name not in _PARAM_FIELDS["categorical"]:
                guess = _guess(name, _PARAM_FIELDS["categorical"])
                hint = f"; did you mean {guess!r}?" if guess else ""
                self.report(at.path, f"categorical parameter has unknown field {_show(name)}{hint}")
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
            name=at.name, type="categorical", choices=tuple(groups), condition=at.condition
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
            layers.append(_Builder().group(rest, kind.model, layer_at))  # problems: template's
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- sampling ------------------------------------------------------------------------------------


def _resolve(node: _Node, trial: TrialLike, params: dict[str, Any]) -> Any:
    """The value of ``node``, suggesting its parameters in file order; records them in params."""
    if isinstance(node, _Fixed):
        return copy.deepcopy(node.value)
    if isinstance(node, _Param):
        value = _suggest_one(node.spec, trial)
        params[node.spec.name] = value
        return value
    if isinstance(node, _Branch):
        choice = trial.suggest_categorical(node.spec.name, list(node.spec.choices))
        params[node.spec.name] = choice
        return _resolve(node.choices[choice], trial, params)
    if isinstance(node, _List):
        return [_resolve(item, trial, params) for item in node.items]
    if isinstance(node, _Group):
        out: dict[str, Any] = {}
        for key, child in node.fields.items():
            if key in out:
                continue
            if isinstance(child, _Repeat):
                if child.count not in out:  # the depth comes first, wherever it is written
                    out[child.count] = _resolve(node.fields[child.count], trial, params)
                depth = max(int(out[child.count]), 0)
                out[key] = [_resolve(layer, trial, params) for layer in child.layers[:depth]]
            else:
                out[key] = _resolve(child, trial, params)
        return {key: out[key] for key in node.fields}
    raise AssertionError(f"unresolvable node {node!r}")  # pragma: no cover


def _suggest_one(spec: ParamSpec, trial: TrialLike) -> Any:
    if spec.type == "float":
        return trial.suggest_float(
            spec.name, float(spec.low or 0), float(spec.high or 0), step=spec.step, log=spec.log
        )
    if spec.type == "int":
        return trial.suggest_int(
            spec.name,
            int(spec.low or 0),
            int(spec.high or 0),
            step=int(spec.step or 1),
            log=spec.log,
        )
    return trial.suggest_categorical(spec.name, list(spec.choices))


def suggest(space: Space, trial: TrialLike) -> TrialConfig:
    """Sample every parameter of ``space`` with ``trial`` and validate the resolved config.

    Parameters are suggested in file order; a branch's sub-parameters only when it is chosen,
    per-layer parameters only for layers below the sampled depth.

    Args:
        space: the validated search space.
        trial: ``optuna.Trial``, ``optuna.trial.FixedTrial`` or anything with the suggest API.

    Raises:
        TrialFailure: (kind ``error``) when the sampled values break a rule of the config models,
            e.g. nesterov=true with momentum=0. The trial fails; the study goes on.
    """
    params: dict[str, Any] = {}
    resolved = _resolve(space._root, trial, params)
    models: dict[str, type[BaseModel]] = {
        "data": DataConfig,
        "model": _family_config(space.family),
        "train": TrainConfig,
    }
    built: dict[str, BaseModel] = {}
    reasons: list[str] = []
    for section, model in models.items():
        try:
            built[section] = model.model_validate(resolved.get(section) or {})
        except ValidationError as exc:
            reasons += [
                f"{'.'.join([section, *map(str, err['loc'])])}: {_explain(err)}"
                for err in exc.errors(include_url=False)
            ]
    if reasons:
        raise TrialFailure(
            _one_line(f"the sampled config is invalid: {'; '.join(reasons)}"), kind="error"
        )
    return TrialConfig(
        data=built["data"],  # type: ignore[arg-type]
        model=built["model"],
        train=built["train"],  # type: ignore[arg-type]
        params=params,
    )


# --- helpers for logging and `hpo validate` ------------------------------------------------------


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists become ``.0``, ``.1``; empty containers stay leaves.

    >>> flatten({"a": {"b": 1, "c": [2, 3]}})
    {'a.b': 1, 'a.c.0': 2, 'a.c.1': 3}
    """
    out: dict[str, Any] = {}

    def visit(value: Any, name: str) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                visit(item, f"{name}.{key}" if name else str(key))
        elif isinstance(value, (list, tuple)) and value:
            for index, item in enumerate(value):
                visit(item, f"{name}.{index}" if name else str(index))
        else:
            out[name] = value

    visit(mapping, prefix)
    return out


def describe_space(space: Space) -> str:
    """The ``hpo validate`` summary: parameters, branches, fixed values and the most per trial."""
    study = space.study
    objectives = ", ".join(f"{d} {m}" for d, m in zip(study.directions, study.metrics, strict=True))
    pruner = study.pruner.name if not study.is_multi_objective else "off (multi-objective)"
    lines = [
        f"search space '{space.name}' from {space.source}",
        f"  study: {objectives} over {study.n_trials} trials; "
        f"sampler {study.sampler.name}, pruner {pruner}, seed {study.seed}",
        f"  model family: {space.family}",
    ]
    params = space.parameters()
    if params:
        lines.append(f"  {len(params)} search parameters:")
        width = max(len(p.name) for p in params)
        for p in params:
            condition = f"  (if {p.condition})" if p.condition else ""
            lines.append(f"    {p.name:<{width}}  {p.describe()}{condition}")
    else:
        lines.append("  no search parameters: every trial runs the same config")
    branches = space.branches()
    if branches:
        lines.append("  branches:")
        lines += [f"    {name}: {' | '.join(names)}" for name, names in branches.items()]
    lines.append(f"  {len(space.fixed_params())} fixed values")
    lines.append(f"  at most {space.max_params_per_trial()} parameters per trial")
    return "\n".join(lines)
