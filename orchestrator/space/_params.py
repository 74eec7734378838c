"""Search parameters: ``{type: float|int|categorical, ...}`` checked against their own rules and
against the field they feed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from orchestrator.space._fields import _check, _fits, _literals
from orchestrator.space._messages import (
    _article,
    _Collector,
    _plain,
    _show,
    _unknown,
    _unknown_field,
)
from orchestrator.space._model import _INVALID, ParamSpec, _At, _Node, _Param

PARAM_TYPES = ("float", "int", "categorical")
_PARAM_FIELDS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "step", "log"),
    "int": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
}


class _ParamRules(_Collector):
    """The builder's part that reads one search parameter into a node."""

    def param(self, spec: Mapping[Any, Any], model: type[BaseModel], key: str, at: _At) -> _Node:
        ptype = spec["type"]
        if not isinstance(ptype, str) or ptype not in PARAM_TYPES:
            self.report(at.path, _unknown("parameter type", ptype, PARAM_TYPES))
            return _INVALID
        start = len(self.problems)
        allowed = _PARAM_FIELDS[ptype]
        for name in spec:
            if name not in allowed:
                self.report(at.path, _unknown_field(ptype, name, allowed))
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
