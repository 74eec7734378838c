"""One trial: sample, train, report each epoch, end it in both stores whatever happens."""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StoreError, TrialFailure, first_line
from orchestrator.numbers import rounded
from orchestrator.space import suggest
from orchestrator.storage._optuna import (
    flush_trial,
    set_trial_system_attr,
    storage_of,
    trial_id_of,
)
from orchestrator.storage._store import with_retries
from orchestrator.study._attrs import (
    ATTR_BEST_EPOCH,
    ATTR_BEST_METRICS,
    ATTR_CONFIG,
    ATTR_EPOCHS_RUN,
    ATTR_LAST_METRICS,
    ATTR_N_PARAMETERS,
    ATTR_RUN_ID,
    ATTR_SEED,
)
from orchestrator.study._describe import dataset_fields, mark_winner
from orchestrator.study._events import TrialEvent
from orchestrator.study._faults import MLFLOW, OPTUNA, store_call, traceback_text
from orchestrator.study._queries import all_trials, budget_counts
from orchestrator.study._ranking import best_trial
from orchestrator.study._recovery import Heartbeat, fail_trial
from orchestrator.study._setup import RunContext
from orchestrator.study._stop import TrialStopped
from orchestrator.study._training import (
    Progress,
    Trained,
    train_trial,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import TrialState

    from orchestrator.data import Splits
    from orchestrator.space import TrialConfig


logger = logging.getLogger(__name__)


def trial_seed(study_seed: int, trial_number: int) -> int:
    """Each trial's seed, derived from the study seed and the trial number (logged as ``seed``)."""
    return (study_seed * 1_000_003 + trial_number * 7919 + 17) % (2**31 - 1)


def run_trial(ctx: RunContext, trial: optuna.Trial, *, n_trials: int) -> TrialEvent:
    """Run one asked trial to its end in both stores: COMPLETE, PRUNED or FAIL in Optuna, and its
    MLflow run FINISHED, FAILED or KILLED, whatever happens (an interrupt re-raises after that).

    The steps: sample the configuration (:func:`suggest`), open its MLflow run, record its
    set-up and load its data (:func:`_set_up`), train it (once, or once per fold with
    ``data.cv``: :func:`train_trial`), record what it gave (:func:`_record`), tell Optuna, end
    the run; then the winner marked and the progress event (:func:`_ended`).

    Failure classes (see :mod:`._faults`): an exception of the user's code fails the trial
    (``error``, the traceback kept as the run's ``traceback.txt``); a store fault fails it as
    ``store`` and queues it again; a bug of hpo's is recorded, then stops the run.

    ``n_trials``: the budget in force, for the progress line.
    """
    import optuna
    from optuna.trial import TrialState

    from orchestrator.models import run_params
    from orchestrator.tracking import objective_key

    study, stop = ctx.study, ctx.stop
    started = time.monotonic()
    seed = trial_seed(ctx.space.study.seed, trial.number)
    config, failure = None, None
    try:
        config = suggest(ctx.space, trial)
    except TrialFailure as exc:  # an impossible combination: recorded like any failed trial
        failure = exc
    recorded = run_params(config.model) if config is not None else {}  # e.g. the base model
    multi = ctx.space.study.is_multi_objective
    progress = Progress()
    value, values, reason = None, None, None
    run = None
    stop.start_trial()
    try:
        with store_call(OPTUNA):
            trial.set_user_attr(ATTR_SEED, seed)
        with store_call(MLFLOW):  # the run's writes are made in the background, in order
            run = ctx.tracker.start_trial(
                trial.number,
                params={**trial.params, "seed": seed, **recorded},
                tags={"hpo.device": str(ctx.device), "hpo.precision": ctx.precision},
            )
        with Heartbeat(study, trial):
            if failure is not None:
                raise failure
            assert config is not None
            splits = _set_up(ctx, trial, run, config)
            trained = train_trial(ctx, trial, run, config, splits, seed=seed, progress=progress)
            values = trained.values
            value = values[0]
            _record(ctx, trial, run, trained, task=_task_of(splits))
        with store_call(OPTUNA):
            tell(study, trial, values if multi else value)
        state = "COMPLETE"
        spread = {f"{objective_key(k)}_std": v for k, v in trained.spread.items()}
        _end(
            run,
            "FINISHED",
            state=state,
            tags={"hpo.best_epoch": trained.best_epoch},
            metrics={  # the objective under the parent's key: what Optuna was told
                **{objective_key(m): v for m, v in zip(ctx.metrics, values, strict=False)},
                **spread,
                "n_parameters": trained.n_parameters,
            },
        )
    except optuna.TrialPruned:
        with store_call(OPTUNA):
            _note_run_id(trial, run)
            trial.set_user_attr(ATTR_EPOCHS_RUN, progress.epochs)
            # what the leaderboard shows of it, without reading its MLflow run back
            trial.set_user_attr(ATTR_LAST_METRICS, rounded(progress.last_metrics))
            tell(study, trial, state=TrialState.PRUNED)
        state, reason, value = "PRUNED", f"pruned at epoch {progress.epochs}", progress.last_value
        _end(run, "FINISHED", state=state, tags={"hpo.pruned_epoch": progress.epochs})
    except (TrialFailure, TrialStopped, StoreError) as exc:
        kind = exc.kind if not isinstance(exc, StoreError) else "store"
        state, reason = "FAIL", str(exc) if str(exc).startswith(f"{kind}:") else f"{kind}: {exc}"
        if isinstance(exc, TrialFailure) and run is not None:
            with contextlib.suppress(Exception):  # the traceback is a help, never a new failure
                run.log_text(traceback_text(exc), "traceback.txt")
        with store_call(OPTUNA):
            _note_run_id(trial, run)
            trial.set_user_attr(ATTR_EPOCHS_RUN, progress.epochs)
            queued = _fail(ctx, trial, kind=kind, reason=reason)
        if queued:
            ctx.notice(f"trial {trial.number} ({kind}): configuration queued again")
        status = "KILLED" if kind in ("deadline", "store") else "FAILED"
        _end(run, status, state=state, tags={"hpo.fail_reason": reason, "hpo.fail_kind": kind})
    except KeyboardInterrupt:
        stop.interrupted()
        with contextlib.suppress(Exception):
            _note_run_id(trial, run)
        # queued again, so that the next run finishes this configuration
        _fail(ctx, trial, kind="interrupted", reason="interrupted")
        _end(
            run,
            "KILLED",
            state="FAIL",
            tags={"hpo.fail_reason": "interrupted", "hpo.fail_kind": "interrupted"},
        )
        raise
    except BaseException as exc:  # a bug of hpo's: record it, then stop the run
        reason = f"error: {first_line(exc, with_type=True)}"
        with contextlib.suppress(Exception):
            _fail(ctx, trial, kind="error", reason=reason)
        _end(
            run, "FAILED", state="FAIL", tags={"hpo.fail_reason": reason, "hpo.fail_kind": "error"}
        )
        raise
    finally:
        _end(run, "FAILED", state="FAIL")  # whatever happened, the run must not stay RUNNING
    return _ended(
        ctx,
        trial,
        state=state,
        value=value,
        values=values,
        reason=reason,
        seconds=time.monotonic() - started,
        epochs=progress.epochs,
        n_trials=n_trials,
    )


def _set_up(ctx: RunContext, trial: optuna.Trial, run: Any, config: TrialConfig) -> Splits:
    """Record the trial's configuration in both stores, and load its data as its model family
    takes it; the set-up writes reach Optuna together, before training."""
    from orchestrator.models import adapt_data

    with store_call(OPTUNA):  # hpo's record, out of the user attributes (see _attrs)
        set_trial_system_attr(ctx.study, trial, ATTR_CONFIG, config.to_dict())
    with store_call(MLFLOW):
        run.log_dict(config.to_dict(), "trial_config.json")
    splits = adapt_data(config.model, ctx.data(config.data), config.data)
    with store_call(MLFLOW):  # the runs table's Dataset column
        run.log_dataset(**dataset_fields(config.data, splits))
    with store_call(OPTUNA):
        flush_trial(ctx.study, trial)
    return splits


def _task_of(splits: Any) -> Any:
    from orchestrator.tasks import task_of

    return task_of(splits.spec)


def _record(ctx: RunContext, trial: optuna.Trial, run: Any, trained: Trained, *, task: Any) -> None:
    """What a trial gave, in both stores: its weights and validation predictions on
    its run, written before Optuna is told; its best epoch and metrics on the trial."""
    import numpy as np

    with store_call(MLFLOW):
        run.log_state_dict(trained.best_state)
        if trained.predictions is not None:
            # probabilities as float16 (3 digits are plenty); values float32, which keeps a
            # price of 250,000 to the unit
            values = np.asarray(trained.predictions)
            predictions = values.astype(np.float32 if values.ndim == 1 else np.float16)
            run.log_array(predictions, trained.predictions_file)
        run.sync()  # its writes made before Optuna is told; the run's end comes later
    with store_call(OPTUNA):
        _note_run_id(trial, run)
        trial.set_user_attr(ATTR_N_PARAMETERS, trained.n_parameters)
        trial.set_user_attr(ATTR_BEST_EPOCH, trained.best_epoch)
        trial.set_user_attr(ATTR_EPOCHS_RUN, trained.epochs_run)
        # at 4 significant digits, as optuna-dashboard shows them (MLflow keeps every digit);
        # what decides new predictions (a binary task's threshold) exactly
        decided = set(task.extras)
        metrics = {k: float(v) for k, v in trained.best_metrics.items()}
        keep = [k for k in metrics if k.removeprefix("val_").removeprefix("train_") in decided]
        trial.set_user_attr(ATTR_BEST_METRICS, rounded(metrics, keep=keep))


def _ended(
    ctx: RunContext,
    trial: optuna.Trial,
    *,
    state: str,
    value: float | None,
    values: list[float] | None,
    reason: str | None,
    seconds: float,
    epochs: int,
    n_trials: int,
) -> TrialEvent:
    """After a trial's end: the winner marked in MLflow, the progress event."""
    study = ctx.study
    multi = ctx.space.study.is_multi_objective
    trials = all_trials(study)  # one read for the best trial and the budget count
    best = best_trial(study, trials)
    parent = ctx.tracker.parent_run_id
    pareto = None
    if multi and state == "COMPLETE":
        pareto = len(study.best_trials)
        if parent is not None:
            ctx.tracker.log_metrics(parent, {"pareto_size": pareto}, step=trial.number)
    elif state == "COMPLETE" and best is not None and best.number == trial.number:
        mark_winner(ctx.tracker, best, metric=ctx.metric, step=len(trials))
    event = TrialEvent(
        number=trial.number,
        state=state,
        value=value,
        best_value=best.values[0] if best is not None else None,
        best_number=best.number if best is not None else None,
        seconds=seconds,
        epochs=epochs,
        reason=reason,
        finished=budget_counts(study, trials)[0],
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


def _fail(ctx: RunContext, trial: optuna.Trial, *, kind: str, reason: str) -> bool:
    frozen = with_retries(lambda: storage_of(ctx.study).get_trial(trial_id_of(trial)))
    return with_retries(
        lambda: fail_trial(
            ctx.study, frozen, kind=kind, reason=reason, retries=ctx.space.study.retries
        )
    )


def _note_run_id(trial: optuna.Trial, run: Any) -> None:
    """Record the MLflow run's id on the trial, once, as the trial ends (written with its result):
    its run is created in the background and nothing before waits for it. A run that could not be
    created is a store fault raised by the run's next write, not here."""
    if run is None or ATTR_RUN_ID in trial.user_attrs:
        return
    try:
        run_id = run.run_id
    except Exception:
        return
    with store_call(OPTUNA):
        trial.set_user_attr(ATTR_RUN_ID, run_id)


def _end(run: Any, status: str, *, state: str, **fields: Any) -> None:
    """End the trial's MLflow run once (later calls do nothing). When the tracking store is what
    failed, say so and go on: ``hpo repair`` closes a run left RUNNING."""
    if run is None or run.ended:
        return
    try:
        run.end(status, state=state, **fields)
    except Exception as exc:
        run.ended = True
        logger.warning("could not end MLflow run %s (%s)", run.run_id, first_line(exc))
