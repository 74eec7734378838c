"""The end of a run: the best trial recorded, evaluated once on the held-out test split, its
network logged as an MLflow model on its run, and the study's MLflow parent run ended by whoever
the spec says ends it."""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StoreError
from orchestrator.numbers import rounded
from orchestrator.storage._optuna import refreshed_trials
from orchestrator.study._attrs import ATTR_BEST_METRICS, ATTR_MODEL, ATTR_RUN_ID, ATTR_TEST
from orchestrator.study._describe import mark_winner
from orchestrator.study._events import StudyResult
from orchestrator.study._queries import trial_config
from orchestrator.study._ranking import best_trial
from orchestrator.study._setup import RunContext

if TYPE_CHECKING:
    import optuna
    import torch

    from orchestrator.config import DataConfig, TrialConfig
    from orchestrator.data import Splits

__all__ = [
    "closing_run",
    "end_parent",
    "evaluate_trial_on_test",
    "finish",
    "log_trial_model",
    "record_best",
    "trained_network",
]

logger = logging.getLogger(__name__)


def record_best(ctx: RunContext, result: StudyResult) -> None:
    """Put the study's best trial (or Pareto front) into ``result``."""
    best = best_trial(ctx.study, refreshed_trials(ctx.study))
    if best is None:
        return
    result.best_number, result.best_value = best.number, best.values[0]
    result.best_params = best.params
    if len(ctx.study.directions) > 1:
        result.pareto = sorted(t.number for t in ctx.study.best_trials)


def finish(ctx: RunContext, result: StudyResult) -> None:
    """Record the best trial, mark it in MLflow (whichever worker wrote last at a trial's end,
    the study's end leaves the mark on the best), evaluate it once on the test split and log its
    network as an MLflow model on its run (each once per winner: a resumed study with the same
    winner does neither again)."""
    record_best(ctx, result)
    trials = refreshed_trials(ctx.study)
    best = best_trial(ctx.study, trials)
    if best is None:
        return
    if len(ctx.study.directions) == 1:
        mark_winner(ctx.tracker, best, metric=ctx.metric, step=len(trials))
    stored = ctx.study.user_attrs.get(ATTR_TEST) or {}
    tested = stored.get("trial") == best.number
    if tested:
        result.test_metrics = {k: v for k, v in stored.items() if k != "trial"}
    model = ctx.study.user_attrs.get(ATTR_MODEL) or {}
    shipped = model.get("trial") == best.number
    if shipped:
        result.model_uri = model.get("uri")
    if tested and (shipped or not ctx.space.study.log_model):
        return
    loaded = load_trial_model(ctx, best)
    if loaded is None:
        return
    if not tested:
        metrics = evaluate_trial_on_test(ctx, best, loaded)
        result.test_metrics = metrics
        ctx.study.set_user_attr(ATTR_TEST, {"trial": best.number, **rounded(metrics)})
    if ctx.space.study.log_model and not shipped:
        result.model_uri = log_trial_model(ctx, best, loaded)


Loaded = tuple["TrialConfig", "Splits", "torch.nn.Module"]


def load_trial_model(ctx: RunContext, trial: optuna.trial.FrozenTrial) -> Loaded | None:
    """A trial's configuration, its data and its network with the weights its run saved; None
    (and a warning) when the study or the tracking store lacks them."""
    return trained_network(trial, tracker=ctx.tracker, data=ctx.data)


def trained_network(
    trial: optuna.trial.FrozenTrial,
    *,
    tracker: Any,
    data: Callable[[DataConfig], Splits],
) -> Loaded | None:
    """:func:`load_trial_model` for any caller: ``data`` gives the study's splits of a data
    configuration (loaded with the study seed, kept between calls as the caller likes)."""
    from orchestrator.models import adapt_data, build_model
    from orchestrator.train import load_weights

    config = trial_config(trial)
    run_id = trial.user_attrs.get(ATTR_RUN_ID)
    if config is None or run_id is None:
        logger.warning("trial %d has no stored config or MLflow run: not evaluated", trial.number)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:  # first: a trial without weights costs no data loading
            path = tracker.download(run_id, "model.pt", tmp)
        except Exception as exc:  # weights not reachable in this tracking store
            logger.warning(
                "trial %d weights not found in MLflow (%s): not evaluated", trial.number, exc
            )
            return None
        splits = adapt_data(config.model, data(config.data), config.data)
        model = build_model(config.model, splits.spec)
        load_weights(model, path)
    return config, splits, model


