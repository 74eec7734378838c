"""The Optuna study: storage, sampler, pruner, the trial loop, budgets and the end-of-study test.

``run_study`` drives an ask-and-tell loop rather than ``study.optimize`` so that the budget is the
study's total of finished trials (exact across resumes and workers), every way a trial can end is
mirrored in MLflow, and an interrupt leaves nothing RUNNING in either store.

Failure policy per trial: pruned -> PRUNED; an expected failure (:class:`TrialFailure`: NaN loss,
out of memory, an impossible shape) -> FAIL and the study goes on; an interrupt -> FAIL with
``fail_kind=interrupted`` and its parameters queued again for the next run; any other exception is
a programming error -> FAIL, and the run stops.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import __version__
from orchestrator.config import DataConfig, StudyConfig
from orchestrator.errors import ConfigError, HpoError, Problem, SpaceError, StudyError, TrialFailure
from orchestrator.redact import redact_url
from orchestrator.space import Space, parse_space_dict, suggest

if TYPE_CHECKING:
    import optuna

    from orchestrator.data import Splits
    from orchestrator.tracking import Tracker

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "EpochEvent",
    "StudyInfo",
    "StudyResult",
    "TrialEvent",
    "build_pruner",
    "build_sampler",
    "describe_storage",
    "get_best",
    "list_studies",
    "load_study",
    "open_storage",
    "run_study",
    "trial_seed",
]

logger = logging.getLogger(__name__)

STORAGE_ENV = "HPO_STORAGE"
DEFAULT_STORAGE = "mlruns/optuna.journal"  # Optuna journal file: fast, safe for many processes
MAX_CONSECUTIVE_FAILURES = 5  # stop a run whose last trials all failed: the space is broken
NOT_COUNTED = ("interrupted", "stale")  # FAIL kinds that do not use up the budget
ATTR_SPACE = "hpo.space"
ATTR_SPACE_TEXT = "hpo.space_text"
ATTR_SOURCE = "hpo.space_source"
ATTR_PARENT_RUN = "hpo.mlflow_parent_run_id"
ATTR_TEST = "hpo.test_metrics"


# --- storage -----------------------------------------------------------------------------------


def _is_rdb(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres", "mysql")


def describe_storage(url: str | None) -> str:
    """The storage in use, for output and tags, with any password redacted."""
    return redact_url(url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE) or DEFAULT_STORAGE


def open_storage(url: str | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL, HPO_STORAGE, or the default journal file under ``mlruns/``.

    Any SQLAlchemy URL (``sqlite:///``, ``postgresql://``, ``mysql://``) gives an RDB storage with
    pooled, pre-pinged connections; anything else is a journal file path (``journal:`` optional).
    """
    import optuna

    url = url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    try:
        if _is_rdb(url):
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {
                    "timeout": 30
                }  # FACTS: default 5 s locks under contention
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        path = Path(url.removeprefix("journal:").removeprefix("//"))
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except HpoError:
        raise
    except Exception as exc:  # a bad URL or an unreachable server: bad input, one line
        raise ConfigError(
            f"--storage {redact_url(url)}: cannot open the Optuna storage "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "give a path to a journal file or a database URL such as postgresql://host/db"
        ) from exc


# --- sampler and pruner ------------------------------------------------------------------------

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
        options.setdefault("n_warmup_steps", 1)  # never judge a trial on its first epoch alone
        options.setdefault("n_startup_trials", 5)
    elif cfg.name == "percentile":
        options.setdefault("percentile", 25.0)
        options.setdefault("n_warmup_steps", 1)
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


# --- trial seeds and events --------------------------------------------------------------------


def trial_seed(study_seed: int, trial_number: int) -> int:
    """Each trial's seed, derived from the study seed and the trial number (logged as ``seed``)."""
    return (study_seed * 1_000_003 + trial_number * 7919 + 17) % (2**31 - 1)


