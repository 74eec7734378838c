"""The ask-and-tell loop shared by `hpo run`, its workers and `hpo worker`."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.redact import redact_url
from orchestrator.space import Space
from orchestrator.study._attrs import ATTR_TEST
from orchestrator.study._events import Progress, StudyResult
from orchestrator.study._queries import _all_trials, _best, _budget_counts, _median_trial_seconds
from orchestrator.study._recovery import claim, fail_stale_trials
from orchestrator.study._setup import ParentPolicy, _Context, open_run
from orchestrator.study._stop import STOP_REQUESTS, _Limits
from orchestrator.study._store import (
    budget_lock,
    describe_storage,
    with_retries,
)
from orchestrator.study._trial import _run_one_trial, evaluate_trial_on_test

if TYPE_CHECKING:
    import optuna


def run_study(
    space: Space,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    until: float | None = None,
    trial_timeout: float | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
    allow_space_change: bool = False,
    warm_start_from: str | None = None,
    warm_start_top: int = 5,
    max_failures: int | None = None,
    parent_policy: ParentPolicy = "always",
) -> StudyResult:
    """Create or resume a study and run trials until its budget, a time limit or an interrupt.

    Args:
        space: the loaded search space.
        study_name: defaults to ``space.name``; the same name resumes the study.
        storage: Optuna storage URL or journal path; default HPO_STORAGE, else
            ``mlruns/optuna.journal``.
        tracking_uri: MLflow tracking URI; default MLFLOW_TRACKING_URI, else MLflow's own.
        n_trials: the study's total of finished trials; default ``study.n_trials`` of the space.
        timeout: seconds after which this call starts no new trial; default ``study.timeout``.
        until: a deadline (epoch seconds): no trial starts that cannot finish by then (estimated
            from finished trials), and a trial still running then is stopped and queued again.
        trial_timeout: seconds after which a trial fails with reason ``timeout``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch in this process; None leaves torch's default.
        progress: called with :class:`EpochEvent`, :class:`TrialEvent` and :class:`NoticeEvent`.
        allow_space_change: accept compatible changes of the stored space (new parameters,
            wider ranges) when resuming.
        warm_start_from: a study whose best ``warm_start_top`` configurations are queued first.
        max_failures: consecutive failed trials that stop the run; default ``study.max_failures``.
        parent_policy: who ends the study's MLflow parent run: ``always`` this call, ``never``
            (a worker managed by ``hpo run --jobs``), ``last`` (the last worker out).

    Raises:
        KeyboardInterrupt: after marking the running trial and its run; the study stays resumable.
    """
    import torch

    started = time.monotonic()
    name = study_name or space.name
    n_trials = n_trials or space.study.n_trials
    timeout = timeout if timeout is not None else space.study.timeout_seconds
    max_failures = max_failures or space.study.max_failures
    if threads:
        torch.set_num_threads(threads)
    ctx = open_run(
        space,
        name=name,
        storage=storage,
        tracking_uri=tracking_uri,
        device=device,
        progress=progress,
        allow_space_change=allow_space_change,
        warm_start_from=warm_start_from,
        warm_start_top=warm_start_top,
    )
    study, parent = ctx.study, ctx.tracker.parent_run_id
    result = StudyResult(
        study_name=name,
        storage=describe_storage(storage),
        tracking_uri=redact_url(ctx.tracker.tracking_uri) or "",
        parent_run_id=parent,
        n_trials=n_trials,
        finished=0,
        metrics=space.study.metrics,
    )
    status = "KILLED"
    try:
        run_trials(
            ctx,
            result,
            storage=storage,
            started=started,
            timeout=timeout,
            until=until,
            trial_timeout=trial_timeout,
            max_failures=max_failures,
        )
        result.finished = _budget_counts(study)[0]
        if result.stopped_by != "failures":
            _finish(ctx, result)
        status = "FAILED" if result.stopped_by == "failures" else "FINISHED"
    except KeyboardInterrupt:
        STOP_REQUESTS.handling = True
        result.stopped_by = "interrupt"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        result.seconds = time.monotonic() - started
        _end_parent(ctx, status, parent_policy)
    _record_best(ctx, result)
    return result


def run_trials(
    ctx: _Context,
    result: StudyResult,
    *,
    storage: str | None,
    started: float,
    timeout: float | None,
    until: float | None,
    trial_timeout: float | None,
    max_failures: int,
) -> None:
    """One worker's trial loop on an opened run, until the study's budget (``result.n_trials``),
    a time limit, the circuit breaker or an interrupt; ``result.stopped_by`` says which.

    Raises:
        KeyboardInterrupt: after the running trial and its run are marked.
    """
    study, name, n_trials = ctx.study, ctx.study.study_name, result.n_trials
    consecutive_failures = 0
    while True:
        STOP_REQUESTS.check()
        if timeout is not None and time.monotonic() - started >= timeout:
            result.stopped_by = "timeout"
            break
        if until is not None:
            estimate = _median_trial_seconds(study) or 0.0
            if time.time() + estimate >= until:
                result.stopped_by = "deadline"
                break
        with budget_lock(storage, name):
            trials = _all_trials(study)  # one read for the repair and the budget
            if _repair(ctx, result, trials=trials):
                trials = _all_trials(study)
            finished, running = _budget_counts(study, trials)
            result.finished = finished
            if finished + running >= n_trials:
                result.stopped_by = "budget"
                break
            trial = with_retries(study.ask)
            # claim it at once, so that no other worker takes it for stale
            with_retries(functools.partial(claim, study, trial._trial_id))
        event = _run_one_trial(
            ctx,
            trial,
            n_trials=n_trials,
            limits=_Limits(trial_timeout=trial_timeout, deadline=until),
        )
        result.ran += 1
        result.states[event.state] = result.states.get(event.state, 0) + 1
        if event.state == "FAIL":
            kind = event.reason.split(":", 1)[0] if event.reason else "error"
            result.failures.setdefault(kind, []).append(event.reason or "")
            consecutive_failures += 1
        else:
            consecutive_failures = 0
        if event.reason and event.reason.startswith("deadline"):
            result.stopped_by = "deadline"
            break
        if consecutive_failures >= max_failures:
            result.stopped_by = "failures"
            break


def _end_parent(ctx: _Context, status: str, policy: ParentPolicy) -> None:
    from optuna.trial import TrialState

    if policy == "never":
        return
    if policy == "last":
        running = ctx.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if running:
            return  # other workers are still at it: the last one out ends the parent run
    ctx.tracker.end_parent(status)  # type: ignore[arg-type]


def _repair(
    ctx: _Context,
    result: StudyResult | None = None,
    *,
    trials: Sequence[optuna.trial.FrozenTrial] | None = None,
) -> list[Any]:
    actions = fail_stale_trials(
        ctx.study,
        retries=ctx.space.study.retries,
        kill_run=lambda run_id, reason: ctx.tracker.kill_run(run_id, reason=reason, kind="stale"),
        trials=trials,
    )
    for action in actions:
        again = "queued again" if action.requeued else "retry limit reached"
        ctx.notice(f"trial {action.trial} was stale ({action.reason}): failed, {again}")
        if result is not None:
            result.repaired.append(action.trial)
    return actions


def _record_best(ctx: _Context, result: StudyResult) -> None:
    best = _best(ctx.study)
    if best is None:
        return
    result.best_number, result.best_value = best.number, best.values[0]
    result.best_params = best.params
    if len(ctx.study.directions) > 1:
        result.pareto = sorted(t.number for t in ctx.study.best_trials)


def _finish(ctx: _Context, result: StudyResult) -> None:
    """Record the best trial and evaluate it once on the held-out test split."""
    _record_best(ctx, result)
    best = _best(ctx.study)
    if best is None:
        return
    stored = ctx.study.user_attrs.get(ATTR_TEST) or {}
    if stored.get("trial") == best.number:
        result.test_metrics = {k: v for k, v in stored.items() if k != "trial"}
        return
    metrics = evaluate_trial_on_test(ctx, best)
    if metrics is not None:
        result.test_metrics = metrics
        ctx.study.set_user_attr(ATTR_TEST, {"trial": best.number, **metrics})
