"""The study's sampler and pruner, built from the space's ``study`` section through the registries
in :mod:`orchestrator.config` (a new sampler or pruner is one entry there).

What a few of them need from the space is filled in here: the grid of the grid sampler, TPE's
joint sampling of conditional branches, hyperband's ``max_resource`` (the epochs), the pruner that
``patient`` wraps, the bound a threshold pruner needs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import TYPE_CHECKING, Any

from orchestrator.config import PRUNERS, SAMPLERS, Factory, StudyConfig
from orchestrator.errors import ConfigError, Problem, SpaceError, closest, first_line
from orchestrator.space import Space
from orchestrator.storage._optuna import pruner_warmup_steps, vectorized_tpe_math

if TYPE_CHECKING:
    import optuna

__all__ = ["build_pruner", "build_sampler", "epochs_of", "prunes_from"]


def _class(factory: Factory) -> type:
    module, name = factory.target.split(":")
    return getattr(importlib.import_module(module), name)


def _check_packages(kind: str, name: str, factory: Factory, source: str) -> None:
    for package in factory.packages:
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"{source}: study.{kind}: '{name}' needs the package '{package}'; "
                f"install it with: pip install {package}"
            )


def _check_options(
    kind: str, name: str, cls: type, options: dict[str, Any], source: str, *, also: tuple = ()
) -> None:
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "seed")]
    accepted += list(also)
    problems = []
    for key in options:
        if key not in accepted:
            guess = closest(key, accepted)
            hint = f"; did you mean '{guess}'?" if guess else ""
            problems.append(
                Problem(
                    f"study.{kind}.{key}",
                    f"unknown option '{key}' for {kind} '{name}'{hint} "
                    f"(valid: {', '.join(accepted)})",
                )
            )
    if problems:
        raise SpaceError(source, problems)


def _grid(space: Space) -> dict[str, list[Any]]:
    import numpy as np

    grid: dict[str, list[Any]] = {}
    problems = []
    for p in space.parameters():
        if p.type == "categorical":
            grid[p.name] = list(p.choices)
        elif p.step is not None or p.type == "int":
            step = p.step or 1
            values = np.arange(p.low, p.high + step / 2, step)
            grid[p.name] = [int(v) if p.type == "int" else float(v) for v in values]
        else:
            problems.append(
                Problem(
                    p.name, "the grid sampler needs a step or choices; add step to this parameter"
                )
            )
    if problems:
        raise SpaceError(space.source, problems)
    return grid


def build_sampler(space: Space, *, seed: int) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded; a missing optional package is a clear error naming it."""
    cfg = space.study.sampler
    factory = SAMPLERS[cfg.name]
    _check_packages("sampler", cfg.name, factory, space.source)
    cls = _class(factory)
    options = {**factory.defaults, **cfg.options}
    also = ("window",) if "window" in factory.defaults else ()
    _check_options("sampler", cfg.name, cls, dict(cfg.options), space.source, also=also)
    window = options.pop("window", None)
    if cfg.name == "tpe":
        vectorized_tpe_math()
    if cfg.name == "tpe" and space.branches() and "group" not in options:
        # conditional spaces: sample each branch's parameters jointly, not independently
        options.setdefault("multivariate", True)
        options["group"] = True
    if cfg.name == "grid":
        return cls(options.pop("search_space", None) or _grid(space), seed=seed, **options)
    sampler = cls(seed=seed, **options)
    if window is None:
        return sampler
    from orchestrator.study._window import WindowedSampler

    try:
        return WindowedSampler(sampler, int(window))
    except (TypeError, ValueError) as exc:
        raise SpaceError(
            space.source, [Problem("study.sampler.window", f"{first_line(exc)}; or null for none")]
        ) from exc


def build_pruner(study: StudyConfig, *, epochs: int, source: str) -> optuna.pruners.BasePruner:
    """The study's pruner; ``patient`` wraps another (``wrapped: median`` by default)."""
    cfg = study.pruner
    factory = PRUNERS[cfg.name]
    cls = _class(factory)
    options = dict(cfg.options)
    if cfg.name == "patient":
        wrapped = options.pop("wrapped", "median")
        if wrapped not in PRUNERS or wrapped == "patient":
            valid = ", ".join(n for n in PRUNERS if n != "patient")
            raise SpaceError(
                source,
                [Problem("study.pruner.wrapped", f"unknown pruner '{wrapped}'; valid: {valid}")],
            )
        inner = build_pruner(
            study.model_copy(
                update={"pruner": cfg.model_copy(update={"name": wrapped, "options": {}})}
            ),
            epochs=epochs,
            source=source,
        )
        _check_options("pruner", cfg.name, cls, options, source)
        return cls(inner, **{**factory.defaults, **options})
    _check_options("pruner", cfg.name, cls, options, source)
    options = {**factory.defaults, **options}
    if cfg.name == "hyperband":
        options.setdefault("max_resource", epochs)
    elif cfg.name == "threshold" and not ({"lower", "upper"} & options.keys()):
        raise SpaceError(
            source,
            [Problem("study.pruner", "threshold pruner needs lower or upper; add e.g. lower: 0.5")],
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise SpaceError(source, [Problem("study.pruner", first_line(exc))]) from exc


def prunes_from(pruner: optuna.pruners.BasePruner) -> int | None:
    """The first step (epoch) at which ``pruner`` may prune; None if it never prunes.

    Asking a median or percentile pruner earlier reads every finished trial of the study (a
    database query per epoch on PostgreSQL) for an answer known in advance: no.
    """
    import optuna

    if isinstance(pruner, optuna.pruners.NopPruner):
        return None
    return pruner_warmup_steps(pruner)


def epochs_of(space: Space) -> int:
    """The most steps a trial of this space reports (hyperband's ``max_resource``): its epochs,
    times the folds with ``data.cv`` (a trial reports each fold's epochs in turn)."""
    epochs = (space.raw.get("train") or {}).get("epochs", 10)
    epochs = epochs if isinstance(epochs, int) else int((epochs or {}).get("high", 10))
    folds = (space.raw.get("data") or {}).get("cv")
    return epochs * folds if isinstance(folds, int) and folds > 1 else epochs
