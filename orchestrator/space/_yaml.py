"""YAML as people write it (``1e-5`` is a float, a key given twice is an error, problems carry
line and column) and ``--set`` overrides: parsed, then applied to the file's mapping."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from orchestrator.errors import Problem, SpaceError
from orchestrator.space._messages import _Blamed, _one_line, _show

_OVERRIDE_SOURCE = "--set"


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


@dataclass(frozen=True)
class _Override:
    """One ``--set`` as the user gave it, and the places in the file's mapping it wrote."""

    given: str  # "train.epoch=3"
    key: str  # "train.epoch"
    value: Any
    wrote: tuple[str, ...] = ()  # its key, and each mapping it created on the way there


def _parse_overrides(overrides: Sequence[str]) -> tuple[list[_Override], list[Problem]]:
    parsed: list[_Override] = []
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
        key = ".".join(part.strip() for part in key.split("."))
        try:
            value = yaml.load(value_text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            message = f"invalid YAML value {value_text!r}: {_one_line(str(reason))}"
            problems.append(_Blamed(key, message, given=(item,)))
            continue
        parsed.append(_Override(item, key, value))
    return parsed, problems


def _apply_overrides(
    raw: dict[str, Any], parsed: list[_Override]
) -> tuple[list[_Override], list[Problem]]:
    """Set each ``dotted.key`` in ``raw``, creating missing mappings on the way.

    Returns:
        The overrides with the places each wrote, and the problems of those that could not be set.
    """
    applied: list[_Override] = []
    problems: list[Problem] = []
    for override in parsed:
        parts = override.key.split(".")
        target: Any = raw
        wrote: list[str] = []
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(target, dict):
                if target.get(part) is None:
                    target[part] = {}
                    wrote.append(here)
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                target = None
            if not isinstance(target, (dict, list)):
                message = (
                    f"'{here}' is {_show(target, typed=True)} in the file, not a mapping; "
                    f"set {here} itself instead"
                )
                problems.append(_Blamed(override.key, message, given=(override.given,)))
                break
        else:
            last = parts[-1]
            if isinstance(target, dict):
                target[last] = override.value
            elif isinstance(target, list) and last.isdigit() and int(last) < len(target):
                target[int(last)] = override.value
            else:
                parent = ".".join(parts[:-1])
                message = f"'{parent}' is a list without index {last}"
                problems.append(_Blamed(override.key, message, given=(override.given,)))
                continue
            applied.append(replace(override, wrote=(*wrote, override.key)))
    return applied, problems


def _blame(
    problems: Sequence[Problem],
    overrides: Sequence[_Override],
    *,
    alone: Callable[[], list[Problem]] | None,
) -> list[Problem]:
    """Each problem of the file with ``overrides`` applied, blamed on what the user gave.

    A problem at a place an override wrote (or inside it) is that override's. One that the
    file alone (``alone()``, asked at most once) also has is the file's. Any other comes from
    the file and the overrides together, and is blamed on the overrides nearest its place (a
    rule between settings, such as depth against a list of blocks); with none near, the file.
    Without ``alone`` (problems found after the space parsed) only the first rule applies.
    """
    out: list[Problem] = []
    file_only: list[Problem] | None = None
    for problem in problems:
        writer = next((o for o in reversed(overrides) if _wrote(o, problem.path)), None)
        if writer is not None:
            out.append(_Blamed(problem.path, problem.message, given=(writer.given,)))
            continue
        near = _nearest(problem.path, overrides) if alone is not None else []
        if near and file_only is None and alone is not None:
            file_only = alone()
        if near and problem not in (file_only or []):
            given = tuple(o.given for o in near)
            out.append(_Blamed(problem.path, problem.message, given=given))
        else:
            out.append(problem)
    return out


def _wrote(override: _Override, path: str) -> bool:
    return any(path == place or path.startswith(f"{place}.") for place in override.wrote)


def _nearest(path: str, overrides: Sequence[_Override]) -> list[_Override]:
    """The overrides whose keys share the most leading parts with ``path`` (at least one)."""
    parts = path.split(".") if path else []

    def shared(override: _Override) -> int:
        count = 0
        for mine, theirs in zip(parts, override.key.split("."), strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    best = max((shared(o) for o in overrides), default=0)
    return [o for o in overrides if shared(o) == best] if best else []
