"""Everything a run needs before its first trial, in this order: every check
(:func:`~orchestrator.study._preflight.preflight`, which ``hpo validate`` runs too), then the study
(created, or resumed after its own checks), then the MLflow parent run. Nothing is written to
either store until every check has passed."""

from __future__ import annotations

import logging
import subprocess
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.config import DataConfig
from orchestrator.space import Space
from orchestrator.storage._optuna import set_study_system_attr, storage_of, study_attr
from orchestrator.storage._store import StudyStore, with_retries
from orchestrator.study._attrs import (
    ATTR_BUDGET,
    ATTR_METRIC,
    ATTR_METRICS,
    ATTR_PARENT_RUN,
    ATTR_SOURCE,
    ATTR_SPACE,
    ATTR_SPACE_TEXT,
    ATTR_TASK,
    ATTR_VERSION,
)
from orchestrator.study._describe import experiment_view, log_data, parent_params, parent_view
from orchestrator.study._events import NoticeEvent, Progress, StageEvent
from orchestrator.study._factories import build_pruner, build_sampler, epochs_of
from orchestrator.study._preflight import Checked, preflight
from orchestrator.study._queries import load_study, stored_budget, with_objectives_of
from orchestrator.study._repair import close_finished_runs
from orchestrator.study._resume import check_resume, warm_start
from orchestrator.study._spec import RunSpec
from orchestrator.study._stop import StopRequest
from orchestrator.version import __version__

if TYPE_CHECKING:
    import optuna

    from orchestrator.data import Splits
    from orchestrator.tracking import Tracker

__all__ = ["RunContext", "open_run", "prepare_study", "set_budget"]

logger = logging.getLogger(__name__)


@dataclass
class RunContext:
    """One process's run of a study: what every part of the loop needs, passed down."""

    space: Space
    spec: RunSpec
    study: optuna.Study
    tracker: Tracker
    stop: StopRequest
    device: Any
    precision: str
    progress: Progress | None
    _data: dict[str, Splits] = field(default_factory=dict)

    @property
    def store(self) -> StudyStore:
        return self.spec.store

    @property
    def metrics(self) -> list[str]:
        return self.space.study.metrics

    @property
    def metric(self) -> str:
        return self.space.study.primary_metric

    @property
    def direction(self) -> str:
        return self.space.study.resolved_direction

    def data(self, config: DataConfig) -> Splits:
        """Load (once per process) and cache the splits of a data config."""
        from orchestrator.data import load_data

        key = config.model_dump_json()
        if key not in self._data:
            self._data[key] = load_data(config, seed=self.space.study.seed)
        return self._data[key]

    def notice(self, text: str) -> None:
        logger.info(text)
        if self.progress is not None:
            self.progress(NoticeEvent(text))


def existing_study(store: StudyStore, name: str) -> optuna.Study | None:
    """The study ``name`` if the store holds it; None otherwise (and nothing is created)."""
    import optuna

    if name not in store.study_names():
        return None
    return optuna.load_study(study_name=name, storage=store.open())


