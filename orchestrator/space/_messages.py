"""The wording of validation messages.

Values as written in YAML, pydantic errors as sentences (one per place: a union's members are not
places in the file), "unknown X; did you mean Y? (valid: ...)", and the collector that keeps every
problem on one line and reports none twice.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
# words of other tools for the names of directions and precisions, tried after _SYNONYMS
_OTHER_WORDS = {
    "min": "minimize",
    "max": "maximize",
    "minimum": "minimize",
    "maximum": "maximize",
    "bf16": "bf16-mixed",
    "16": "16-mixed",
    "fp16": "16-mixed",
    "half": "16-mixed",
    "fp32": "32",
    "float32": "32",
    "32-true": "32",
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
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "iterable_type": "a list",
}

# pydantic labels a union's member in an error's location ("literal['a','b']", "list[int]", "str",
# "ConvBlockConfig", "function-after[...]") and a bad dict key by "[key]": no place in the file
_LABELS = frozenset(
    {"str", "int", "float", "bool", "none", "bytes", "dict", "list", "tuple", "set"}
)


def _rule(err: Mapping[str, Any]) -> str | None:
    """``should be greater than 0`` for a range error, None for anything else."""
    msg = str(err.get("msg", ""))
    if err.get("type") in _TYPE_WORDS or not msg.startswith("Input should"):
        return None
    return "should" + msg[len("Input should") :]


def _explain(err: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence with the value received."""
    etype, msg, value = err.get("type"), str(err.get("msg", "")), err.get("input")
    ctx = err.get("ctx") or {}
    if etype in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[str(etype)]}, got {_show(value, typed=True)}"
    if etype == "missing":
        if "index" in ctx:  # a fixed-length list (a tuple) that is too short
            return f"too few items: nothing at index {ctx['index']}"
        return "missing required key; add it"
    if etype == "too_long":
        return f"expected at most {ctx['max_length']} items, got {ctx['actual_length']}"
    if etype == "too_short":
        return f"expected at least {ctx['min_length']} items, got {ctx['actual_length']}"
    if etype == "extra_forbidden":
        return "unknown key; remove it"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    rule = _rule(err)
    if rule is not None:
        return f"got {_show(value)}, but the value {rule}"
    return f"{msg} (got {_show(value)})"


def _errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors, one per problem: locations without union labels, one error for a value
    that no member of a union takes, the member that takes its kind for one that some do, and no
    error twice. Each keeps pydantic's keys, so :func:`_explain` words it."""
    entries: list[tuple[tuple[Any, ...], Mapping[str, Any] | None]] = []
    unions: dict[tuple[Any, ...], dict[str, list[Mapping[str, Any]]]] = {}
    for err in errors:
        loc = tuple(err.get("loc", ()))
        cut = next((i for i, part in enumerate(loc) if _is_label(part)), None)
        if cut is None:
            if err.get("type") == "missing" and loc and isinstance(loc[-1], int):
                # an item missing from a fixed-length list: the list is the place
                err = {**err, "ctx": {"index": loc[-1]}}
                loc = loc[:-1]
            entries.append((loc, err))
            continue
        if loc[cut] == "[key]":  # a bad key of a mapping: the key itself is the place
            entries.append((loc[:cut] + loc[cut + 1 :], err))
            continue
        if loc[:cut] not in unions:
            unions[loc[:cut]] = {}
            entries.append((loc[:cut], None))
        unions[loc[:cut]].setdefault(str(loc[cut]), []).append(err)
    out: list[dict[str, Any]] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    for loc, err in entries:
        found = [{**err, "loc": loc}] if err is not None else _union(loc, unions[loc])
        for item in found:
            key = (tuple(item["loc"]), _explain(item))
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def _is_label(part: Any) -> bool:
    """Whether a location part names a union member (or a dict key), not a field or index."""
    return isinstance(part, str) and (
        part in _LABELS or "[" in part or "-" in part or part[:1].isupper()
    )


