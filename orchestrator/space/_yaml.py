"""YAML as people write it (``1e-5`` is a float, a key given twice is an error, problems carry
line and column) and ``--set`` overrides: parsed, then applied to the file's mapping."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from orchestrator.errors import Problem, SpaceError
from orchestrator.space._messages import _one_line, _show

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
