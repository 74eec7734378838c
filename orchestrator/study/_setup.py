"""Everything a run needs before its first trial: the study, the device, the data and the parent
MLflow run."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from orchestrator import __version__
from orchestrator.config import DataConfig
from orchestrator.errors import Problem, SpaceError, StudyError
from orchestrator.space import Space
from orchestrator.study._attrs import (
    ATTR_METRICS,
    ATTR_PARENT_RUN,
    ATTR_SOURCE,
    ATTR_SPACE,
    ATTR_SPACE_TEXT,
)
from orchestrator.study._events import NoticeEvent, Progress
from orchestrator.study._factories import build_pruner, build_sampler
from orchestrator.study._queries import _metrics_of
from orchestrator.study._resume import _check_space_change, warm_start
from orchestrator.study._store import (
    budget_lock,
    describe_storage,
    open_storage,
    with_retries,
)

if TYPE_CHECKING:
    import optuna

    from orchestrator.data import Splits
    from orchestrator.tracking import Tracker


logger = logging.getLogger(__name__)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