def _union(
    loc: tuple[Any, ...], members: Mapping[str, list[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """What is wrong with the value at ``loc`` that a union refused: what the member taking its
    kind (a list, a string) found in it, or one line with what each member takes."""
    depth = len(loc) + 1
    for errs in members.values():
        if not all(_wrong_kind(err, depth) for err in errs):
            inner = [{**err, "loc": loc + tuple(err["loc"])[depth:]} for err in errs]
            return _errors(inner)
    wanted = dict.fromkeys(
        _TYPE_WORDS.get(str(err["type"])) or str((err.get("ctx") or {}).get("expected", "a value"))
        for errs in members.values()
        for err in errs
    )
    value = next(iter(members.values()))[0].get("input")
    joint = ", or " if any(" or " in word for word in wanted) else " or "
    message = f"expected {joint.join(wanted)}, got {_show(value, typed=True)}"
    return [{"type": "value_error", "loc": loc, "msg": f"Value error, {message}", "input": value}]


def _wrong_kind(err: Mapping[str, Any], depth: int) -> bool:
    """Whether a union member refused the value for its kind alone (a list where it wants a
    string), rather than for something inside it."""
    if len(tuple(err.get("loc", ()))) != depth:
        return False
    if err.get("type") == "literal_error":
        return isinstance(err.get("input"), (list, dict))
    return err.get("type") in _TYPE_WORDS


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


def _unknown(what: str, value: Any, valid: Iterable[Any], *, also: str = "") -> str:
    """``unknown key 'lrr'; did you mean 'lr'? (valid: lr, momentum)``; ``also`` ends the list."""
    names = [_plain(v) for v in valid]
    listed = ", ".join([*names, also] if also else names)
    if not isinstance(value, str) and _plain(value) in names:  # precision: 32, where '32' is meant
        kind = "a boolean" if isinstance(value, bool) else "null" if value is None else "a number"
        fix = f"quote it: '{_plain(value)}'"
        return f"{what} {_show(value)} is read as {kind}; {fix} (valid: {listed})"
    return f"unknown {what} {_show(value)}{_did_you_mean(value, names)} (valid: {listed})"


def _unknown_field(ptype: str, name: Any, valid: Sequence[str], *, listed: bool = True) -> str:
    """``float parameter has unknown field 'max'; did you mean 'high'? (valid: type, low, ...)``."""
    text = f"{ptype} parameter has unknown field {_show(name)}{_did_you_mean(name, valid)}"
    return f"{text} (valid: {', '.join(valid)})" if listed else text


def _did_you_mean(value: Any, names: Sequence[str]) -> str:
    """``; did you mean 'lr'?`` for the name ``value`` most likely meant, or nothing."""
    guess = closest(value, names, synonyms=_SYNONYMS)
    if guess is None:
        guess = closest(value, names, synonyms=_OTHER_WORDS)
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


@dataclass(frozen=True)
class _Blamed(Problem):
    """A problem that ``--set`` overrides caused, shown as given: ``--set train.epoch=3: ...``.

    ``path`` stays the place in the file; it is shown only where it is not the override's key.
    """

    given: tuple[str, ...] = ()  # the overrides as written: ("train.epoch=3",)

    def format(self, source: str) -> str:
        where = " ".join(f"--set {shlex.quote(item)}" for item in self.given)
        keys = [item.partition("=")[0].strip() for item in self.given]
        if self.path and keys != [self.path]:
            where += f": {self.path}"
        return f"{where}: {self.message}"


class _Collector:
    """Collects the problems found while validating, each message on one line, none twice."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        problem = Problem(path, _one_line(message))
        if problem not in self.problems:
            self.problems.append(problem)

    def report_errors(self, path: str, errors: Sequence[Mapping[str, Any]]) -> None:
        """pydantic's errors of the mapping at ``path``, each at its own place."""
        for err in _errors(errors):
            self.report(".".join([path, *map(str, err["loc"])]).strip("."), _explain(err))
