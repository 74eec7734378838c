"""Search parameters, one pydantic model per type: ``FloatParam | IntParam | CategoricalParam``.

``type`` selects the model, a field the model does not have is an error ("float parameter has
unknown field 'max'; did you mean 'high'?"), and the rules between fields (``low <= high``,
``log`` needs ``low > 0``, ``step`` and ``log`` exclusive, ``step`` divides ``high - low``) are
all checked, every broken one reported. When the validation context names the config field the
parameter feeds (``{"model": TrainConfig, "key": "epochs"}``), the parameter is also checked
against it: the right type, every bound and every choice in range.

:func:`read_param` validates one ``{type: ..., ...}`` mapping and words its problems.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestrator.space._fields import _check, _fits, _literals
from orchestrator.space._messages import _article, _explain, _plain, _show, _unknown, _unknown_field
from orchestrator.space._model import ParamSpec

_SEVERAL = "several_problems"  # the error type of a rule that finds several problems at once


def _several(problems: list[str]) -> PydanticCustomError:
    return PydanticCustomError(_SEVERAL, "{problems}", {"problems": problems})


def _target(info: ValidationInfo) -> tuple[type[BaseModel], str] | None:
    """The config field this parameter feeds, when the validation context names one."""
    context = info.context or {}
    model, key = context.get("model"), context.get("key")
    return (model, key) if model is not None and key is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ParamModel(BaseModel):
    """What every parameter model has: unknown fields refused, a spec for Optuna."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def needs(cls, missing: Sequence[str]) -> str:
        """The message for required fields left out."""
        raise NotImplementedError

    def to_spec(self, name: str, *, condition: str | None) -> ParamSpec:
        """This parameter under its dotted Optuna name."""
        raise NotImplementedError


class _Numeric(_ParamModel):
    """What float and int parameters share: the fields, ``log`` and the rules between them."""

    type: str
    low: float
    high: float
    step: float | None = None  # None: continuous (float) or 1 (int)
    log: bool = False

    @classmethod
    def needs(cls, missing: Sequence[str]) -> str:
        ptype = get_args(cls.model_fields["type"].annotation)[0]
        return (
            f"{ptype} parameter needs {' and '.join(map(repr, missing))}; "
            f"e.g. {{type: {ptype}, low: 1, high: 10}}"
        )

    @field_validator("log", mode="before")
    @classmethod
    def _log_is_bool(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"log must be true or false, got {_show(value, typed=True)}")
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> _Numeric:
        low, high, step = self.low, self.high, self.step
        problems: list[str] = []
        if low > high:
            problems.append(f"low <= high must hold, but got low={low!r}, high={high!r}")
        if self.log and low <= 0:
            problems.append(f"log=true needs low > 0, got low={low!r}")
        if step is not None and self.log:
            problems.append("step and log cannot be combined; remove one")
        elif step is not None and low <= high:
            fixed_high = self._highest_on_step()
            if fixed_high is not None:
                problems.append(
                    f"high - low must be a multiple of step, but got low={low!r}, "
                    f"high={high!r}, step={step!r}; use high={fixed_high!r}"
                )
        target = _target(info)
        if target is not None:
            problems += self._field_problems(*target)
        if problems:
            raise _several(problems)
        return self

    def _highest_on_step(self) -> float | None:
        """The largest ``high`` on ``step`` from ``low``, where ``high`` is off step; else None."""
        raise NotImplementedError

    def _field_problems(self, model: type[BaseModel], key: str) -> list[str]:
        """A numeric parameter must feed its field: the right type, both bounds in range."""
        if not _fits(model, key, 0.5 if self.type == "float" else 1):
            if self.type == "float" and _fits(model, key, 1):
                return [
                    f"'{key}' takes integers, so a float parameter cannot feed it; use type: int"
                ]
            allowed = _literals(model.model_fields[key].annotation)
            choices = f" from {', '.join(map(_plain, allowed))}" if allowed else ""
            return [
                f"'{key}' does not take numbers, so {_article(self.type)} parameter cannot feed "
                f"it; use type: categorical with choices{choices}"
            ]
        problems = []
        for bound, value in (("low", self.low), ("high", self.high)):
            verdict = _check(model, key, value)
            if verdict is not None and verdict.rule:
                problems.append(
                    f"{bound}={value!r} is out of range for '{key}': the value {verdict.rule}"
                )
            elif verdict is not None:
                problems.append(f"{bound}={value!r} does not fit '{key}': {verdict.message}")
        return problems

    def to_spec(self, name: str, *, condition: str | None) -> ParamSpec:
        number = float if self.type == "float" else int
        return ParamSpec(
            name=name,
            type=self.type,  # type: ignore[arg-type]  # each subclass narrows it to one Literal
            low=number(self.low),
            high=number(self.high),
            step=None if self.step is None else number(self.step),
            log=self.log,
            condition=condition,
        )


class FloatParam(_Numeric):
    """``{type: float, low: 1.0e-5, high: 0.1, log: true}``: ``suggest_float``."""

    type: Literal["float"]
    # numbers as written (low: 3 stays 3 in messages); to_spec hands Optuna floats
    low: float | int
    high: float | int
    step: float | int | None = None

    @field_validator("low", "high", mode="before")
    @classmethod
    def _finite(cls, value: Any, info: ValidationInfo) -> Any:
        if not _is_number(value):
            raise ValueError(
                f"expected a finite number for {info.field_name}, got {_show(value, typed=True)}"
            )
        return value

    @field_validator("step", mode="before")
    @classmethod
    def _positive_step(cls, value: Any) -> Any:
        if value is not None and (not _is_number(value) or value <= 0):
            raise ValueError(f"step must be a number > 0, got step={_show(value)}")
        return value

    def _highest_on_step(self) -> float | None:
        assert self.step is not None
        count = (self.high - self.low) / self.step
        # tolerate float rounding: 0.5 / 0.1 is 5.000000000000001
        if abs(count - round(count)) > 1e-9 + abs(count) * 1e-13:
            return round(self.low + math.floor(count) * self.step, 12)
        return None


