"""The Optuna study: sampler, pruner, the trial loop, budgets, deadlines and the end-of-study test.

``run_study`` drives an ask-and-tell loop rather than ``study.optimize`` so that the budget is the
study's total of finished trials (exact across resumes and workers: counting and asking happen
under a lock shared by every worker), every way a trial can end is mirrored in MLflow, and an
interrupt leaves nothing RUNNING in either store.

Failure policy per trial: pruned -> PRUNED; an expected failure (:class:`TrialFailure`: NaN loss,
out of memory, an impossible shape, a trial timeout) -> FAIL and the study goes on, its
parameters retried if ``study.retries`` allows it for that class; an interrupt or a deadline ->
FAIL (``interrupted``/``deadline``), not counted, parameters queued again; any other exception is a
programming error -> FAIL, and the run stops. ``study.max_failures`` consecutive failures stop the
run (the circuit breaker).
"""

from __future__ import annotations

from orchestrator.study._events import EpochEvent, NoticeEvent, Progress, StudyResult, TrialEvent
from orchestrator.study._factories import build_pruner, build_sampler, prunes_from
from orchestrator.study._loop import run_study, run_trials
from orchestrator.study._parallel import WorkerSlot, plan_workers, run_parallel
from orchestrator.study._queries import StudyInfo, get_best, list_studies, load_study, stored_space
from orchestrator.study._repair import RepairReport, repair_study
from orchestrator.study._resume import SpaceChange, diff_spaces, warm_start
from orchestrator.study._setup import open_run, prepare_study
from orchestrator.study._stop import STOP_REQUESTS
from orchestrator.study._store import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    budget_lock,
    describe_storage,
    is_rdb,
    open_storage,
    resolve_storage_url,
    with_retries,
)
from orchestrator.study._trial import evaluate_trial_on_test, tell, trial_seed

__all__ = [
    "DEFAULT_STORAGE",
    "STOP_REQUESTS",
    "STORAGE_ENV",
    "EpochEvent",
    "NoticeEvent",
    "Progress",
    "RepairReport",
    "SpaceChange",
    "StudyInfo",
    "StudyResult",
    "TrialEvent",
    "WorkerSlot",
    "budget_lock",
    "build_pruner",
    "build_sampler",
    "describe_storage",
    "diff_spaces",
    "evaluate_trial_on_test",
    "get_best",
    "is_rdb",
    "list_studies",
    "load_study",
    "open_run",
    "open_storage",
    "plan_workers",
    "prepare_study",
    "prunes_from",
    "repair_study",
    "resolve_storage_url",
    "run_parallel",
    "run_study",
    "run_trials",
    "stored_space",
    "tell",
    "trial_seed",
    "warm_start",
    "with_retries",
]
