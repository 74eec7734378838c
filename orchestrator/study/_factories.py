"""The study's sampler and pruner, built from the space's `study` section."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from orchestrator.config import StudyConfig
from orchestrator.errors import ConfigError, Problem, SpaceError
from orchestrator.space import Space

if TYPE_CHECKING:
    import optuna


_SAMPLER_PACKAGES = {"cmaes": ("cmaes",), "qmc": ("scipy",), "gp": ("scipy", "torch")}


def _check_options(kind: str, name: str, cls: type, options: dict[str, Any], source: str) -> None:
    import difflib

    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "seed")]
    problems = []
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
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
    import importlib.util

    import optuna

    cfg = space.study.sampler
    for package in _SAMPLER_PACKAGES.get(cfg.name, ()):
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"{space.source}: study.sampler: '{cfg.name}' needs the package '{package}'; "
                f"install it with: pip install {package}"
            )
    samplers: dict[str, type] = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "grid": optuna.samplers.GridSampler,
        "gp": optuna.samplers.GPSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }
    cls = samplers[cfg.name]
    options = dict(cfg.options)
    _check_options("sampler", cfg.name, cls, options, space.source)
    if cfg.name == "tpe" and space.branches() and "group" not in options:
        # conditional spaces: sample each branch's parameters jointly, not independently
        options.setdefault("multivariate", True)
        options["group"] = True
    if cfg.name == "grid":
        return cls(options.pop("search_space", None) or _grid(space), seed=seed, **options)
    return cls(seed=seed, **options)


def build_pruner(study: StudyConfig, *, epochs: int, source: str) -> optuna.pruners.BasePruner:
    """The study's pruner; ``patient`` wraps another (``wrapped: median`` by default)."""
    import optuna

    pruners: dict[str, type] = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "patient": optuna.pruners.PatientPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    cfg = study.pruner
    options = dict(cfg.options)
    if cfg.name == "patient":
        wrapped = options.pop("wrapped", "median")
        if wrapped not in pruners or wrapped == "patient":
            valid = ", ".join(n for n in pruners if n != "patient")
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
        options.setdefault("patience", 1)
        _check_options("pruner", cfg.name, pruners["patient"], options, source)
        return optuna.pruners.PatientPruner(inner, **options)
    _check_options("pruner", cfg.name, pruners[cfg.name], options, source)
    if cfg.name == "median":
        # steps are 1-based epochs: a trial is never judged on its first epoch alone
        options.setdefault("n_warmup_steps", 2)
        options.setdefault("n_startup_trials", 5)
    elif cfg.name == "percentile":
        options.setdefault("percentile", 25.0)
        options.setdefault("n_warmup_steps", 2)
    elif cfg.name == "hyperband":
        options.setdefault("min_resource", 1)
        options.setdefault("max_resource", epochs)
    elif cfg.name == "threshold" and not ({"lower", "upper"} & options.keys()):
        raise SpaceError(
            source,
            [Problem("study.pruner", "threshold pruner needs lower or upper; add e.g. lower: 0.5")],
        )
    try:
        return pruners[cfg.name](**options)
    except (TypeError, ValueError) as exc:
        raise SpaceError(source, [Problem("study.pruner", str(exc).splitlines()[0])]) from exc


def prunes_from(pruner: optuna.pruners.BasePruner) -> int | None:
    """The first step (epoch) at which ``pruner`` may prune; None if it never prunes.

    Asking a median or percentile pruner earlier reads every finished trial of the study (a
    database query per epoch on PostgreSQL) for an answer known in advance: no.
    """
    import optuna

    if isinstance(pruner, optuna.pruners.NopPruner):
        return None
    if isinstance(pruner, optuna.pruners.PercentilePruner):  # MedianPruner is one
        return int(getattr(pruner, "_n_warmup_steps", 0))
    return 0