class IntParam(_Numeric):
    """``{type: int, low: 32, high: 256, step: 32}``: ``suggest_int``."""

    type: Literal["int"]
    low: int
    high: int
    step: int | None = None

    @field_validator("low", "high", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> Any:
        if not _is_int(value):
            raise ValueError(
                f"int parameter needs integer bounds, got {info.field_name}="
                f"{_show(value, typed=True)}; use whole numbers, or type: float"
            )
        return value

    @field_validator("step", mode="before")
    @classmethod
    def _whole_step(cls, value: Any) -> Any:
        if value is None:
            return value
        if not _is_int(value):
            raise ValueError(f"int parameter needs an integer step, got {_show(value, typed=True)}")
        if value <= 0:
            raise ValueError(f"step must be a number > 0, got step={_show(value)}")
        return value

    def _highest_on_step(self) -> float | None:
        assert self.step is not None
        if (self.high - self.low) % self.step != 0:
            return self.low + (self.high - self.low) // self.step * self.step
        return None


class CategoricalParam(_ParamModel):
    """``{type: categorical, choices: [relu, gelu]}``: ``suggest_categorical``."""

    type: Literal["categorical"]
    choices: tuple[bool | int | float | str | None, ...]

    @classmethod
    def needs(cls, missing: Sequence[str]) -> str:
        return (
            "categorical parameter needs 'choices', e.g. {type: categorical, choices: [16, 32, 64]}"
        )

    @field_validator("choices", mode="before")
    @classmethod
    def _scalars_once_each(cls, value: Any, info: ValidationInfo) -> Any:
        target = _target(info)
        if isinstance(value, Mapping):
            where = f"'{target[1]}'" if target else "this setting"
            raise ValueError(
                "choices given as a mapping (named branches) only work for settings chosen by "
                f"name, such as train.optimizer and train.schedule; {where} needs a list"
            )
        if not isinstance(value, list):
            raise ValueError(f"choices must be a list, got {_show(value, typed=True)}")
        if not value:
            raise ValueError("choices is empty; give at least one value")
        problems: list[str] = []
        seen: list[tuple[type, Any]] = []
        for choice in value:
            if not (choice is None or isinstance(choice, (bool, int, float, str))):
                what = "a list" if isinstance(choice, list) else f"a {type(choice).__name__}"
                if isinstance(choice, dict):
                    what = "a mapping"
                problems.append(
                    f"choice {_show(choice)} is {what}; Optuna's choices must be null, booleans, "
                    "numbers or strings. Search each element with its own parameter instead "
                    "(per-layer values: repeat)"
                )
                continue
            if (type(choice), choice) in seen:
                problems.append(f"choice {_show(choice)} is given twice; give it once")
                continue
            seen.append((type(choice), choice))
            if target is not None:
                problems += _choice_problems(choice, *target)
        if problems:
            raise _several(problems)
        return value

    def to_spec(self, name: str, *, condition: str | None) -> ParamSpec:
        return ParamSpec(name=name, type="categorical", choices=self.choices, condition=condition)


def _choice_problems(choice: Any, model: type[BaseModel], key: str) -> list[str]:
    verdict = _check(model, key, choice)
    if verdict is None:
        return []
    if verdict.rule:
        return [f"choice {_show(choice)} is out of range: the value {verdict.rule}"]
    return [f"choice {_show(choice)}: {verdict.message}"]


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
_MODELS: dict[str, type[_ParamModel]] = {
    get_args(m.model_fields["type"].annotation)[0]: m
    for m in (FloatParam, IntParam, CategoricalParam)
}
PARAM_TYPES = tuple(_MODELS)  # ("float", "int", "categorical")
_ADAPTER: TypeAdapter[FloatParam | IntParam | CategoricalParam] = TypeAdapter(Param)


def read_param(
    spec: Mapping[Any, Any], *, model: type[BaseModel] | None = None, key: str | None = None
) -> tuple[FloatParam | IntParam | CategoricalParam | None, list[str]]:
    """Validate one search parameter; with ``model`` and ``key``, against the field it feeds.

    Returns:
        The parameter, or None and every problem found, each a sentence with the value received.
    """
    context = {"model": model, "key": key} if model is not None and key is not None else None
    try:
        return _ADAPTER.validate_python(spec, context=context), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    if any(err["type"] in ("union_tag_invalid", "union_tag_not_found") for err in errors):
        return None, [_unknown("parameter type", spec.get("type"), PARAM_TYPES)]
    ptype = spec["type"]
    fields = tuple(_MODELS[ptype].model_fields)
    unknown = [
        err["loc"][-1] for err in errors if err["type"] in ("extra_forbidden", "invalid_key")
    ]
    if unknown:  # and the rest as if they were not there, the rules between fields included
        known = {name: value for name, value in spec.items() if name in fields}
        _, rest = read_param(known, model=model, key=key)
        return None, [_unknown_field(ptype, name, fields) for name in unknown] + rest
    missing = [str(err["loc"][-1]) for err in errors if err["type"] == "missing"]
    if missing:  # the other fields mean little without these
        return None, [_MODELS[ptype].needs(missing)]
    problems: list[str] = []
    for err in errors:
        problems += err["ctx"]["problems"] if err["type"] == _SEVERAL else [_explain(err)]
    return None, problems
