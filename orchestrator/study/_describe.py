"""What the stock MLflow UI shows of a study, so that a user of the runs table needs no hpo code:
the parent run's description and current budget, the data set every run trained on, and the
winner marked (its run tagged, its number, run id and objective on the parent)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.study._attrs import ATTR_RUN_ID

if TYPE_CHECKING:
    import optuna

    from orchestrator.config import DataConfig
    from orchestrator.data import Splits
    from orchestrator.space import Space
    from orchestrator.tracking import Tracker

__all__ = [
    "BUDGET_TAG",
    "dataset_fields",
    "experiment_view",
    "log_data",
    "mark_winner",
    "parent_params",
    "parent_view",
]

logger = logging.getLogger(__name__)

# the study's budget now, on the parent run: a tag, since MLflow params cannot change and
# ``hpo run --n-trials`` changes the budget on resume (``study.n_trials`` is not logged as a param)
BUDGET_TAG = "hpo.n_trials"
_BUDGET_PARAM = "study.n_trials"


def parent_params(space: Space) -> dict[str, Any]:
    """The parent run's params: the space's fixed settings, less the budget (see BUDGET_TAG)."""
    return {k: v for k, v in space.fixed_params().items() if k != _BUDGET_PARAM}


def parent_view(space: Space, *, study_name: str, budget: int, storage: str) -> dict[str, Any]:
    """The parent run's tags that change with each run of the study: the budget now, and the
    description the MLflow UI shows on the run's page (``mlflow.note.content``, Markdown)."""
    from orchestrator.tracking import objective_key

    study = space.study
    objectives = ", ".join(
        f"{d} `{m}` (metric `{objective_key(m)}`)"
        for m, d in zip(study.metrics, study.directions, strict=False)
    )
    lines = [
        f"**hpo study `{study_name}`**: {objectives}.",
        "",
        f"- space file: `{space.source}`",
        f"- budget: {budget} trials (tag `{BUDGET_TAG}`)",
        f"- sampler: {study.sampler.name}; pruner: "
        f"{study.pruner.name if not study.is_multi_objective else 'none'}",
        f"- Optuna storage: `{storage}`",
        f"- each trial is a nested run; its objective is `{objective_key(study.metrics[0])}`, "
        "the value Optuna was told (its best epoch), logged here too as the study's best: "
        "sort the runs table by it for Optuna's ranking",
    ]
    if not study.is_multi_objective:
        lines.append(
            "- the best trial's run is tagged `hpo.best=true`; this run's tags "
            "`hpo.best_trial` and `hpo.best_run_id` name it"
        )
    return {BUDGET_TAG: budget, "mlflow.note.content": "\n".join(lines)}


def experiment_view(space: Space) -> dict[str, str]:
    """The experiment's tags for MLflow's UI: its kind (model training) and the saved view of
    its trial runs (:func:`orchestrator.tracking.trials_view_tags`): sorted by the first
    objective, its columns the objectives, the trial's state and the searched parameters."""
    from orchestrator.tracking import trials_view_tags

    study = space.study
    return trials_view_tags(
        study.metrics,
        minimize=study.directions[0] == "minimize",
        params=[p.name for p in space.parameters()],
    )


def _digest(config: DataConfig, splits: Splits) -> str:
    """A fingerprint of the data a run saw, without reading it all: the data settings and each
    split's rows in the source (their sizes where the loader keeps no indices)."""
    sha = hashlib.sha256(config.model_dump_json(exclude={"cache_dir"}).encode())
    for name, size in sorted(splits.sizes.items()):
        sha.update(f"{name}={size};".encode())
        rows = splits.indices.get(name)
        if rows is not None:
            sha.update(rows.tobytes())
    return sha.hexdigest()[:12]


def dataset_fields(config: DataConfig, splits: Splits) -> dict[str, Any]:
    """The data set of a run as MLflow's dataset tracking records it (the runs table's Dataset
    column): name, digest, source (the file or folder; none for a bundled set), split sizes and
    classes as its profile. Nothing of the data is copied into MLflow."""
    return {
        "name": Path(config.path).name if config.path else config.name,
        "digest": _digest(config, splits),
        "source": str(Path(config.path).resolve()) if config.path else None,
        "sizes": splits.sizes,
        "profile": {"kind": splits.spec.kind, "num_classes": splits.spec.num_classes},
    }


def log_data(tracker: Tracker, run_id: str, config: DataConfig, splits: Splits) -> None:
    """Record the data set of a run (see :func:`dataset_fields`)."""
    tracker.log_dataset(run_id, **dataset_fields(config, splits))


def mark_winner(
    tracker: Tracker, best: optuna.trial.FrozenTrial | None, *, metric: str, step: int
) -> None:
    """Mark ``best`` (a single-objective study's best trial) as the winner in MLflow: its run
    tagged ``hpo.best=true`` (and no other), its number, run id and value (under the objective's
    key, at ``step``: the trials of the study so far, so the last point is the best) on the parent.
    Called at each new best and at the study's end; made in the background by the tracker's
    writer, after every write asked before; a failure is logged, not raised."""
    from orchestrator.tracking import objective_key

    run_id = best.user_attrs.get(ATTR_RUN_ID) if best is not None else None
    if best is None or run_id is None or tracker.parent_run_id is None:
        return
    number, metrics = best.number, {objective_key(metric): best.value}

    def mark() -> None:
        try:
            tracker.mark_best(run_id, trial_number=number, metrics=metrics, step=step)
        except Exception as exc:  # a mark in the UI is not worth failing a trial or a study for
            logger.warning(
                "could not mark trial %d as the best in MLflow (%s)", number, first_line(exc)
            )

    tracker.writer.later(mark, check=False)
