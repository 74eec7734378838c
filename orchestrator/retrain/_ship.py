"""Shipping the chosen model: logged on its seed's run with its preprocessing, and registered."""

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

INPUT_EXAMPLE_ROWS = 5  # > 1, so that the exported model keeps a dynamic batch dimension
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
    family: str,
    register: bool,
) -> LoggedModel:
    """Log the model with its preprocessing on its seed's run; register it under the study.

    The format is the family's (:func:`~orchestrator.models.ship_format`): ``pt2`` (an exported
    graph), or ``pickle`` for a fine-tuned pretrained model, which pickles as a reference to its
    base model plus the weights that trained (loading it loads the base, then those).
    """
    from orchestrator.models import ship_format
    from orchestrator.tasks import task_of
    from orchestrator.tracking import describe_model_version, log_pytorch_model

    record = {
        "format": 1,
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
    serialization_format, requirements = ship_format(family)
    model = model.to("cpu").eval()  # a portable CPU graph, traced in inference mode
    example = splits.train[0][:INPUT_EXAMPLE_ROWS].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PREPROCESSING_FILE
        path.write_text(json.dumps(record, indent=2, default=str))
        tracker.log_file(seed_result.run_id, path)
        logged = log_pytorch_model(
            tracker,
            seed_result.run_id,
            model,
            input_example=example,
            extra_files=[path],
            registered_model_name=study_name if register else None,
            serialization_format=serialization_format,
            requirements=requirements,
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
                **{f"{k}_mean": v for k, v in mean.items()},
                **{f"{k}_std": v for k, v in std.items()},
            },
        )
    return logged
