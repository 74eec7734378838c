"""Retraining one configuration: every seed trained on train+val and tested, under MLflow runs.

A run per configuration (``retrain-t0003``, ``hpo.role=retrain``) holds the mean and std of the
test metrics and ``retrain_evaluation.json``; nested under it, a run per seed
(``retrain-t0003-s23774``, ``hpo.role=retrain_seed``) holds the per-epoch training metrics, its
test metrics and ``test_evaluation.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.errors import TrialFailure
from orchestrator.retrain._summary import ConfigResult, SeedEvent, SeedResult
from orchestrator.study import trial_config
from orchestrator.tasks import task_of

if TYPE_CHECKING:
    import optuna
    import torch
    from pydantic import BaseModel

    from orchestrator.config import TrainConfig
    from orchestrator.data import Splits
    from orchestrator.tracking import RunStatus, Tracker

__all__ = ["retrain_config"]

ROLE_CONFIG = "retrain"
ROLE_SEED = "retrain_seed"


def retrain_config(
    tracker: Tracker,
    trial: optuna.trial.FrozenTrial,
    *,
    rank: int | None,
    splits: Splits,
    seeds: list[int],
    epochs: int | None,
    device: torch.device,
    metrics: list[str],
    progress: Callable[[SeedEvent], None] | None,
    done: int,
    total: int,
) -> tuple[ConfigResult, torch.nn.Module | None]:
    """Every seed of one configuration, under one MLflow run; the first good seed's model."""
    from orchestrator.config import EarlyStoppingConfig
    from orchestrator.device import resolve_precision

    config = trial_config(trial)
    assert config is not None  # retrain ranks only trials that recorded one
    model_cfg, train_cfg = config.model, config.train
    n_epochs = epochs or int(trial.user_attrs.get("best_epoch") or train_cfg.epochs)
    # no validation data is left to stop on or to pick an epoch by: a fixed number of epochs
    train_cfg = train_cfg.model_copy(
        update={"epochs": n_epochs, "early_stopping": EarlyStoppingConfig()}
    )
    precision = resolve_precision(train_cfg.precision, device)
    values = dict(zip(metrics, trial.values, strict=False))
    parent = tracker.start_run(
        f"retrain-t{trial.number:04d}",
        role=ROLE_CONFIG,
        params={**trial.params, "epochs": n_epochs, "seeds": json.dumps(seeds)},
        tags={
            "hpo.trial": trial.number,
            "hpo.rank": rank if rank is not None else "-",
            "hpo.trial_run_id": trial.user_attrs.get("mlflow_run_id", "-"),
            "hpo.device": str(device),
        },
    )
    result = ConfigResult(
        trial=trial.number,
        rank=rank,
        params=dict(trial.params),
        epochs=n_epochs,
        run_id=parent.run_id,
        seeds=[],
    )
    first_model = None
    status: RunStatus = "KILLED"
    # what the trial's validation split decided (a binary task's threshold): there is no
    # validation split left to decide it on
    decision = task_of(splits.spec).decision(
        trial.user_attrs.get("best_metrics") or {}, prefix="val_"
    )
    result.decision = decision
    try:
        for i, seed in enumerate(seeds):
            seed_result, model = _retrain_seed(
                tracker,
                parent.run_id,
                trial=trial.number,
                seed=seed,
                model_cfg=model_cfg,
                train_cfg=train_cfg,
                splits=splits,
                device=device,
                precision=precision,
                decision=decision,
            )
            result.seeds.append(seed_result)
            if first_model is None and model is not None:
                first_model = model
            if progress is not None:
                progress(
                    SeedEvent(
                        trial=trial.number,
                        seed=seed,
                        index=done + i + 1,
                        total=total,
                        metrics=seed_result.metrics,
                        seconds=seed_result.seconds,
                        failure=seed_result.failure,
                    )
                )
        good = [s.evaluation for s in result.seeds if s.failure is None]
        result.summary = task_of(splits.spec).summarize(good)
        status = "FINISHED" if good else "FAILED"
    except BaseException:
        status = "FAILED"
        raise
    finally:
        summary_metrics = {f"{k}_mean": v for k, v in result.mean.items()}
        summary_metrics |= {f"{k}_std": v for k, v in result.std.items()}
        if result.summary:
            tracker.log_dict(
                parent.run_id,
                {
                    "trial": trial.number,
                    "search_values": values,
                    "epochs": n_epochs,
                    "seeds": seeds,
                    "class_names": splits.spec.class_names,
                    **result.summary,
                    "per_seed": [
                        {"seed": s.seed, "run_id": s.run_id, "failure": s.failure, **s.metrics}
                        for s in result.seeds
                    ],
                },
                "retrain_evaluation.json",
            )
        parent.end(
            status,
            state="COMPLETE" if status == "FINISHED" else "FAIL",
            metrics=summary_metrics,
        )
    return result, first_model


