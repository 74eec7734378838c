"""Every check ``hpo run`` makes before it writes anything, and exactly what ``hpo validate``
runs: the tracking store, the device and precision, the sampler and pruner, the data (loaded
once; its task decides the objectives), the training settings the task takes, the model family
and augmentation against the data, and one configuration of the space built and trained for one
step on a few samples (:func:`probe_configuration`), so that a failure every trial would meet is
said once, here, in one line."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.config import DataConfig
from orchestrator.errors import (
    ConfigError,
    DataError,
    Problem,
    SpaceError,
    TrialFailure,
    first_line,
)
from orchestrator.redact import redact_url
from orchestrator.space import Space
from orchestrator.storage._drivers import missing_driver
from orchestrator.study._factories import build_pruner, build_sampler, epochs_of

if TYPE_CHECKING:
    import torch

    from orchestrator.data import Splits
    from orchestrator.tasks import Task

__all__ = ["Checked", "check_tracking", "preflight", "probe_configuration"]

logger = logging.getLogger(__name__)

PROBE_SAMPLES = 4  # samples of the one-step probe
PROBE_TRIES = 10  # configurations tried: the probe fails only if every one fails


@dataclass
class Checked:
    """What the checks before the first trial found: the device and precision to train with, the
    study's data (loaded once; trials reuse it), and the space with its objectives known (the
    data's task's default metric where the file names none)."""

    device: torch.device
    precision: str
    space: Space
    data: dict[str, Splits] = field(default_factory=dict)  # by data config (JSON)

    @property
    def task(self) -> str | None:
        """What the study's models predict (the data's task), None when no data was loaded."""
        return next((s.spec.task for s in self.data.values()), None)

    @property
    def note(self) -> str | None:
        """What ``data.task: auto`` decided, in words (None when the file set the task)."""
        return next((s.note for s in self.data.values() if s.note), None)


def preflight(
    space: Space,
    *,
    device: str = "auto",
    load_data: bool = True,
    tracking_uri: str | None = None,
) -> Checked:
    """Every check ``hpo run`` makes before it writes anything; ``hpo validate`` runs exactly
    these. The MLflow tracking store is checked first (``tracking_uri``, None: MLflow's default;
    writable or reachable, in seconds, writing nothing), then the device and precision are
    resolved, the sampler and pruner constructed (their options checked), the data loaded, and
    the model family (a custom factory too) and the augmentation checked against it. A problem is
    blamed on the ``--set`` that caused it, else on the space file.

    Raises:
        ConfigError: the tracking store cannot be written or reached.
        HpoError: the first check that fails (SpaceError carries every problem of its kind).
    """
    check_tracking(tracking_uri)
    try:
        return _checks(space, device=device, load_data=load_data)
    except SpaceError as exc:
        if exc.source != space.source:
            raise
        raise space.error(exc.problems) from exc
    except DataError as exc:  # "data.name: unknown data set ...": a place in the space
        match = _DATA_PLACE.match(str(exc))
        if match is None:
            raise
        raise space.error([Problem(match["path"], match["message"])]) from exc


def check_tracking(tracking_uri: str | None) -> None:
    """The MLflow tracking store can be written or reached (see :func:`check_tracking_store`);
    a missing database driver is named with the package to install."""
    import os

    from orchestrator.tracking import check_tracking_store, default_tracking_uri

    # the environment first: MLflow's own default costs importing mlflow (seconds)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if os.environ.get("MLFLOW_TRACKING_URI") == uri:
        source = "MLFLOW_TRACKING_URI"
    elif tracking_uri is None:
        source = "MLflow's default tracking URI"
    else:
        source = "--tracking-uri"
    try:
        check_tracking_store(uri, source=source)
    except ConfigError as exc:
        missing = missing_driver(exc)
        if missing is None:
            raise
        raise ConfigError(f"{source} {redact_url(uri)}: {missing}") from exc


_DATA_PLACE = re.compile(r"^(?P<path>data(?:\.[\w.]+)?): (?P<message>.*)$", re.DOTALL)


def _checks(space: Space, *, device: str, load_data: bool) -> Checked:
    from orchestrator.device import resolve_device, resolve_precision

    torch_device = resolve_device(device)
    train_precision = (space.raw.get("train") or {}).get("precision", "auto")
    precision = resolve_precision(
        train_precision if isinstance(train_precision, str) else "auto", torch_device
    )
    build_sampler(space, seed=space.study.seed)
    checked = Checked(device=torch_device, precision=str(precision), space=space)
    if load_data:
        from orchestrator.augment import check_augment_space
        from orchestrator.data import load_data as load
        from orchestrator.models import check_compatible
        from orchestrator.tasks import task_of

        config = _fixed_data_config(space)
        splits = load(config, seed=space.study.seed)
        checked.data[config.model_dump_json()] = splits
        task = task_of(splits.spec)
        checked.space = space = space.for_task(task, splits.spec)
        _check_training(space, task)
        model = space.raw.get("model") or {}
        family = model.get("family")
        if isinstance(family, str):
            check_compatible(family, splits.spec, model=model)
        check_augment_space(space.raw.get("train"), splits.spec.kind, source=space.source)
        probe_configuration(space, splits, device=torch_device)
    if space.resolved and not space.study.is_multi_objective:
        build_pruner(space.study, epochs=epochs_of(space), source=space.source)
    return checked


def _check_training(space: Space, task: Task) -> None:
    """Every value the space may give a training setting that depends on the task (the loss,
    class weights, label smoothing) is one the task takes.

    Raises:
        SpaceError: each such value, at its place (``train.loss``).
    """
    section = space.raw.get("train") or {}
    problems = []
    for key in ("loss", "class_weight", "label_smoothing"):
        if key not in section:
            continue
        for value in _possible(section[key]):
            problem = task.training_problem(key, value)
            if problem is not None:
                problems.append(Problem(f"train.{key}", problem))
                break
    if problems:
        raise space.error(problems)


def _possible(value: Any) -> list[Any]:
    """The values a setting of the space may take: a fixed one, a categorical's choices, or a
    numeric parameter's ends."""
    if isinstance(value, dict) and "type" in value:
        if value.get("type") == "categorical":
            choices = value.get("choices")
            return list(choices) if isinstance(choices, (list, dict)) else []
        return [value.get("low"), value.get("high")]
    return [value]