def prepare_study(
    space: Space,
    *,
    name: str,
    storage: StudyStore | str | None,
    allow_space_change: bool = False,
    n_trials: int | None = None,
    task: str | None = None,
) -> optuna.Study:
    """Create the study, or load it after checking the space given now against the stored one;
    ``n_trials`` (when given) becomes the budget stored with the study, ``task`` (when given) is
    recorded as what its models predict.

    The checks read the store only: a refused resume writes nothing.

    Raises:
        StudyError: the stored study optimizes other objectives.
        ConfigError: the space changed (see :func:`diff_spaces`), unless allowed and compatible.
    """
    import optuna

    store = StudyStore.of(storage)
    existing = existing_study(store, name)
    space = _objectives_known(space, existing, task)
    replace_space = True
    n_existing = 0
    if existing is not None:
        replace_space = check_resume(existing, space, allow_space_change=allow_space_change)
        n_existing = len(existing.get_trials(deepcopy=False))
    study_cfg = space.study
    # the sampler seed moves on with the study, so a resumed run does not replay its first samples
    sampler = build_sampler(space, seed=study_cfg.seed + n_existing)
    if study_cfg.is_multi_objective:
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()  # none prunes them
    else:
        pruner = build_pruner(study_cfg, epochs=epochs_of(space), source=space.source)
    study = with_retries(
        lambda: optuna.create_study(
            study_name=name,
            storage=store.open(),
            sampler=sampler,
            pruner=pruner,
            directions=study_cfg.directions,
            load_if_exists=True,
        )
    )
    # hpo's own records as system attributes, out of what the dashboard lists (see _attrs)
    if replace_space:
        set_study_system_attr(study, ATTR_SPACE, space.raw)
        set_study_system_attr(study, ATTR_SPACE_TEXT, space.text)
        study.set_user_attr(ATTR_SOURCE, space.source)
    if existing is None:
        set_study_system_attr(study, ATTR_METRIC, study_cfg.primary_metric)
        set_study_system_attr(study, ATTR_METRICS, study_cfg.metrics)
        set_study_system_attr(study, ATTR_VERSION, __version__)
    if task is not None and study_attr(study, ATTR_TASK) != task:
        set_study_system_attr(study, ATTR_TASK, task)
    if study.metric_names is None:  # the dashboard's and plots' names, not "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(study_cfg.metrics))
    if n_trials is not None:
        set_budget(study, n_trials)
    return study


def set_budget(study: optuna.Study, n_trials: int) -> None:
    """Store ``n_trials`` as the study's budget, its total of finished trials: every worker
    obeys it from its next trial."""
    if study.user_attrs.get(ATTR_BUDGET) != n_trials:
        study.set_user_attr(ATTR_BUDGET, n_trials)


def _objectives_known(space: Space, existing: optuna.Study | None, task: str | None) -> Space:
    """``space`` with its objectives known: as given, else the task's default metric, else those
    of the study it resumes.

    Raises:
        StudyError: none of them is known (the data was not read: call :func:`preflight`).
    """
    from orchestrator.errors import StudyError
    from orchestrator.tasks import get_task

    if space.resolved:
        return space
    if task is not None:
        return space.for_task(get_task(task))
    if existing is not None:
        return with_objectives_of(space, existing)
    raise StudyError(
        f"{space.source}: study.metric is not given, and the task that gives its default is "
        "known once the data is read; pass the space through preflight() first, or name the "
        "metric"
    )


def _batched(study: optuna.Study) -> optuna.Study:
    """The same study on a storage that gathers each trial's writes (see :mod:`._batch`)."""
    import optuna

    from orchestrator.storage._batch import BatchingStorage

    # the prepared study's storage: Optuna's own cache around a database's, where it applies
    return optuna.load_study(
        study_name=study.study_name,
        storage=BatchingStorage(storage_of(study)),
        sampler=study.sampler,
        pruner=study.pruner,
    )


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _parent_tags(space: Space, store: StudyStore) -> dict[str, Any]:
    study = space.study
    tags = {
        "hpo.sampler": study.sampler.name,
        "hpo.pruner": study.pruner.name if not study.is_multi_objective else "none",
        "hpo.metric": ",".join(study.metrics),
        "hpo.direction": ",".join(study.directions),
        "hpo.storage": store.display,
        "hpo.version": __version__,
        "hpo.space_file": space.source,
    }
    if study.is_multi_objective:
        tags["hpo.pruning"] = "off: Optuna cannot prune a multi-objective trial"
    commit = _git_commit()
    if commit:
        tags["hpo.git_commit"] = tags["mlflow.source.git.commit"] = commit
    return tags


