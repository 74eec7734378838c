"""The user's own model: a factory function named by ``factory: "package.module:function"``.

hpo calls it as ``function(params, spec)`` for every trial and trains what it returns:

- ``params``: a dict of ``model.params`` with every search parameter sampled (the user's own
  settings; their Optuna names are ``model.params.<key>``);
- ``spec``: the :class:`~orchestrator.data.DataSpec` of the data: ``kind``, ``input_shape`` (per
  sample), ``n_outputs`` (also ``num_classes``: the same number), ``class_names``, ``task``,
  ``vocab_size`` (token data);

and it must return a ``torch.nn.Module`` that maps a batch ``(N, *input_shape)`` to
``(N, n_outputs)`` outputs (logits of the classes). The module is imported from the working
directory first, then from the installed packages. A wrong path or a function that cannot be
called that way is reported before any trial runs; an exception inside the factory fails that
trial with its message.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from orchestrator.errors import ConfigError, TrialFailure
from orchestrator.models._config import StrictConfig

if TYPE_CHECKING:
    from torch import nn

    from orchestrator.data import DataSpec

__all__ = ["DATA_KINDS", "Config", "build", "check", "resolve_factory"]

DATA_KINDS: tuple[str, ...] = ("image", "sequence", "features", "tokens")

_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class Config(StrictConfig):
    family: Literal["custom"] = "custom"
    factory: str  # "package.module:function", called as function(params, spec)
    params: dict[str, Any] = Field(default_factory=dict)  # the user's settings, fixed or searched

    @field_validator("factory")
    @classmethod
    def _is_a_path(cls, value: str) -> str:
        if not _PATH.match(value):
            raise ValueError(
                f"factory must read 'package.module:function', got {value!r}; e.g. "
                "examples.custom_model:build"
            )
        return value


def resolve_factory(path: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (the working directory first) and check that it can be
    called as ``function(params, spec)``.

    Raises:
        ConfigError: the module cannot be imported, has no such attribute, or the attribute is
            not a callable taking ``(params, spec)``.
    """
    module_name, _, attribute = path.partition(":")
    where = f"model.factory: {path!r}"
    if not module_name or not attribute:
        raise ConfigError(f"{where} must read 'package.module:function'")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # the user's own modules, as `python -m` would find them
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(
                f"{where}: no module named {exc.name!r} in the working directory ({cwd}) or "
                "the installed packages; check the path, or run hpo from the folder that holds it"
            ) from exc
        raise ConfigError(f"{where}: importing {module_name} failed: {exc}") from exc
    except Exception as exc:  # the user's module raised while being imported
        raise ConfigError(
            f"{where}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = sorted(
                n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
            )
            raise ConfigError(
                f"{where}: {module_name} has no attribute {attribute!r} "
                f"(callables there: {', '.join(names) or 'none'})"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{where} is a {type(target).__name__}, not a function")
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return target  # a builtin or C callable: its signature cannot be read
    try:
        signature.bind({}, object())
    except TypeError as exc:
        raise ConfigError(
            f"{where}: cannot be called as {attribute}(params, spec) ({exc}); define it as "
            f"def {attribute.split('.')[-1]}(params: dict, spec) -> torch.nn.Module"
        ) from None
    return target


def check(model: Mapping[str, Any], spec: DataSpec) -> None:
    """Before any trial: every factory the space may use imports and takes ``(params, spec)``.

    Raises:
        ConfigError: naming the factory and what is wrong with it.
    """
    factory = model.get("factory")
    # a fixed path, or a categorical choice between factories
    choices = (factory.get("choices") or []) if isinstance(factory, Mapping) else [factory]
    for path in choices:
        if isinstance(path, str):
            resolve_factory(path)


def build(config: Config, spec: DataSpec) -> nn.Module:
    """Call the user's factory with the sampled ``params`` and the data's ``spec``.

    Raises:
        TrialFailure: the factory raised, or returned something that is not an ``nn.Module``.
    """
    from torch import nn

    factory = resolve_factory(config.factory)
    try:
        model = factory(dict(config.params), spec)
    except TrialFailure:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TrialFailure(
            f"model.factory {config.factory} raised {type(exc).__name__}: {first}", kind="error"
        ) from exc
    if not isinstance(model, nn.Module):
        raise TrialFailure(
            f"model.factory {config.factory} returned a {type(model).__name__}, "
            "not a torch.nn.Module",
            kind="error",
        )
    return model