def _retrain_seed(
    tracker: Tracker,
    parent_run_id: str,
    *,
    trial: int,
    seed: int,
    model_cfg: BaseModel,
    train_cfg: TrainConfig,
    splits: Splits,
    device: torch.device,
    precision: str,
    decision: dict[str, float] | None,
) -> tuple[SeedResult, torch.nn.Module | None]:
    """Train one seed on train+val, evaluate its last weights on the test split (with what the
    trial's validation split decided: ``decision``)."""
    from orchestrator.models import build_model
    from orchestrator.train import evaluate, fit

    started = time.monotonic()
    run = tracker.start_run(
        f"retrain-t{trial:04d}-s{seed}",
        role=ROLE_SEED,
        params={"seed": seed, "epochs": train_cfg.epochs},
        tags={"hpo.trial": trial, "hpo.seed": seed, "hpo.device": str(device)},
        parent_run_id=parent_run_id,
    )

    task = task_of(splits.spec)
    shown = ("loss", task.summary[0])  # the loss and the task's first metric, e.g. accuracy

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        # the "val" of this fit is the training data itself (train+val): named for what it is
        run.log_epoch(
            epoch,
            {
                "train_loss": metrics["train_loss"],
                **{f"trainval_{m}": metrics[f"val_{m}"] for m in shown},
                "lr": metrics["lr"],
                "epoch_seconds": metrics["epoch_seconds"],
            },
        )

    try:
        model = build_model(model_cfg, splits.spec, seed=seed)
        fit(
            model,
            splits,
            train_cfg,
            device=device,
            precision=precision,
            seed=seed,
            metric="val_loss",
            direction="minimize",
            callbacks=[on_epoch_end],
        )
        # the model is left at its last epoch's weights: those are what is tested and shipped
        x, y = splits.test
        report = evaluate(
            model,
            x,
            y,
            device=device,
            precision=precision,
            spec=splits.spec,
            decision=decision,
            prepare=splits.model_input,
        )
    except TrialFailure as exc:
        run.end(
            "FAILED", state="FAIL", tags={"hpo.fail_reason": str(exc), "hpo.fail_kind": exc.kind}
        )
        result = SeedResult(seed, run.run_id, time.monotonic() - started, failure=str(exc))
        return result, None
    except KeyboardInterrupt:
        run.end("KILLED", state="FAIL", tags={"hpo.fail_kind": "interrupted"})
        raise
    except BaseException as exc:
        run.end("FAILED", state="FAIL", tags={"hpo.fail_reason": f"{type(exc).__name__}: {exc}"})
        raise
    metrics = {f"test_{k}": v for k, v in task.scalars(report).items()}
    # per class (or label): test_f1_class_7
    per_class = {
        f"test_{key.rpartition('_')[2]}_{key.split('_')[1]}_{name}": float(value)
        for key in task.per_item
        for name, value in zip(splits.spec.class_names, report[key], strict=True)
    }
    tracker.log_dict(
        run.run_id,
        {"trial": trial, "seed": seed, "class_names": splits.spec.class_names, **report},
        "test_evaluation.json",
    )
    run.end("FINISHED", state="COMPLETE", metrics={**metrics, **per_class})
    seconds = time.monotonic() - started
    return SeedResult(seed, run.run_id, seconds, metrics=metrics, evaluation=report), model