def _fixed_data_config(space: Space) -> DataConfig:
    section = dict(space.raw.get("data") or {})

    def searched(mapping: dict[str, Any], prefix: str) -> list[str]:  # nested groups too
        return [
            path
            for key, value in mapping.items()
            if isinstance(value, dict)
            for path in (
                [f"{prefix}.{key}"] if "type" in value else searched(value, f"{prefix}.{key}")
            )
        ]

    paths = searched(section, "data")
    if paths:
        raise SpaceError(
            space.source,
            [Problem(p, "data settings are fixed for a study; give one value") for p in paths],
        )
    return DataConfig.model_validate(section)


def probe_configuration(space: Space, splits: Splits, *, device: Any) -> None:
    """Build a configuration of the space (sampled at random, seeded) and train it for one step
    on a few training samples: its model, its output against the task, its loss and its
    gradients. A combination the space itself refuses (too many poolings) is tried again with
    another; only when :data:`PROBE_TRIES` configurations all fail is it a problem of the space,
    not of one configuration.

    Raises:
        ConfigError: every configuration tried fails, with the first failure and the parameters
            that gave it.
    """
    import optuna
    import torch

    from orchestrator.models import adapt_data, build_model
    from orchestrator.space import suggest
    from orchestrator.tasks import task_of

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=space.study.seed))
    first: tuple[str, dict[str, Any]] | None = None
    for _ in range(PROBE_TRIES):
        trial = study.ask()
        try:
            config = suggest(space, trial)
            data = adapt_data(config.model, splits, config.data)
            model = build_model(config.model, data.spec, seed=space.study.seed).to(device)
        except (DataError, ConfigError):
            raise
        except Exception as exc:  # an impossible combination, the user's factory failing
            reason = str(exc) if isinstance(exc, TrialFailure) else first_line(exc, with_type=True)
            first = first or (reason, dict(trial.params))
            continue
        x = data.model_input(data.train[0][:PROBE_SAMPLES].to(device))
        y = data.train[1][:PROBE_SAMPLES].to(device)
        task = task_of(data.spec)
        try:
            model.train()
            out = model(x)
            problem = task.output_problem(tuple(out.shape), len(x), data.spec)
            if problem is not None:
                raise ValueError(f"its output has shape {tuple(out.shape)}; {problem}")
            loss = task.loss_function(config.train, data.spec, data.train[1])(out.float(), y)
            loss.backward()
            if not torch.isfinite(loss):
                raise ValueError(f"its first loss is {loss.item()}")
            return
        except Exception as exc:
            from orchestrator.train._failures import is_oom

            if is_oom(exc):
                return  # memory is a trial's matter: its batch size decides
            first = first or (first_line(exc, with_type=True), dict(trial.params))
    if first is None:
        return
    reason, params = first
    shown = ", ".join(f"{k}={v!r}" for k, v in list(params.items())[:6]) or "no parameters"
    raise ConfigError(
        f"{space.source}: a configuration of this space fails on the data before any trial "
        f"({shown}): {reason}; every one of {PROBE_TRIES} tried failed"
    )
