"""Sampling: ``suggest`` walks a space's node tree with a trial, then validates the config."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestrator.config import DataConfig, TrainConfig
from orchestrator.errors import TrialFailure
from orchestrator.space._fields import _family_config
from orchestrator.space._messages import _errors, _explain, _one_line
from orchestrator.space._model import (
    ParamSpec,
    Space,
    TrialConfig,
    TrialLike,
    _Branch,
    _Fixed,
    _Group,
    _List,
    _Node,
    _Param,
    _Repeat,
)


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
                for err in _errors(exc.errors(include_url=False))
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