@dataclass(frozen=True)
class EpochEvent:
    """One epoch of a running trial, for a live progress line."""

    number: int
    epoch: int
    epochs: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialEvent:
    """A finished trial, for the per-trial progress line."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    value: float | None
    best_value: float | None
    best_number: int | None
    seconds: float
    epochs: int
    reason: str | None = None
    finished: int = 0  # trials counted towards the budget so far
    n_trials: int = 0


@dataclass
class StudyResult:
    """What one ``run_study`` call did."""

    study_name: str
    storage: str  # redacted
    tracking_uri: str  # redacted
    parent_run_id: str | None
    n_trials: int
    finished: int
    ran: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    stopped_by: str = "budget"  # budget, timeout, failures, interrupt
    seconds: float = 0.0


Progress = Callable[[object], None]


# --- study helpers -----------------------------------------------------------------------------


def load_study(name: str, *, storage: str | None = None) -> optuna.Study:
    """An existing study by name; a missing one is a StudyError listing those that exist."""
    import optuna

    store = open_storage(storage)
    names = optuna.get_all_study_names(store)
    if name not in names:
        known = ", ".join(sorted(names)) or "none yet"
        raise StudyError(
            f"no study named '{name}' in {describe_storage(storage)} (studies: {known}); "
            "check --study and --storage"
        )
    return optuna.load_study(study_name=name, storage=store)


def stored_space(study: optuna.Study) -> Space:
    """The search space stored with a study when it was created."""
    raw = study.user_attrs.get(ATTR_SPACE)
    if raw is None:
        raise StudyError(f"study '{study.study_name}' has no stored search space; give --space")
    return parse_space_dict(
        raw,
        source=study.user_attrs.get(ATTR_SOURCE, study.study_name),
        text=study.user_attrs.get(ATTR_SPACE_TEXT),
    )


def _is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("fail_kind") not in NOT_COUNTED


def _budget_counts(study: optuna.Study) -> tuple[int, int]:
    """(trials counted towards the budget, trials running now)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = sum(1 for t in trials if _is_counted(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return finished, running


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


@dataclass(frozen=True)
class StudyInfo:
    name: str
    states: dict[str, int]
    best_value: float | None
    best_number: int | None
    direction: str
    metric: str | None


def list_studies(*, storage: str | None = None) -> list[StudyInfo]:
    """Every study in a storage: trials by state and best value."""
    import optuna

    store = open_storage(storage)
    infos = []
    for summary in optuna.get_all_study_summaries(store, include_best_trial=True):
        study = optuna.load_study(study_name=summary.study_name, storage=store)
        states: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = summary.best_trial
        infos.append(
            StudyInfo(
                name=summary.study_name,
                states=states,
                best_value=best.value if best is not None else None,
                best_number=best.number if best is not None else None,
                direction=summary.direction.name.lower(),
                metric=study.user_attrs.get("hpo.metric"),
            )
        )
    return infos


def get_best(name: str, *, storage: str | None = None) -> dict[str, Any]:
    """The best trial of a study: number, value, params, seed and its MLflow run id."""
    study = load_study(name, storage=storage)
    best = _best(study)
    if best is None:
        raise StudyError(f"study '{name}' has no completed trial yet; run it first: hpo run ...")
    return {
        "study": name,
        "metric": study.user_attrs.get("hpo.metric"),
        "direction": study.direction.name.lower(),
        "number": best.number,
        "value": best.value,
        "params": best.params,
        "seed": best.user_attrs.get("seed"),
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "mlflow_parent_run_id": study.user_attrs.get(ATTR_PARENT_RUN),
        "test_metrics": study.user_attrs.get(ATTR_TEST),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --- the run -----------------------------------------------------------------------------------


@dataclass
class _Context:
    space: Space
    study: optuna.Study
    tracker: Tracker
    device: Any
    precision: str
    metric: str
    direction: str
    progress: Progress | None
    _data: dict[str, Splits] = field(default_factory=dict)

    def data(self, config: DataConfig) -> Splits:
        """Load (once per process) and cache the splits of a data config."""
        from orchestrator.data import load_data

        key = config.model_dump_json()
        if key not in self._data:
            self._data[key] = load_data(config, seed=self.space.study.seed)
        return self._data[key]


def _fixed_data_config(space: Space) -> DataConfig:
    section = dict(space.raw.get("data") or {})
    if any(isinstance(v, dict) and "type" in v for v in section.values()):
        raise SpaceError(
            space.source, [Problem("data", "data settings must be fixed, not searched")]
        )
    return DataConfig.model_validate(section)


def _prepare_data(ctx: _Context) -> Splits:
    """Load the data and check the model family can take it, before any trial runs."""
    from orchestrator.models import check_compatible

    splits = ctx.data(_fixed_data_config(ctx.space))
    family = (ctx.space.raw.get("model") or {}).get("family")
    if isinstance(family, str):
        check_compatible(family, splits.spec)
    return splits


def _ensure_study(space: Space, *, storage: str | None, name: str) -> optuna.Study:
    import optuna

    store = open_storage(storage)
    direction = space.study.resolved_direction
    exists = name in optuna.get_all_study_names(store)
    n_existing = 0
    if exists:
        existing = optuna.load_study(study_name=name, storage=store)
        n_existing = len(existing.get_trials(deepcopy=False))
        stored = existing.direction.name.lower()
        if stored != direction:
            raise StudyError(
                f"study '{name}' was created to {stored} {existing.user_attrs.get('hpo.metric')}, "
                f"but the space asks to {direction} {space.study.metric}; "
                "use another --study name"
            )
    # the sampler seed moves on with the study, so a resumed run does not replay its first samples
    sampler = build_sampler(space, seed=space.study.seed + n_existing)
    epochs = (
        int((space.raw.get("train") or {}).get("epochs", 10))
        if isinstance((space.raw.get("train") or {}).get("epochs", 10), int)
        else 10
    )
    pruner = build_pruner(space.study, epochs=epochs, source=space.source)
    study = optuna.create_study(
        study_name=name,
        storage=store,
        sampler=sampler,
        pruner=pruner,
        direction=direction,
        load_if_exists=True,
    )
    if not exists:
        study.set_user_attr(ATTR_SPACE, space.raw)
        study.set_user_attr(ATTR_SPACE_TEXT, space.text)
        study.set_user_attr(ATTR_SOURCE, space.source)
        study.set_user_attr("hpo.metric", space.study.metric)
        study.set_user_attr("hpo.version", __version__)
    return study


def _parent_tags(
    space: Space, *, storage: str | None, device: Any, precision: str
) -> dict[str, Any]:
    tags = {
        "hpo.sampler": space.study.sampler.name,
        "hpo.pruner": space.study.pruner.name,
        "hpo.metric": space.study.metric,
        "hpo.direction": space.study.resolved_direction,
        "hpo.storage": describe_storage(storage),
        "hpo.version": __version__,
        "hpo.device": str(device),
        "hpo.precision": precision,
        "hpo.space_file": space.source,
    }
    commit = _git_commit()
    if commit:
        tags["hpo.git_commit"] = commit
    return tags


def run_study(
    space: Space,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
) -> StudyResult:
    """Create or resume a study and run trials until its budget, a timeout or an interrupt.

    Args:
        space: the loaded search space.
        study_name: defaults to ``space.name``; the same name resumes the study.
        storage: Optuna storage URL or journal path; default HPO_STORAGE, else
            ``mlruns/optuna.journal``.
        tracking_uri: MLflow tracking URI; default MLFLOW_TRACKING_URI, else MLflow's own.
        n_trials: the study's total of finished trials; default ``study.n_trials`` of the space.
        timeout: seconds after which this call starts no new trial; default ``study.timeout``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch in this process; None leaves torch's default.
        progress: called with :class:`EpochEvent` and :class:`TrialEvent` objects.

    Raises:
        KeyboardInterrupt: after marking the running trial and its run; the study stays resumable.
    """
    import torch

    from orchestrator.device import resolve_device, resolve_precision
    from orchestrator.tracking import Tracker

    started = time.monotonic()
    name = study_name or space.name
    n_trials = n_trials or space.study.n_trials
    timeout = timeout if timeout is not None else space.study.timeout_seconds
    if threads:
        torch.set_num_threads(threads)
    torch_device = resolve_device(device)
    train_precision = (space.raw.get("train") or {}).get("precision", "auto")
    precision = resolve_precision(
        train_precision if isinstance(train_precision, str) else "auto", torch_device
    )

    study = _ensure_study(space, storage=storage, name=name)
    tracker = Tracker(name, tracking_uri=tracking_uri)
    ctx = _Context(
        space=space,
        study=study,
        tracker=tracker,
        device=torch_device,
        precision=precision,
        metric=space.study.metric,
        direction=space.study.resolved_direction,
        progress=progress,
    )
    _prepare_data(ctx)
    parent = tracker.start_parent(
        name,
        run_id=study.user_attrs.get(ATTR_PARENT_RUN),
        params=space.fixed_params(),
        tags=_parent_tags(space, storage=storage, device=torch_device, precision=precision),
    )
    if study.user_attrs.get(ATTR_PARENT_RUN) != parent:
        study.set_user_attr(ATTR_PARENT_RUN, parent)
        tracker.log_text(parent, space.text, "space.yaml")
        tracker.log_dict(parent, space.raw, "space_resolved.json")

    result = StudyResult(
        study_name=name,
        storage=describe_storage(storage),
        tracking_uri=redact_url(tracker.tracking_uri) or "",
        parent_run_id=parent,
        n_trials=n_trials,
        finished=0,
    )
    consecutive_failures = 0
    status = "KILLED"
    try:
        while True:
            finished, running = _budget_counts(study)
            result.finished = finished
            if finished + running >= n_trials:
                result.stopped_by = "budget"
                break
            if timeout is not None and time.monotonic() - started >= timeout:
                result.stopped_by = "timeout"
                break
            event = _run_one_trial(ctx, n_trials=n_trials)
            result.ran += 1
            result.states[event.state] = result.states.get(event.state, 0) + 1
            consecutive_failures = consecutive_failures + 1 if event.state == "FAIL" else 0
            if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                result.stopped_by = "failures"
                break
        result.finished = _budget_counts(study)[0]
        _finish(ctx, result)
        status = "FAILED" if result.stopped_by == "failures" else "FINISHED"
    except KeyboardInterrupt:
        result.stopped_by = "interrupt"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        result.seconds = time.monotonic() - started
        tracker.end_parent(status)  # type: ignore[arg-type]
    return result


def _finish(ctx: _Context, result: StudyResult) -> None:
    """Record the best trial and evaluate it once on the held-out test split."""
    best = _best(ctx.study)
    if best is None:
        return
    result.best_number, result.best_value, result.best_params = best.number, best.value, best.params
    stored = ctx.study.user_attrs.get(ATTR_TEST) or {}
    if stored.get("trial") == best.number:
        result.test_metrics = {k: v for k, v in stored.items() if k != "trial"}
        return
    metrics = evaluate_trial_on_test(ctx, best)
    if metrics is not None:
        result.test_metrics = metrics
        ctx.study.set_user_attr(ATTR_TEST, {"trial": best.number, **metrics})


def evaluate_trial_on_test(
    ctx: _Context, trial: optuna.trial.FrozenTrial
) -> dict[str, float] | None:
    """Load a trial's saved weights and evaluate them on the test split; log on the parent run."""
    import torch

    from orchestrator.models import build_model, family_config
    from orchestrator.train import evaluate

    config = trial.user_attrs.get("config")
    run_id = trial.user_attrs.get("mlflow_run_id")
    if config is None or run_id is None:
        logger.warning("trial %d has no stored config or MLflow run: not evaluated", trial.number)
        return None
    data_cfg = DataConfig.model_validate(config["data"])
    splits = ctx.data(data_cfg)
    model_cfg = family_config(config["model"]["family"]).model_validate(config["model"])
    model = build_model(model_cfg, splits.spec)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = ctx.tracker.download(run_id, "model.pt", tmp)
        except Exception as exc:  # weights not reachable in this tracking store
            logger.warning(
                "trial %d weights not found in MLflow (%s): not evaluated", trial.number, exc
            )
            return None
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    x, y = splits.test
    report = evaluate(
        model, x, y, device=ctx.device, precision=ctx.precision, num_classes=splits.spec.num_classes
    )
    metrics = {
        f"test_{k}": float(report[k]) for k in ("loss", "accuracy", "precision", "recall", "f1")
    }
    parent = ctx.tracker.parent_run_id
    if parent is not None:
        ctx.tracker.log_metrics(parent, metrics, step=trial.number)
        ctx.tracker.set_tags(parent, {"hpo.test_trial": trial.number})
        ctx.tracker.log_dict(
            parent,
            {"trial": trial.number, "class_names": splits.spec.class_names, **report},
            "test_evaluation.json",
        )
    return metrics


def _run_one_trial(ctx: _Context, *, n_trials: int) -> TrialEvent:
    import optuna
    from optuna.trial import TrialState

    from orchestrator.models import build_model
    from orchestrator.train import fit

    study = ctx.study
    trial = study.ask()
    started = time.monotonic()
    seed = trial_seed(ctx.space.study.seed, trial.number)
    trial.set_user_attr("seed", seed)
    config, failure = None, None
    try:
        config = suggest(ctx.space, trial)
    except TrialFailure as exc:  # an impossible combination: recorded like any failed trial
        failure = exc
    run = ctx.tracker.start_trial(
        trial.number,
        params={**trial.params, "seed": seed},
        tags={"hpo.device": str(ctx.device), "hpo.precision": ctx.precision},
    )
    trial.set_user_attr("mlflow_run_id", run.run_id)
    epochs_done = 0
    value, reason, last_value = None, None, None
    try:
        if failure is not None:
            raise failure
        assert config is not None
        trial.set_user_attr("config", config.to_dict())
        ctx.tracker.log_dict(run.run_id, config.to_dict(), "trial_config.json")
        splits = ctx.data(config.data)
        model = build_model(config.model, splits.spec, seed=seed)
        epochs = config.train.epochs

        def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
            nonlocal epochs_done, last_value
            epochs_done, last_value = epoch, metrics.get(ctx.metric)
            run.log_epoch(epoch, metrics)
            if ctx.progress is not None:
                ctx.progress(EpochEvent(trial.number, epoch, epochs, dict(metrics)))
            trial.report(metrics[ctx.metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        fit_result = fit(
            model,
            splits,
            config.train,
            device=ctx.device,
            precision=ctx.precision,
            seed=seed,
            metric=ctx.metric,
            direction=ctx.direction,
            callbacks=[on_epoch_end],
        )
        value = float(fit_result.best_metrics[ctx.metric])
        run.log_state_dict(fit_result.best_state)
        trial.set_user_attr("n_parameters", fit_result.n_parameters)
        trial.set_user_attr("best_epoch", fit_result.best_epoch)
        study.tell(trial, value)
        state = "COMPLETE"
        run.end(
            "FINISHED",
            state=state,
            tags={"hpo.best_epoch": fit_result.best_epoch},
            metrics={f"best_{ctx.metric}": value, "n_parameters": fit_result.n_parameters},
        )
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        state, reason, value = "PRUNED", f"pruned at epoch {epochs_done}", last_value
        run.end("FINISHED", state=state, tags={"hpo.pruned_epoch": epochs_done})
    except TrialFailure as exc:
        state, reason = "FAIL", str(exc)
        _tell_failed(study, trial, reason=reason, kind=exc.kind)
        run.end("FAILED", state=state, tags={"hpo.fail_reason": reason, "hpo.fail_kind": exc.kind})
    except KeyboardInterrupt:
        _tell_failed(study, trial, reason="interrupted", kind="interrupted")
        # queue the same parameters again so that the next run finishes this configuration
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        run.end(
            "KILLED",
            state="FAIL",
            tags={"hpo.fail_reason": "interrupted", "hpo.fail_kind": "interrupted"},
        )
        raise
    except BaseException as exc:  # a programming error: record it, then stop the run
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        _tell_failed(study, trial, reason=reason, kind="error")
        run.end("FAILED", state="FAIL", tags={"hpo.fail_reason": reason, "hpo.fail_kind": "error"})
        raise
    finally:
        if not run.ended:  # whatever happened, the run must not stay RUNNING
            run.end("FAILED", state="FAIL")
    seconds = time.monotonic() - started
    best = _best(study)
    if state == "COMPLETE" and best is not None and best.number == trial.number:
        parent = ctx.tracker.parent_run_id
        if parent is not None:
            ctx.tracker.log_metrics(parent, {"best_value": best.value}, step=trial.number)
            ctx.tracker.set_tags(parent, {"hpo.best_trial": trial.number})
    event = TrialEvent(
        number=trial.number,
        state=state,
        value=value,
        best_value=best.value if best is not None else None,
        best_number=best.number if best is not None else None,
        seconds=seconds,
        epochs=epochs_done,
        reason=reason,
        finished=_budget_counts(study)[0],
        n_trials=n_trials,
    )
    if ctx.progress is not None:
        ctx.progress(event)
    return event


def _tell_failed(study: optuna.Study, trial: optuna.Trial, *, reason: str, kind: str) -> None:
    from optuna.trial import TrialState

    trial.set_user_attr("fail_reason", reason[:1000])
    trial.set_user_attr("fail_kind", kind)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def result_as_dict(result: StudyResult) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(result), default=str))
