"""The Optuna study: sampler, pruner, the trial loop, budgets, deadlines and the end-of-study test.

``run_study`` drives an ask-and-tell loop rather than ``study.optimize`` so that the budget is the
study's total of finished trials (exact across resumes and workers: counting and asking happen
under a lock shared by every worker), every way a trial can end is mirrored in MLflow, and an
interrupt leaves nothing RUNNING in either store.

Failure policy per trial: pruned -> PRUNED; an expected failure (:class:`TrialFailure`: NaN loss,
out of memory, an impossible shape, a trial timeout) -> FAIL and the study goes on, its
parameters retried if ``study.retries`` allows it for that class; an interrupt or a deadline ->
FAIL (``interrupted``/``deadline``), not counted, parameters queued again; any other exception is a
programming error -> FAIL, and the run stops. ``study.max_failures`` consecutive failures stop the
run (the circuit breaker).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import json
import logging
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from orchestrator import __version__
from orchestrator.config import DataConfig, StudyConfig
from orchestrator.errors import ConfigError, Problem, SpaceError, StudyError, TrialFailure
from orchestrator.recovery import Heartbeat, claim, fail_stale_trials, fail_trial
from orchestrator.redact import redact_url
from orchestrator.space import Space, parse_space_dict, suggest
from orchestrator.storage import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    budget_lock,
    describe_storage,
    open_storage,
    with_retries,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import TrialState

    from orchestrator.data import Splits
    from orchestrator.tracking import Tracker

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "EpochEvent",
    "RepairReport",
    "SpaceChange",
    "StudyInfo",
    "StudyResult",
    "TrialEvent",
    "build_pruner",
    "build_sampler",
    "describe_storage",
    "diff_spaces",
    "get_best",
    "list_studies",
    "load_study",
    "open_storage",
    "prepare_study",
    "repair_study",
    "run_study",
    "stored_space",
    "tell",
    "trial_seed",
]

logger = logging.getLogger(__name__)

# FAIL kinds that do not use up the budget: the trial was stopped, not broken
NOT_COUNTED = ("interrupted", "stale", "deadline")
ATTR_SPACE = "hpo.space"
ATTR_SPACE_TEXT = "hpo.space_text"
ATTR_SOURCE = "hpo.space_source"
ATTR_PARENT_RUN = "hpo.mlflow_parent_run_id"
ATTR_TEST = "hpo.test_metrics"
ATTR_METRICS = "hpo.metrics"
LATENCY_BATCH = 256  # samples per timed forward pass for the latency_ms objective

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
    value: float | None  # the primary objective
    best_value: float | None
    best_number: int | None
    seconds: float
    epochs: int
    reason: str | None = None
    finished: int = 0  # trials counted towards the budget so far
    n_trials: int = 0
    values: tuple[float, ...] | None = None  # every objective of a multi-objective study
    pareto: int | None = None  # size of the Pareto front (multi-objective)


@dataclass(frozen=True)
class NoticeEvent:
    """Something the person running the study should read (a repair, a dead worker, a note)."""

    text: str


@dataclass
class StudyResult:
    """What one ``run_study`` call did."""

    study_name: str
    storage: str  # redacted
    tracking_uri: str  # redacted
    parent_run_id: str | None
    n_trials: int
    finished: int
    metrics: list[str] = field(default_factory=list)
    ran: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    pareto: list[int] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # kind -> reasons (this run)
    repaired: list[int] = field(default_factory=list)  # stale trials failed by this run
    stopped_by: str = "budget"  # budget, timeout, deadline, failures, interrupt
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


Progress = Callable[[object], None]


# --- study helpers -----------------------------------------------------------------------------


def load_study(name: str, *, storage: str | None = None) -> optuna.Study:
    """An existing study by name; a missing one is a StudyError listing those that exist."""
    import optuna

    store = open_storage(storage)
    names = with_retries(lambda: optuna.get_all_study_names(store))
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
        raise StudyError(
            f"study '{study.study_name}' has no stored search space; start it with hpo run --space"
        )
    return parse_space_dict(
        raw,
        source=study.user_attrs.get(ATTR_SOURCE, study.study_name),
        text=study.user_attrs.get(ATTR_SPACE_TEXT),
    )


def _is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state != TrialState.FAIL or trial.user_attrs.get("hpo.requeued"):
        return False
    return trial.user_attrs.get("fail_kind") not in NOT_COUNTED


def _all_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study, read once (not copied) with retries on transient errors."""
    return with_retries(lambda: study.get_trials(deepcopy=False))


