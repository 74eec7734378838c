"""The ask-and-tell loop shared by ``hpo run``, its ``--jobs`` workers and ``hpo worker``.

An ask-and-tell loop rather than ``study.optimize``, so that the budget is the study's total of
finished trials (exact across resumes and workers: counting and asking happen under a lock shared
by every worker, and every worker reads the budget stored with the study), every way a trial can
end is mirrored in MLflow, and an interrupt leaves nothing RUNNING in either store.

Failure policy per trial: pruned -> PRUNED; an expected failure (:class:`TrialFailure`: NaN loss,
out of memory, an impossible shape, a trial timeout) -> FAIL and the study goes on, its
parameters retried if ``study.retries`` allows it for that class; an interrupt or a deadline ->
FAIL (``interrupted``/``deadline``), not counted, parameters queued again; any other exception is a
programming error -> FAIL, and the run stops. ``study.max_failures`` consecutive failures stop the
run (the circuit breaker).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.redact import redact_url
from orchestrator.space import Space
from orchestrator.startup import resume_gc
from orchestrator.storage._optuna import refreshed_trials
from orchestrator.storage._store import with_retries
from orchestrator.study._events import Progress, StudyResult
from orchestrator.study._finish import closing_run, finish, record_best
from orchestrator.study._preflight import Checked
from orchestrator.study._queries import (
    budget_counts,
    load_study,
    median_trial_seconds,
    stored_budget,
    stored_space,
)
from orchestrator.study._recovery import claim, fail_stale_trials, held_elsewhere
from orchestrator.study._setup import RunContext, open_run, set_budget
from orchestrator.study._spec import RunSpec
from orchestrator.study._stop import StopRequest
from orchestrator.study._trial import run_trial

if TYPE_CHECKING:
    import optuna

__all__ = [
    "repair_stale",
    "run_spec",
    "run_study",
    "run_trials",
    "run_worker",
    "schedule_study",
]

logger = logging.getLogger(__name__)

WAIT_SECONDS = 5.0  # how often a run waiting on other hosts' trials looks again


def run_study(
    space: Space,
    *,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
    **fields: Any,
) -> StudyResult:
    """Create or resume a study and run trials until its budget, a time limit or an interrupt.

    Args:
        space: the loaded search space.
        progress: called with :class:`EpochEvent`, :class:`TrialEvent` and :class:`NoticeEvent`.
        stop: the run's :class:`StopRequest`, if the caller handles signals with it.
        fields: the run's options, :class:`RunSpec`'s fields (its defaults, and the space's study
            name and budget): ``study_name``, ``storage`` (a :class:`StudyStore`, an Optuna
            storage URL or a journal path), ``tracking_uri``, ``n_trials`` (the study's total,
            stored with it), ``timeout``, ``until``, ``trial_timeout``, ``max_failures``,
            ``device``, ``threads``, ``allow_space_change``, ``warm_start_from``,
            ``warm_start_top``, ``parent_policy``.

    Raises:
        KeyboardInterrupt: after marking the running trial and its run; the study stays resumable.
        TypeError: an option RunSpec does not have.
    """
    spec = RunSpec.for_space(space, **fields)
    return run_spec(space, spec, progress=progress, stop=stop or StopRequest())


def run_worker(
    spec: RunSpec, *, progress: Progress | None = None, stop: StopRequest | None = None
) -> StudyResult:
    """Join the existing study ``spec.study_name`` with the search space stored with it (no
    local file needed) and run its trials until the budget stored with it is reached.

    Raises:
        StudyError: no such study in ``spec.store``.
    """
    space = stored_space(load_study(spec.study_name, storage=spec.store))
    return run_spec(space, spec, progress=progress, stop=stop or StopRequest())


def schedule_study(
    spec: RunSpec, space: Space | None = None, *, progress: Progress | None = None
) -> tuple[int, int]:
    """Make study ``spec.study_name`` ready for workers that start later (a batch job's), and
    train nothing, so that however many workers then start at once, they join one study and log
    under one MLflow parent run.

    With ``space``: every check, then the study (created, or resumed after the space check) and
    its parent run, left SCHEDULED until the first worker reopens it. Without: the study exists
    already, with its space stored. Either way ``spec.n_trials``, when given, becomes its budget.

    Returns:
        (finished, budget): the trials counted towards the budget so far, and the budget.

    Raises:
        StudyNotFound: no ``space`` and no such study in ``spec.store``.
    """
    from optuna.trial import TrialState

    if space is None:
        study = load_study(spec.study_name, storage=spec.store)
        stored = stored_space(study)  # what its workers will run: a study hpo created
        if spec.n_trials is not None:
            set_budget(study, spec.n_trials)
        return budget_counts(study)[0], stored_budget(study, stored)
    ctx = open_run(space, spec, stop=StopRequest(), progress=progress)
    trials = refreshed_trials(ctx.study)
    if not any(t.state == TrialState.RUNNING for t in trials):  # else its workers are at it
        ctx.tracker.schedule_parent()
    ctx.tracker.close()
    return budget_counts(ctx.study, trials)[0], stored_budget(ctx.study, ctx.space)


def run_spec(
    space: Space,
    spec: RunSpec,
    *,
    stop: StopRequest,
    progress: Progress | None = None,
    checked: Checked | None = None,
) -> StudyResult:
    """Open the run ``spec`` describes, run its trial loop, and close it in both stores."""
    from orchestrator.device import default_threads, set_threads

    started = time.monotonic()
    spec.apply_limits(stop, space)
    set_threads(spec.threads or default_threads())
    try:
        ctx = open_run(space, spec, stop=stop, progress=progress, checked=checked)
    finally:
        resume_gc()  # set up: the collector runs again during the trials (see its module)
    result = new_result(ctx)
    with closing_run(ctx, result, started=started):
        run_trials(ctx, result)
        result.finished = budget_counts(ctx.study, refreshed_trials(ctx.study))[0]
        if result.stopped_by not in ("failures", "store"):
            finish(ctx, result)
    record_best(ctx, result)
    return result


def new_result(ctx: RunContext) -> StudyResult:
    """An empty result of the run ``ctx`` opened."""
    return StudyResult(
        study_name=ctx.spec.study_name,
        storage=ctx.store.display,
        tracking_uri=redact_url(ctx.tracker.tracking_uri) or "",
        parent_run_id=ctx.tracker.parent_run_id,
        experiment_id=ctx.tracker.experiment_id,
        n_trials=stored_budget(ctx.study, ctx.space),
        finished=0,
        metrics=ctx.space.study.metrics,
        directions=ctx.space.study.directions,
    )


def run_trials(ctx: RunContext, result: StudyResult) -> None:
    """One worker's trial loop on an opened run, until the study's budget, a time limit, the
    circuit breaker or an interrupt; ``result.stopped_by`` says which.

    The budget is read from the study at every trial, so that a run that changes it (``hpo run
    --n-trials``) is obeyed by every worker at once.

    Raises:
        KeyboardInterrupt: after the running trial and its run are marked.
    """
    try:
        _trial_loop(ctx, result)
    finally:
        # the trials' MLflow writes still queued are made before the loop ends, whatever ends it
        # (a worker process exits without atexit); one that fails is what a trial's end that
        # fails always was: a warning, and a run that a resume or `hpo repair` closes
        try:
            ctx.tracker.close()
        except Exception as exc:
            logger.warning("MLflow writes of the last trials failed (%s)", first_line(exc))


def _trial_loop(ctx: RunContext, result: StudyResult) -> None:
    study, stop = ctx.study, ctx.stop
    waited = False
    while True:
        estimate = median_trial_seconds(study) if stop.until is not None else None
        reason = stop.before_trial(estimate)
        if reason is not None:
            result.stopped_by = reason
            # what still runs elsewhere, for the summary: the study is not done without it
            held = held_elsewhere(refreshed_trials(study))
            result.elsewhere = [(h.trial, h.worker, h.expires) for h in held]
            break
        with ctx.store.budget_lock(study.study_name):
            # one read of the study for the repair, the budget, the sampler and the pruner
            trials = refreshed_trials(study)
            if repair_stale(ctx, result, trials=trials):
                trials = refreshed_trials(study)
            finished, running = budget_counts(study, trials)
            result.finished = finished
            result.n_trials = stored_budget(study, ctx.space)
            held = held_elsewhere(trials) if finished < result.n_trials else []
            result.elsewhere = [(h.trial, h.worker, h.expires) for h in held]
            if finished + running >= result.n_trials and not held:
                result.stopped_by = "budget"
                break
            trial = None
            if finished + running < result.n_trials:
                trial = with_retries(study.ask)
                # claim it at once, so that no other worker takes it for stale
                with_retries(functools.partial(claim, study, trial))
        if trial is None:
            # the budget waits on trials that workers on other hosts hold: they finish, or turn
            # stale when their lease runs out and are run here
            if not waited:
                ctx.notice(_waiting(held))
                waited = True
            time.sleep(WAIT_SECONDS)
            continue
        event = run_trial(ctx, trial, n_trials=result.n_trials)
        result.ran += 1
        result.states[event.state] = result.states.get(event.state, 0) + 1
        if event.state == "FAIL":
            kind = event.reason.split(":", 1)[0] if event.reason else "error"
            result.failures.setdefault(kind, []).append(event.reason or "")
        tripped = stop.trial_ended(event.state, event.reason)
        if event.reason and event.reason.startswith("deadline"):
            result.stopped_by = "deadline"
            break
        if tripped is not None:
            result.stopped_by = tripped
            summary = stop.breaker_summary if tripped == "failures" else stop.store_summary
            result.breaker = summary()
            break


def _waiting(held: Sequence[Any]) -> str:
    trials = ", ".join(f"{h.trial} ({h.worker})" for h in held)
    last = time.strftime("%H:%M:%S", time.localtime(max(h.expires for h in held)))
    return (
        f"waiting for {len(held)} trial(s) running on other hosts: {trials}; if their workers "
        f"are gone, their leases expire by {last} and they are run here"
    )


def repair_stale(
    ctx: RunContext,
    result: StudyResult | None = None,
    *,
    trials: Sequence[optuna.trial.FrozenTrial] | None = None,
) -> list[Any]:
    """Fail the study's stale trials (queued again per the retry policy) and say so; call it
    under the budget lock."""
    actions = fail_stale_trials(
        ctx.study,
        retries=ctx.space.study.retries,
        kill_run=lambda number, run_id, reason: ctx.tracker.kill_run(
            run_id, trial=number, reason=reason, kind="stale"
        ),
        trials=trials,
    )
    for action in actions:
        again = "queued again" if action.requeued else "retry limit reached"
        ctx.notice(f"trial {action.trial} was stale ({action.reason}): failed, {again}")
        if result is not None:
            result.repaired.append(action.trial)
    return actions
