"""The end of a run: the best trial recorded, evaluated once on the held-out test split, and the
study's MLflow parent run ended by whoever the spec says ends it."""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from orchestrator.errors import StoreError
from orchestrator.storage._optuna import refreshed_trials
from orchestrator.study._attrs import ATTR_BEST_METRICS, ATTR_RUN_ID, ATTR_TEST
from orchestrator.study._describe import mark_winner
from orchestrator.study._events import StudyResult
from orchestrator.study._queries import trial_config
from orchestrator.study._ranking import best_trial
from orchestrator.study._setup import RunContext

if TYPE_CHECKING:
    import optuna

__all__ = ["closing_run", "end_parent", "evaluate_trial_on_test", "finish", "record_best"]

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
    the study's end leaves the mark on the best), and evaluate it once on the test split."""
    record_best(ctx, result)
    trials = refreshed_trials(ctx.study)
    best = best_trial(ctx.study, trials)
    if best is None:
        return
    if len(ctx.study.directions) == 1:
        mark_winner(ctx.tracker, best, metric=ctx.metric, step=len(trials))
    stored = ctx.study.user_attrs.get(ATTR_TEST) or {}
    if stored.get("trial") == best.number:
        result.test_metrics = {k: v for k, v in stored.items() if k != "trial"}
        return
    metrics = evaluate_trial_on_test(ctx, best)
    if metrics is not None:
        result.test_metrics = metrics
        ctx.study.set_user_attr(ATTR_TEST, {"trial": best.number, **metrics})


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
    ctx: RunContext, trial: optuna.trial.FrozenTrial
) -> dict[str, float] | None:
    """Load a trial's saved weights and evaluate them on the test split; log on the parent run."""
    from orchestrator.models import adapt_data, build_model
    from orchestrator.tasks import task_of
    from orchestrator.train import evaluate, load_weights

    config = trial_config(trial)
    run_id = trial.user_attrs.get(ATTR_RUN_ID)
    if config is None or run_id is None:
        logger.warning("trial %d has no stored config or MLflow run: not evaluated", trial.number)
        return None
    splits = adapt_data(config.model, ctx.data(config.data), config.data)
    model = build_model(config.model, splits.spec)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = ctx.tracker.download(run_id, "model.pt", tmp)
        except Exception as exc:  # weights not reachable in this tracking store
            logger.warning(
                "trial %d weights not found in MLflow (%s): not evaluated", trial.number, exc
            )
            return None
        load_weights(model, path)
    task = task_of(splits.spec)
    # what the validation split decided at the best epoch (a binary task's F1 threshold)
    decision = task.decision(trial.user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_")
    x, y = splits.test
    report = evaluate(
        model, x, y, device=ctx.device, precision=ctx.precision, spec=splits.spec, decision=decision
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
