"""Shipping the chosen model: an MLflow model (hpo's bundle) on its seed's run, its record
(``preprocessing.json``) beside it, and registered."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from orchestrator.data import Splits
    from orchestrator.retrain._summary import ConfigResult, SeedResult
    from orchestrator.tracking import LoggedModel, Tracker

__all__ = ["ship_model"]

logger = logging.getLogger(__name__)

PREPROCESSING_FILE = "preprocessing.json"


def ship_model(
    tracker: Tracker,
    study_name: str,
    model: torch.nn.Module,
    splits: Splits,
    *,
    trial: int,
    seed_result: SeedResult,
    config: ConfigResult,
    data: dict[str, Any],
    model_config: dict[str, Any],
    register: bool,
) -> LoggedModel:
    """Log the model as an MLflow model (hpo's bundle: its family's config, weights and the
    preprocessing of raw input) on its seed's run, with ``preprocessing.json`` beside it;
    register it under the study.

    ``mlflow.pyfunc.load_model`` takes it as it is: raw samples in, the task's predictions out.
    """
    from orchestrator.config import DataConfig
    from orchestrator.shipping import log_network
    from orchestrator.tasks import task_of
    from orchestrator.tracking import describe_model_version

    record = {
        "format": 2,
        "study": study_name,
        "trial": trial,
        "seed": seed_result.seed,
        "data": data,
        "spec": splits.spec.to_dict(),
        "preprocessing": splits.preprocessing,
        "task": splits.spec.task,
        # what the trial's validation split decided (a binary task's F1 threshold)
        "decision": config.decision,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PREPROCESSING_FILE
        path.write_text(json.dumps(record, indent=2, default=str))
        tracker.log_file(seed_result.run_id, path)
    logged = log_network(
        tracker,
        seed_result.run_id,
        model=model,
        model_config=model_config,
        splits=splits,
        data=DataConfig.model_validate(data),
        trial=trial,
        record={k: v for k, v in record.items() if k not in ("spec", "preprocessing")},
        registered_model_name=study_name if register else None,
        metadata={"hpo_study": study_name, "hpo_trial": trial, "hpo_task": splits.spec.task},
    )
    logger.info("log_model took %.2f s", logged.seconds)
    tracker.set_tags(seed_result.run_id, {"hpo.shipped": logged.model_uri})
    if logged.version is not None:
        mean, std = config.mean, config.std
        spread = ", ".join(
            f"{k.removeprefix('test_')} {mean[k]:.4f} +- {std[k]:.4f}"
            for k in (f"test_{m}" for m in task_of(splits.spec).summary)
        )
        describe_model_version(
            tracker,
            study_name,
            logged.version,
            description=(
                f"hpo study '{study_name}', trial #{trial}, retrained on train+val for "
                f"{config.epochs} epochs with seed {seed_result.seed}. Test split over "
                f"{len(config.seeds)} seeds (mean +- std): {spread}."
            ),
            tags={
                "hpo.study": study_name,
                "hpo.trial": trial,
                "hpo.seed": seed_result.seed,
                "hpo.task": splits.spec.task,
                **{f"{k}_mean": v for k, v in mean.items()},
                **{f"{k}_std": v for k, v in std.items()},
            },
        )
    return logged