def open_run(
    space: Space,
    spec: RunSpec,
    *,
    stop: StopRequest,
    progress: Progress | None = None,
    checked: Checked | None = None,
) -> RunContext:
    """Check everything, then open the study (created, or resumed after the space check) and the
    MLflow parent run (created, or reopened).

    ``checked``: the result of :func:`preflight` if the caller ran it already.
    """
    from orchestrator.tracking import Tracker

    def stage(text: str) -> None:
        if progress is not None:
            progress(StageEvent(text))

    said = checked is not None  # a caller that ran the checks said what they found
    if checked is None:
        stage("checking the space: device, sampler, pruner; loading the data")
        checked = preflight(space, device=spec.device, tracking_uri=spec.tracking_uri)
    space = checked.space  # its objectives known: the task's default metric where none is named
    stage("opening the study and the MLflow run")
    source, top = _warm_start_source(space, spec)  # checked before anything is written
    tracker = Tracker(spec.study_name, tracking_uri=spec.tracking_uri, source="hpo run")
    with spec.store.budget_lock(spec.study_name):
        prepared = prepare_study(
            space,
            name=spec.study_name,
            storage=spec.store,
            allow_space_change=spec.allow_space_change,
            n_trials=spec.n_trials,
            task=checked.task,
        )
    study = _batched(prepared)
    ctx = RunContext(
        space=space,
        spec=spec,
        study=study,
        tracker=tracker,
        stop=stop,
        device=checked.device,
        precision=checked.precision,
        progress=progress,
        _data=dict(checked.data),
    )
    budget = stored_budget(prepared, space)
    view = parent_view(space, study_name=spec.study_name, budget=budget, storage=spec.store.display)
    parent = tracker.start_parent(
        spec.study_name,
        run_id=study.user_attrs.get(ATTR_PARENT_RUN),
        params=parent_params(space),
        tags={**_parent_tags(space, spec.store), **view},
    )
    tracker.set_experiment_tags(experiment_view(space))
    if study.user_attrs.get(ATTR_PARENT_RUN) == parent:  # a resume: mend what a kill left open
        for run_id, number, status in close_finished_runs(study, tracker):
            logger.info("trial %d: MLflow run %s left RUNNING, closed %s", number, run_id, status)
    else:
        study.set_user_attr(ATTR_PARENT_RUN, parent)
        tracker.log_text(parent, space.text, "space.yaml")
        tracker.log_dict(parent, space.raw, "space_resolved.json")
        for key, splits in checked.data.items():  # the data set, in the Dataset column
            log_data(tracker, parent, DataConfig.model_validate_json(key), splits)
    if checked.note and not said and spec.parent_policy != "never":  # said once, not per worker
        ctx.notice(checked.note)
    if space.study.is_multi_objective:
        ctx.notice("pruning is off: Optuna cannot prune a multi-objective trial")
    if source is not None and (spec.warm_start_from or not prepared.trials):
        queued = warm_start(study, space, source=source, top=top, fitting=not spec.warm_start_from)
        ctx.notice(f"warm start: queued {len(queued)} configurations of '{source.study_name}'")
    return ctx


def _warm_start_source(space: Space, spec: RunSpec) -> tuple[optuna.Study | None, int]:
    """The study a run warm-starts from (``--warm-start``, else ``study.warm_start`` of the
    space, queued when the study is new) and how many of its best trials.

    Raises:
        StudyNotFound: the storage holds no such study, named as the warm-start source.
    """
    from orchestrator.errors import StudyNotFound

    given = space.study.warm_start
    name = spec.warm_start_from or (given.study if given is not None else None)
    if name is None:
        return None, 0
    where = "--warm-start" if spec.warm_start_from else f"{space.source}: study.warm_start.study"
    try:
        source = load_study(name, storage=spec.store)
    except StudyNotFound as exc:
        raise StudyNotFound(f"{where}: the study to warm-start from is missing: {exc}") from exc
    top = spec.warm_start_top if spec.warm_start_from or given is None else given.top
    return source, top
