"""One trained network logged as an MLflow model: a one-member :class:`~orchestrator.shipped.Bundle`
(its family's config, its weights, the preprocessing of raw input) behind hpo's pyfunc model, with
an input example of raw samples and the packages its family needs.

Both ends that ship a single network use it: the study's end (the winning trial's run gets the
model it trained in the search, so the Models tab, ``mlflow.pyfunc.load_model`` and ``mlflow
models serve`` take the winner without ``hpo retrain``) and ``hpo retrain`` (the winner
retrained on train+val, registered).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from orchestrator.config import DataConfig
    from orchestrator.data import Splits
    from orchestrator.tracking import LoggedModel, Tracker

__all__ = ["INPUT_EXAMPLE_ROWS", "log_network"]

INPUT_EXAMPLE_ROWS = 5  # > 1, so that the exported model keeps a dynamic batch dimension


def log_network(
    tracker: Tracker,
    run_id: str,
    *,
    model: torch.nn.Module,
    model_config: Mapping[str, Any],
    splits: Splits,
    data: DataConfig,
    trial: int,
    record: Mapping[str, Any],
    registered_model_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Log ``model`` (trained on ``splits``, built from ``model_config``) as an MLflow model on
    run ``run_id``; registered under ``registered_model_name`` when given.

    Args:
        record: what the bundle remembers of where it came from (study, trial, seed, task, the
            decision a binary task's validation split made).
        metadata: kept in the MLmodel file.
    """
    from orchestrator.data import raw_examples
    from orchestrator.models import ship_format
    from orchestrator.shipped import Bundle, Member
    from orchestrator.tracking import log_hpo_model
    from orchestrator.train import state_to_save

    bundle = Bundle(
        [
            Member(
                model=dict(model_config), spec=splits.spec, state=state_to_save(model), trial=trial
            )
        ],
        splits.preprocessing,
        record=dict(record),
    )
    _, requirements = ship_format(str(model_config["family"]))
    return log_hpo_model(
        tracker,
        run_id,
        bundle,
        input_example=raw_examples(data, splits, n=INPUT_EXAMPLE_ROWS),
        registered_model_name=registered_model_name,
        requirements=requirements,
        metadata=dict(metadata or {}),
    )