def _budget_counts(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> tuple[int, int]:
    """(trials counted towards the budget, trials running now); ``trials`` if just read."""
    from optuna.trial import TrialState

    if trials is None:
        trials = _all_trials(study)
    finished = sum(1 for t in trials if _is_counted(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return finished, running


def _best(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> optuna.trial.FrozenTrial | None:
    """The best trial; for several objectives, the Pareto trial best on the first one.

    ``trials``: the study's trials if just read, so that one objective needs no other read.
    """
    from optuna.trial import TrialState

    if trials is not None and len(study.directions) == 1:
        done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        if not done:
            return None
        sign = 1 if study.direction.name == "MAXIMIZE" else -1
        return max(done, key=lambda t: (sign * t.value, -t.number))  # first of equals, as Optuna
    if len(study.directions) > 1:
        front = study.best_trials
        if not front:
            return None
        sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
        return max(front, key=lambda t: (sign * t.values[0], -t.number))
    try:
        return study.best_trial
    except ValueError:
        return None


def _metrics_of(study: optuna.Study) -> list[str]:
    metrics = study.user_attrs.get(ATTR_METRICS)
    if metrics:
        return list(metrics)
    metric = study.user_attrs.get("hpo.metric")
    return [metric] if metric else ["value"]


@dataclass(frozen=True)
class StudyInfo:
    name: str
    states: dict[str, int]
    best_value: float | None
    best_number: int | None
    direction: str
    metric: str | None


def list_studies(*, storage: str | None = None) -> list[StudyInfo]:
    """Every study in a storage: trials by state and best value (first objective)."""
    import optuna

    store = open_storage(storage)
    infos = []
    for name in sorted(with_retries(lambda: optuna.get_all_study_names(store))):
        study = optuna.load_study(study_name=name, storage=store)
        states: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = _best(study)
        infos.append(
            StudyInfo(
                name=name,
                states=states,
                best_value=best.values[0] if best is not None else None,
                best_number=best.number if best is not None else None,
                direction=", ".join(d.name.lower() for d in study.directions),
                metric=", ".join(_metrics_of(study)),
            )
        )
    return infos


def get_best(name: str, *, storage: str | None = None) -> dict[str, Any]:
    """The best trial of a study: number, value, params, seed and its MLflow run id.

    For a multi-objective study: the Pareto trial best on the first objective, its ``values``,
    and the numbers of the whole ``pareto_front``.
    """
    study = load_study(name, storage=storage)
    best = _best(study)
    if best is None:
        raise StudyError(f"study '{name}' has no completed trial yet; run it first: hpo run ...")
    metrics = _metrics_of(study)
    info = {
        "study": name,
        "metric": metrics[0],
        "direction": study.directions[0].name.lower(),
        "number": best.number,
        "value": best.values[0],
        "params": best.params,
        "seed": best.user_attrs.get("seed"),
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "mlflow_parent_run_id": study.user_attrs.get(ATTR_PARENT_RUN),
        "test_metrics": study.user_attrs.get(ATTR_TEST),
    }
    if len(study.directions) > 1:
        info["metrics"] = metrics
        info["directions"] = [d.name.lower() for d in study.directions]
        info["values"] = dict(zip(metrics, best.values, strict=False))
        info["pareto_front"] = sorted(t.number for t in study.best_trials)
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --- resume safety and warm start --------------------------------------------------------------


@dataclass(frozen=True)
class SpaceChange:
    """One difference between the stored space of a study and the one given now."""

    name: str
    before: str
    after: str
    compatible: bool  # a new parameter or a wider range

    def describe(self) -> str:
        verdict = "compatible" if self.compatible else "incompatible"
        return f"{self.name}: {self.before} -> {self.after} ({verdict})"


def _wider(old: Any, new: Any) -> bool:
    if old.type != new.type:
        return False
    if old.type == "categorical":
        return set(map(repr, old.choices)) <= set(map(repr, new.choices))
    return (
        old.log == new.log and old.step == new.step and new.low <= old.low and new.high >= old.high
    )


def diff_spaces(before: Space, after: Space) -> list[SpaceChange]:
    """What changed in the searched space (the ``study`` section, how to search, is ignored).

    Compatible: new parameters, wider ranges, more choices. Anything else (a removed or narrowed
    parameter, a changed fixed value) would make old and new trials incomparable.
    """
    changes = []
    old = {p.name: p for p in before.parameters()}
    new = {p.name: p for p in after.parameters()}
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is None:
            changes.append(SpaceChange(name, "absent", b.describe(), True))
        elif b is None:
            changes.append(SpaceChange(name, a.describe(), "absent", False))
        elif a.describe() != b.describe():
            changes.append(SpaceChange(name, a.describe(), b.describe(), _wider(a, b)))
    fixed_a = {k: v for k, v in before.fixed_params().items() if not k.startswith("study.")}
    fixed_b = {k: v for k, v in after.fixed_params().items() if not k.startswith("study.")}
    for name in sorted(fixed_a.keys() | fixed_b.keys()):
        a, b = fixed_a.get(name, "absent"), fixed_b.get(name, "absent")
        if a != b:
            changes.append(SpaceChange(name, json.dumps(a), json.dumps(b), False))
    return changes


def _check_space_change(study: optuna.Study, space: Space, *, allow: bool) -> bool:
    """Refuse a changed space on resume (with a readable diff); True when the stored one changes."""
    stored_raw = study.user_attrs.get(ATTR_SPACE)
    if stored_raw is None:
        return True
    changes = diff_spaces(stored_space(study), space)
    if not changes:
        return False
    listing = "\n".join(f"  {c.describe()}" for c in changes)
    if not allow:
        raise ConfigError(
            f"{space.source}: the search space differs from the one study "
            f"'{study.study_name}' was created with:\n{listing}\n"
            "Use the original file, another --study name, or --allow-space-change "
            "(compatible changes only: new parameters, wider ranges)"
        )
    bad = [c for c in changes if not c.compatible]
    if bad:
        listing = "\n".join(f"  {c.describe()}" for c in bad)
        raise ConfigError(
            f"{space.source}: --allow-space-change accepts only new parameters and wider "
            f"ranges; these changes would make old and new trials incomparable:\n{listing}\n"
            "Use another --study name for this space"
        )
    return True


def warm_start(
    study: optuna.Study, space: Space, *, source: str, top: int, storage: str | None
) -> list[int]:
    """Enqueue the best ``top`` configurations of study ``source``, keeping only the parameters
    that exist in ``space`` (and values inside their current ranges). Returns their numbers."""
    other = load_study(source, storage=storage)
    from optuna.trial import TrialState

    done = [t for t in other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    sign = -1 if other.directions[0].name == "MAXIMIZE" else 1
    done.sort(key=lambda t: (sign * t.values[0], t.number))
    specs = {p.name: p for p in space.parameters()}
    queued = []
    for trial in done[:top]:
        params = {k: v for k, v in trial.params.items() if k in specs and _inside(specs[k], v)}
        if not params:
            continue
        study.enqueue_trial(
            params,
            user_attrs={"hpo.warm_start_from": f"{source}#{trial.number}"},
            skip_if_exists=True,
        )
        queued.append(trial.number)
    return queued


def _inside(spec: Any, value: Any) -> bool:
    if spec.type == "categorical":
        return any(value == c and type(value) is type(c) for c in spec.choices)
    return spec.low <= value <= spec.high


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

    @property
    def metrics(self) -> list[str]:
        return self.space.study.metrics

    def notice(self, text: str) -> None:
        logger.info(text)
        if self.progress is not None:
            self.progress(NoticeEvent(text))


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


def _prepare_data(ctx: _Context) -> Splits:
    """Load the data and check the model family (and a custom factory) and the augmentation can
    take it, before any trial runs."""
    from orchestrator.augment import check_augment_space
    from orchestrator.models import check_compatible

    splits = ctx.data(_fixed_data_config(ctx.space))
    model = ctx.space.raw.get("model") or {}
    family = model.get("family")
    if isinstance(family, str):
        check_compatible(family, splits.spec, model=model)
    check_augment_space(ctx.space.raw.get("train"), splits.spec.kind, source=ctx.space.source)
    return splits


def _epochs_of(space: Space) -> int:
    epochs = (space.raw.get("train") or {}).get("epochs", 10)
    return epochs if isinstance(epochs, int) else int((epochs or {}).get("high", 10))


def prepare_study(
    space: Space,
    *,
    name: str,
    storage: str | None,
    allow_space_change: bool = False,
) -> optuna.Study:
    """Create the study, or load it and check the space given now against the stored one.

    Raises:
        StudyError: the stored study optimizes other objectives.
        ConfigError: the space changed (see :func:`diff_spaces`), unless allowed and compatible.
    """
    import optuna

    store = open_storage(storage)
    study_cfg = space.study
    exists = name in with_retries(lambda: optuna.get_all_study_names(store))
    n_existing = 0
    if exists:
        existing = optuna.load_study(study_name=name, storage=store)
        n_existing = len(existing.get_trials(deepcopy=False))
        stored = [d.name.lower() for d in existing.directions]
        stored_metrics = _metrics_of(existing)
        if stored != study_cfg.directions or stored_metrics != study_cfg.metrics:
            before = ", ".join(f"{d} {m}" for d, m in zip(stored, stored_metrics, strict=False))
            now = ", ".join(
                f"{d} {m}" for d, m in zip(study_cfg.directions, study_cfg.metrics, strict=True)
            )
            raise StudyError(
                f"study '{name}' was created to {before}, but the space asks to {now}; "
                "use another --study name"
            )
    # the sampler seed moves on with the study, so a resumed run does not replay its first samples
    sampler = build_sampler(space, seed=study_cfg.seed + n_existing)
    if study_cfg.is_multi_objective:
        pruner = optuna.pruners.NopPruner()  # Optuna cannot prune multi-objective trials
    else:
        pruner = build_pruner(study_cfg, epochs=_epochs_of(space), source=space.source)
    study = optuna.create_study(
        study_name=name,
        storage=store,
        sampler=sampler,
        pruner=pruner,
        directions=study_cfg.directions,
        load_if_exists=True,
    )
    if _check_space_change(study, space, allow=allow_space_change):
        study.set_user_attr(ATTR_SPACE, space.raw)
        study.set_user_attr(ATTR_SPACE_TEXT, space.text)
        study.set_user_attr(ATTR_SOURCE, space.source)
    if not exists:
        study.set_user_attr("hpo.metric", study_cfg.primary_metric)
        study.set_user_attr(ATTR_METRICS, study_cfg.metrics)
        study.set_user_attr("hpo.version", __version__)
    return study


def _parent_tags(space: Space, *, storage: str | None) -> dict[str, Any]:
    study = space.study
    tags = {
        "hpo.sampler": study.sampler.name,
        "hpo.pruner": study.pruner.name if not study.is_multi_objective else "none",
        "hpo.metric": ",".join(study.metrics),
        "hpo.direction": ",".join(study.directions),
        "hpo.storage": describe_storage(storage),
        "hpo.version": __version__,
        "hpo.space_file": space.source,
    }
    if study.is_multi_objective:
        tags["hpo.pruning"] = "off: Optuna cannot prune a multi-objective trial"
    commit = _git_commit()
    if commit:
        tags["hpo.git_commit"] = commit
    return tags


class _StopRequests:
    """Ctrl-C and SIGTERM, as requested by the CLI's signal handler.

    The handler raises at once (so a blocking call is interrupted) and also records the request
    here: an interrupt that Python had to swallow (one that landed in a weakref callback or a
    ``__del__``) is raised again at the next safe point, the end of an epoch or of a trial.
    """

    def __init__(self) -> None:
        self.pending: type[BaseException] | None = None
        self.handling = False

    def request(self, exc_type: type[BaseException]) -> bool:
        """Record a stop request; False when one is already being handled (ignore it)."""
        if self.pending is not None:
            return False
        self.pending = exc_type
        return True

    def check(self) -> None:
        if self.pending is not None and not self.handling:
            self.handling = True
            raise self.pending()

    def reset(self) -> None:
        self.pending, self.handling = None, False


STOP_REQUESTS = _StopRequests()


class _Stop(BaseException):
    """Stops a running trial: its time limit (``timeout``) or the run's deadline (``deadline``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Limits:
    """A trial's time limit and the run's deadline, checked after every optimizer step.

    Checked at that safe point rather than raised from a timer signal: an exception raised at an
    arbitrary point (in the middle of an import, say) could leave the process broken for the
    trials that follow.
    """

    def __init__(self, *, trial_timeout: float | None, deadline: float | None) -> None:
        self.trial_timeout = trial_timeout
        self.deadline = deadline
        self.started = time.time()

    def start(self) -> None:
        self.started = time.time()

    def check(self) -> None:
        now = time.time()
        if self.deadline is not None and now >= self.deadline:
            raise _Stop("deadline", "stopped at the --until deadline")
        if self.trial_timeout is not None and now - self.started >= self.trial_timeout:
            raise _Stop("timeout", f"timeout: trial ran longer than {self.trial_timeout:g}s")


def _median_trial_seconds(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.datetime_complete and t.datetime_start
    ]
    return statistics.median(durations) if durations else None


ParentPolicy = Literal["always", "never", "last"]


def open_run(
    space: Space,
    *,
    name: str,
    storage: str | None,
    tracking_uri: str | None,
    device: str = "auto",
    progress: Progress | None = None,
    allow_space_change: bool = False,
    warm_start_from: str | None = None,
    warm_start_top: int = 5,
    load_data: bool = True,
) -> _Context:
    """Everything a run needs before its first trial: the study (created, or resumed after the
    space check), the device, the data (loaded and checked against the family) and the parent
    MLflow run (created, or reopened)."""
    from orchestrator.device import resolve_device, resolve_precision
    from orchestrator.tracking import Tracker

    torch_device = resolve_device(device)
    train_precision = (space.raw.get("train") or {}).get("precision", "auto")
    precision = resolve_precision(
        train_precision if isinstance(train_precision, str) else "auto", torch_device
    )
    with budget_lock(storage, name):
        study = prepare_study(
            space, name=name, storage=storage, allow_space_change=allow_space_change
        )
    tracker = Tracker(name, tracking_uri=tracking_uri)
    ctx = _Context(
        space=space,
        study=study,
        tracker=tracker,
        device=torch_device,
        precision=precision,
        metric=space.study.primary_metric,
        direction=space.study.resolved_direction,
        progress=progress,
    )
    if load_data:
        _prepare_data(ctx)
    parent = tracker.start_parent(
        name,
        run_id=study.user_attrs.get(ATTR_PARENT_RUN),
        params=space.fixed_params(),
        tags=_parent_tags(space, storage=storage),
    )
    if study.user_attrs.get(ATTR_PARENT_RUN) != parent:
        study.set_user_attr(ATTR_PARENT_RUN, parent)
        tracker.log_text(parent, space.text, "space.yaml")
        tracker.log_dict(parent, space.raw, "space_resolved.json")
    if space.study.is_multi_objective:
        ctx.notice("pruning is off: Optuna cannot prune a multi-objective trial")
    if warm_start_from:
        queued = warm_start(
            study, space, source=warm_start_from, top=warm_start_top, storage=storage
        )
        ctx.notice(f"warm start: queued {len(queued)} configurations of '{warm_start_from}'")
    return ctx


def run_study(
    space: Space,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    until: float | None = None,
    trial_timeout: float | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
    allow_space_change: bool = False,
    warm_start_from: str | None = None,
    warm_start_top: int = 5,
    max_failures: int | None = None,
    parent_policy: ParentPolicy = "always",
) -> StudyResult:
    """Create or resume a study and run trials until its budget, a time limit or an interrupt.

    Args:
        space: the loaded search space.
        study_name: defaults to ``space.name``; the same name resumes the study.
        storage: Optuna storage URL or journal path; default HPO_STORAGE, else
            ``mlruns/optuna.journal``.
        tracking_uri: MLflow tracking URI; default MLFLOW_TRACKING_URI, else MLflow's own.
        n_trials: the study's total of finished trials; default ``study.n_trials`` of the space.
        timeout: seconds after which this call starts no new trial; default ``study.timeout``.
        until: a deadline (epoch seconds): no trial starts that cannot finish by then (estimated
            from finished trials), and a trial still running then is stopped and queued again.
        trial_timeout: seconds after which a trial fails with reason ``timeout``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch in this process; None leaves torch's default.
        progress: called with :class:`EpochEvent`, :class:`TrialEvent` and :class:`NoticeEvent`.
        allow_space_change: accept compatible changes of the stored space (new parameters,
            wider ranges) when resuming.
        warm_start_from: a study whose best ``warm_start_top`` configurations are queued first.
        max_failures: consecutive failed trials that stop the run; default ``study.max_failures``.
        parent_policy: who ends the study's MLflow parent run: ``always`` this call, ``never``
            (a worker managed by ``hpo run --jobs``), ``last`` (the last worker out).

    Raises:
        KeyboardInterrupt: after marking the running trial and its run; the study stays resumable.
    """
    import torch

    started = time.monotonic()
    name = study_name or space.name
    n_trials = n_trials or space.study.n_trials
    timeout = timeout if timeout is not None else space.study.timeout_seconds
    max_failures = max_failures or space.study.max_failures
    if threads:
        torch.set_num_threads(threads)
    ctx = open_run(
        space,
        name=name,
        storage=storage,
        tracking_uri=tracking_uri,
        device=device,
        progress=progress,
        allow_space_change=allow_space_change,
        warm_start_from=warm_start_from,
        warm_start_top=warm_start_top,
    )
    study, parent = ctx.study, ctx.tracker.parent_run_id
    result = StudyResult(
        study_name=name,
        storage=describe_storage(storage),
        tracking_uri=redact_url(ctx.tracker.tracking_uri) or "",
        parent_run_id=parent,
        n_trials=n_trials,
        finished=0,
        metrics=space.study.metrics,
    )
    status = "KILLED"
    try:
        run_trials(
            ctx,
            result,
            storage=storage,
            started=started,
            timeout=timeout,
            until=until,
            trial_timeout=trial_timeout,
            max_failures=max_failures,
        )
        result.finished = _budget_counts(study)[0]
        if result.stopped_by != "failures":
            _finish(ctx, result)
        status = "FAILED" if result.stopped_by == "failures" else "FINISHED"
    except KeyboardInterrupt:
        STOP_REQUESTS.handling = True
        result.stopped_by = "interrupt"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        result.seconds = time.monotonic() - started
        _end_parent(ctx, status, parent_policy)
    _record_best(ctx, result)
    return result


def run_trials(
    ctx: _Context,
    result: StudyResult,
    *,
    storage: str | None,
    started: float,
    timeout: float | None,
    until: float | None,
    trial_timeout: float | None,
    max_failures: int,
) -> None:
    """One worker's trial loop on an opened run, until the study's budget (``result.n_trials``),
    a time limit, the circuit breaker or an interrupt; ``result.stopped_by`` says which.

    Raises:
        KeyboardInterrupt: after the running trial and its run are marked.
    """
    study, name, n_trials = ctx.study, ctx.study.study_name, result.n_trials
    consecutive_failures = 0
    while True:
        STOP_REQUESTS.check()
        if timeout is not None and time.monotonic() - started >= timeout:
            result.stopped_by = "timeout"
            break
        if until is not None:
            estimate = _median_trial_seconds(study) or 0.0
            if time.time() + estimate >= until:
                result.stopped_by = "deadline"
                break
        with budget_lock(storage, name):
            trials = _all_trials(study)  # one read for the repair and the budget
            if _repair(ctx, result, trials=trials):
                trials = _all_trials(study)
            finished, running = _budget_counts(study, trials)
            result.finished = finished
            if finished + running >= n_trials:
                result.stopped_by = "budget"
                break
            trial = with_retries(study.ask)
            # claim it at once, so that no other worker takes it for stale
            with_retries(functools.partial(claim, study, trial._trial_id))
        event = _run_one_trial(
            ctx,
            trial,
            n_trials=n_trials,
            limits=_Limits(trial_timeout=trial_timeout, deadline=until),
        )
        result.ran += 1
        result.states[event.state] = result.states.get(event.state, 0) + 1
        if event.state == "FAIL":
            kind = event.reason.split(":", 1)[0] if event.reason else "error"
            result.failures.setdefault(kind, []).append(event.reason or "")
            consecutive_failures += 1
        else:
            consecutive_failures = 0
        if event.reason and event.reason.startswith("deadline"):
            result.stopped_by = "deadline"
            break
        if consecutive_failures >= max_failures:
            result.stopped_by = "failures"
            break


def _end_parent(ctx: _Context, status: str, policy: ParentPolicy) -> None:
    from optuna.trial import TrialState

    if policy == "never":
        return
    if policy == "last":
        running = ctx.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if running:
            return  # other workers are still at it: the last one out ends the parent run
    ctx.tracker.end_parent(status)  # type: ignore[arg-type]


def _repair(
    ctx: _Context,
    result: StudyResult | None = None,
    *,
    trials: Sequence[optuna.trial.FrozenTrial] | None = None,
) -> list[Any]:
    actions = fail_stale_trials(
        ctx.study,
        retries=ctx.space.study.retries,
        kill_run=lambda run_id, reason: ctx.tracker.kill_run(run_id, reason=reason, kind="stale"),
        trials=trials,
    )
    for action in actions:
        again = "queued again" if action.requeued else "retry limit reached"
        ctx.notice(f"trial {action.trial} was stale ({action.reason}): failed, {again}")
        if result is not None:
            result.repaired.append(action.trial)
    return actions


def _record_best(ctx: _Context, result: StudyResult) -> None:
    best = _best(ctx.study)
    if best is None:
        return
    result.best_number, result.best_value = best.number, best.values[0]
    result.best_params = best.params
    if len(ctx.study.directions) > 1:
        result.pareto = sorted(t.number for t in ctx.study.best_trials)


def _finish(ctx: _Context, result: StudyResult) -> None:
    """Record the best trial and evaluate it once on the held-out test split."""
    _record_best(ctx, result)
    best = _best(ctx.study)
    if best is None:
        return
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
        ctx.tracker.log_metrics(
            parent, metrics, step=trial.number, tags={"hpo.test_trial": trial.number}
        )
        ctx.tracker.log_dict(
            parent,
            {"trial": trial.number, "class_names": splits.spec.class_names, **report},
            "test_evaluation.json",
        )
    return metrics


def _latency_ms(model: Any, splits: Splits, ctx: _Context) -> float:
    """Inference milliseconds per sample: median of 5 timed forward passes of a batch."""
    import torch

    from orchestrator.device import autocast

    x = splits.val[0][:LATENCY_BATCH].to(ctx.device)
    model.eval()
    times = []
    with torch.inference_mode(), autocast(ctx.device, ctx.precision):
        model(x)  # warm-up
        for _ in range(5):
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
            start = time.perf_counter()
            model(x)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
            times.append(time.perf_counter() - start)
    model.train()
    return 1000.0 * statistics.median(times) / len(x)


def _objective_values(ctx: _Context, fit_result: Any, model: Any, splits: Splits) -> list[float]:
    values = []
    for metric in ctx.metrics:
        if metric == "n_parameters":
            values.append(float(fit_result.n_parameters))
        elif metric == "latency_ms":
            values.append(_latency_ms(model, splits, ctx))
        else:
            values.append(float(fit_result.best_metrics[metric]))
    return values


def _run_one_trial(
    ctx: _Context, trial: optuna.Trial, *, n_trials: int, limits: _Limits
) -> TrialEvent:
    import optuna
    from optuna.trial import TrialState

    from orchestrator.models import build_model
    from orchestrator.train import fit

    study = ctx.study
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
    multi = ctx.space.study.is_multi_objective
    prune_from = prunes_from(study.pruner)
    epochs_done = 0
    value, values, reason, last_value = None, None, None, None
    heartbeat = Heartbeat(study, trial._trial_id)
    limits.start()
    try:
        with heartbeat:
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
                STOP_REQUESTS.check()
                limits.check()
                if not multi:
                    trial.report(metrics[ctx.metric], epoch)
                    if prune_from is not None and epoch >= prune_from and trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            def on_step() -> None:
                STOP_REQUESTS.check()
                limits.check()

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
                on_step=on_step,
            )
            values = _objective_values(ctx, fit_result, model, splits)
            value = values[0]
            run.log_state_dict(fit_result.best_state)
            trial.set_user_attr("n_parameters", fit_result.n_parameters)
            trial.set_user_attr("best_epoch", fit_result.best_epoch)
            trial.set_user_attr("epochs_run", fit_result.epochs_run)
            trial.set_user_attr(
                "best_metrics", {k: float(v) for k, v in fit_result.best_metrics.items()}
            )
        tell(study, trial, values if multi else value)
        state = "COMPLETE"
        run.end(
            "FINISHED",
            state=state,
            tags={"hpo.best_epoch": fit_result.best_epoch},
            metrics={
                **{f"best_{m}": v for m, v in zip(ctx.metrics, values, strict=False)},
                "n_parameters": fit_result.n_parameters,
            },
        )
    except optuna.TrialPruned:
        trial.set_user_attr("epochs_run", epochs_done)
        tell(study, trial, state=TrialState.PRUNED)
        state, reason, value = "PRUNED", f"pruned at epoch {epochs_done}", last_value
        run.end("FINISHED", state=state, tags={"hpo.pruned_epoch": epochs_done})
    except (TrialFailure, _Stop) as exc:
        state, kind = "FAIL", exc.kind
        reason = str(exc) if str(exc).startswith(f"{kind}:") else f"{kind}: {exc}"
        trial.set_user_attr("epochs_run", epochs_done)
        queued = _fail(ctx, trial, kind=kind, reason=reason)
        if queued:
            ctx.notice(f"trial {trial.number} ({kind}): configuration queued again")
        status = "KILLED" if kind == "deadline" else "FAILED"
        run.end(status, state=state, tags={"hpo.fail_reason": reason, "hpo.fail_kind": kind})
    except KeyboardInterrupt:
        STOP_REQUESTS.handling = True
        # queued again, so that the next run finishes this configuration
        _fail(ctx, trial, kind="interrupted", reason="interrupted")
        run.end(
            "KILLED",
            state="FAIL",
            tags={"hpo.fail_reason": "interrupted", "hpo.fail_kind": "interrupted"},
        )
        raise
    except BaseException as exc:  # a programming error: record it, then stop the run
        reason = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        _fail(ctx, trial, kind="error", reason=reason)
        run.end("FAILED", state="FAIL", tags={"hpo.fail_reason": reason, "hpo.fail_kind": "error"})
        raise
    finally:
        if not run.ended:  # whatever happened, the run must not stay RUNNING
            run.end("FAILED", state="FAIL")
    seconds = time.monotonic() - started
    trials = _all_trials(study)  # one read for the best trial and the budget count
    best = _best(study, trials)
    parent = ctx.tracker.parent_run_id
    pareto = None
    if multi and state == "COMPLETE":
        pareto = len(study.best_trials)
        if parent is not None:
            ctx.tracker.log_metrics(parent, {"pareto_size": pareto}, step=trial.number)
    elif state == "COMPLETE" and best is not None and best.number == trial.number and parent:
        ctx.tracker.log_metrics(
            parent,
            {"best_value": best.value},
            step=trial.number,
            tags={"hpo.best_trial": trial.number},
        )
    event = TrialEvent(
        number=trial.number,
        state=state,
        value=value,
        best_value=best.values[0] if best is not None else None,
        best_number=best.number if best is not None else None,
        seconds=seconds,
        epochs=epochs_done,
        reason=reason,
        finished=_budget_counts(study, trials)[0],
        n_trials=n_trials,
        values=tuple(values) if values is not None else None,
        pareto=pareto,
    )
    if ctx.progress is not None:
        ctx.progress(event)
    return event


def tell(
    study: optuna.Study,
    trial: optuna.Trial,
    values: float | Sequence[float] | None = None,
    *,
    state: TrialState | None = None,
) -> None:
    """``study.tell``, retried on transient database errors. A retry may find the trial already
    finished (the first attempt committed, and the connection was lost before the answer): it
    leaves the trial as that attempt wrote it."""
    attempts = itertools.count()
    with_retries(
        lambda: study.tell(trial, values, state=state, skip_if_finished=next(attempts) > 0)
    )


def _fail(ctx: _Context, trial: optuna.Trial, *, kind: str, reason: str) -> bool:
    frozen = with_retries(lambda: ctx.study._storage.get_trial(trial._trial_id))
    return with_retries(
        lambda: fail_trial(
            ctx.study, frozen, kind=kind, reason=reason, retries=ctx.space.study.retries
        )
    )


# --- repair ------------------------------------------------------------------------------------


@dataclass
class RepairReport:
    """What ``hpo repair`` changed."""

    study_name: str
    stale: list[Any] = field(default_factory=list)  # RepairAction
    runs_closed: list[tuple[str, int, str]] = field(default_factory=list)  # run id, trial, status


def repair_study(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    grace: float | None = None,
) -> RepairReport:
    """Fail stale trials (queued again per the retry policy), KILL their MLflow runs, and close
    MLflow trial runs left RUNNING although their trial has finished."""
    from optuna.trial import TrialState

    from orchestrator.recovery import GRACE_SECONDS
    from orchestrator.tracking import Tracker

    study = load_study(name, storage=storage)
    space = stored_space(study)
    tracker = Tracker(name, tracking_uri=tracking_uri)
    report = RepairReport(study_name=name)
    with budget_lock(storage, name):
        report.stale = fail_stale_trials(
            study,
            retries=space.study.retries,
            kill_run=lambda run_id, reason: tracker.kill_run(run_id, reason=reason, kind="stale"),
            grace=GRACE_SECONDS if grace is None else grace,
        )
    finished = {
        t.number: t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING
    }
    for run_id, number in tracker.running_trial_runs():
        trial = finished.get(number)
        if trial is None:
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            status = "FINISHED"
        elif trial.user_attrs.get("fail_kind") in ("interrupted", "stale", "deadline"):
            status = "KILLED"
        else:
            status = "FAILED"
        tracker.close_run(run_id, status=status, state=trial.state.name)
        report.runs_closed.append((run_id, number, status))
    return report