def end_parent(ctx: RunContext, status: str) -> None:
    """End the study's MLflow parent run as the spec's ``parent_policy`` says: ``always`` here,
    ``never`` (a worker of ``hpo run --jobs``), or ``last`` (when no trial runs elsewhere)."""
    from optuna.trial import TrialState

    policy = ctx.spec.parent_policy
    if policy == "never":
        return
    if policy == "last":
        trials = refreshed_trials(ctx.study)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if running:
            return  # other workers are still at it: the last one out ends the parent run
    ctx.tracker.end_parent(status)  # type: ignore[arg-type]


@contextlib.contextmanager
def closing_run(ctx: RunContext, result: StudyResult, *, started: float) -> Iterator[None]:
    """Whatever happens inside, the run's last act: its duration in ``result``, and the parent
    run ended as the run ended (FINISHED; FAILED for the circuit breaker or an error; KILLED for
    an interrupt, which is then re-raised)."""
    status = "KILLED"
    try:
        yield
        status = "FAILED" if result.stopped_by in ("failures", "store") else "FINISHED"
    except KeyboardInterrupt:
        ctx.stop.interrupted()
        result.stopped_by = "interrupt"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        result.seconds = time.monotonic() - started
        try:
            end_parent(ctx, status)
        except StoreError as exc:
            if result.stopped_by != "store" and sys.exc_info()[0] is None:
                raise
            logger.warning("the parent run stays RUNNING (%s); hpo repair ends it", exc)


def evaluate_trial_on_test(
    ctx: RunContext, trial: optuna.trial.FrozenTrial, loaded: Loaded
) -> dict[str, float]:
    """Evaluate a trial's network on the test split; log the scores on the parent run."""
    from orchestrator.tasks import task_of
    from orchestrator.train import evaluate

    _, splits, model = loaded
    task = task_of(splits.spec)
    # what the validation split decided at the best epoch (a binary task's F1 threshold)
    decision = task.decision(trial.user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_")
    x, y = splits.test
    report = evaluate(
        model,
        x,
        y,
        device=ctx.device,
        precision=ctx.precision,
        spec=splits.spec,
        decision=decision,
        prepare=splits.model_input,
    )
    metrics = {f"test_{k}": v for k, v in task.scalars(report).items()}
    parent = ctx.tracker.parent_run_id
    if parent is not None:
        ctx.tracker.log_metrics(
            parent, metrics, step=trial.number, tags={"hpo.test_trial": trial.number}
        )
        ctx.tracker.log_dict(
            parent,
            {
                "trial": trial.number,
                "task": task.name,
                "class_names": splits.spec.class_names,
                **report,
            },
            "test_evaluation.json",
        )
    return metrics


def log_trial_model(ctx: RunContext, trial: optuna.trial.FrozenTrial, loaded: Loaded) -> str | None:
    """Log a trial's network, as it trained in the search, as an MLflow model on its run (not
    registered: ``hpo retrain`` registers the winner retrained on train+val). A store that
    refuses it leaves a warning: the study's results stand without it. Its model URI."""
    from orchestrator.shipping import log_network
    from orchestrator.tasks import task_of

    config, splits, model = loaded
    run_id = str(trial.user_attrs[ATTR_RUN_ID])
    task = task_of(splits.spec)
    record = {
        "study": ctx.study.study_name,
        "trial": trial.number,
        "seed": trial.user_attrs.get("seed"),
        "data": config.data.model_dump(mode="json"),
        "task": splits.spec.task,
        "decision": task.decision(trial.user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_"),
    }
    try:
        logged = log_network(
            ctx.tracker,
            run_id,
            model=model,
            model_config=config.model.model_dump(mode="json"),
            splits=splits,
            data=config.data,
            trial=trial.number,
            record=record,
            metadata={
                "hpo_study": ctx.study.study_name,
                "hpo_trial": trial.number,
                "hpo_task": splits.spec.task,
            },
        )
    except StoreError:
        raise
    except Exception as exc:  # the model is a convenience on top of the study's results
        logger.warning("trial %d: its MLflow model was not logged (%s)", trial.number, exc)
        return None
    ctx.tracker.set_tags(run_id, {"hpo.model": logged.model_uri})
    ctx.study.set_user_attr(ATTR_MODEL, {"trial": trial.number, "uri": logged.model_uri})
    logger.info(
        "trial %d: MLflow model %s (%.1f s)", trial.number, logged.model_uri, logged.seconds
    )
    return logged.model_uri
