"""The wording of validation messages.

Values as written in YAML, pydantic errors as sentences, "unknown X; did you mean Y? (valid: ...)",
and the collector that keeps every problem on one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.errors import Problem, closest

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
    return f"unknown {what} {_show(value)}{_did_you_mean(value, names)} (valid: {', '.join(names)})"


def _unknown_field(ptype: str, name: Any, valid: Sequence[str], *, listed: bool = True) -> str:
    """``float parameter has unknown field 'max'; did you mean 'high'? (valid: type, low, ...)``."""
    text = f"{ptype} parameter has unknown field {_show(name)}{_did_you_mean(name, valid)}"
    return f"{text} (valid: {', '.join(valid)})" if listed else text


def _did_you_mean(value: Any, names: Sequence[str]) -> str:
    """``; did you mean 'lr'?`` for the name ``value`` most likely meant, or nothing."""
    guess = closest(value, names, synonyms=_SYNONYMS)
    return f"; did you mean {guess!r}?" if guess is not None else ""


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


class _Collector:
    """Collects the problems found while validating, each message on one line."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, _one_line(message)))
