"""The Optuna study: how hpo creates, runs, resumes, repairs and reads studies.

- the storage itself (:class:`StudyStore`, the proxy, batching, Optuna's internals) lives in
  :mod:`orchestrator.storage`; its names people use are re-exported here;
- :mod:`._factories`: the sampler and pruner, built from the registries in ``config``;
- :mod:`._preflight`: every check before the first trial (:func:`preflight`);
- :mod:`._setup`: then the study and the MLflow parent run (:func:`open_run`);
- :mod:`._training`: a trial's training, with cross-validation folds;
- :mod:`._refine`: a narrower space from a finished study;
- :mod:`._loop`: the ask-and-tell loop shared by ``hpo run``, its workers and ``hpo worker``;
- :mod:`._trial`: one trial, ended in both stores whatever happens;
- :mod:`._finish`: the best trial evaluated on the test split, the parent run ended;
- :mod:`._parallel`: ``--jobs`` workers on one machine;
- :mod:`._stop`: :class:`StopRequest`, every reason a run stops, carried in its context;
- :mod:`._spec`: :class:`RunSpec`, what one process is asked to run;
- :mod:`._queries`, :mod:`._ranking`: reading studies, ranking trials, the best trial;
- :mod:`._resume`: the space check on resume, warm starts;
- :mod:`._recovery`, :mod:`._repair`: leases, stale trials, retries by failure class;
- :mod:`._attrs`: the keys hpo stores on studies and trials.

Nothing here prints; torch is used through ``train``, ``models`` and ``device`` only.
"""

from __future__ import annotations

from orchestrator.storage._optuna import study_attr, trial_attr
from orchestrator.storage._proxy import start_storage_proxy
from orchestrator.storage._store import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    StudyStore,
    open_storage,
    with_retries,
)
from orchestrator.study._attrs import (
    ATTR_BEST_EPOCH,
    ATTR_BEST_METRICS,
    ATTR_BUDGET,
    ATTR_CONFIG,
    ATTR_EPOCHS_RUN,
    ATTR_FAIL_KIND,
    ATTR_FAIL_REASON,
    ATTR_N_PARAMETERS,
    ATTR_PARENT_RUN,
    ATTR_RUN_ID,
    ATTR_SEED,
    ATTR_SPACE,
    ATTR_TEST,
    WORKER,
)
from orchestrator.study._events import (
    EpochEvent,
    NoticeEvent,
    Progress,
    StageEvent,
    StudyResult,
    TrialEvent,
)
from orchestrator.study._factories import build_pruner, build_sampler, prunes_from
from orchestrator.study._loop import run_spec, run_study, run_worker
from orchestrator.study._parallel import WorkerSlot, plan_workers, quiet_worker, run_parallel
from orchestrator.study._preflight import Checked, preflight
from orchestrator.study._queries import (
    StudyInfo,
    budget_counts,
    get_best,
    list_studies,
    load_study,
    reached_budget,
    stored_budget,
    stored_space,
    study_task,
    trial_config,
)
from orchestrator.study._ranking import (
    best_trial,
    directions_of,
    objective_names,
    pareto_ranks,
    rank_trials,
)
from orchestrator.study._repair import RepairReport, repair_study
from orchestrator.study._resume import SpaceChange, check_stored, diff_spaces
from orchestrator.study._setup import prepare_study
from orchestrator.study._spec import RunSpec
from orchestrator.study._stop import StopRequest, Terminated
from orchestrator.study._trial import tell, trial_seed

__all__ = [
    "ATTR_BEST_EPOCH",
    "ATTR_BEST_METRICS",
    "ATTR_BUDGET",
    "ATTR_CONFIG",
    "ATTR_EPOCHS_RUN",
    "ATTR_FAIL_KIND",
    "ATTR_FAIL_REASON",
    "ATTR_N_PARAMETERS",
    "ATTR_PARENT_RUN",
    "ATTR_RUN_ID",
    "ATTR_SEED",
    "ATTR_SPACE",
    "ATTR_TEST",
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "WORKER",
    "BatchingStorage",
    "Checked",
    "EpochEvent",
    "NoticeEvent",
    "Progress",
    "RepairReport",
    "RunSpec",
    "SpaceChange",
    "StageEvent",
    "StopRequest",
    "StudyInfo",
    "StudyResult",
    "StudyStore",
    "Terminated",
    "TrialEvent",
    "WorkerSlot",
    "best_trial",
    "budget_counts",
    "build_pruner",
    "build_sampler",
    "check_stored",
    "diff_spaces",
    "directions_of",
    "get_best",
    "list_studies",
    "load_study",
    "objective_names",
    "open_storage",
    "pareto_ranks",
    "plan_workers",
    "preflight",
    "prepare_study",
    "prunes_from",
    "quiet_worker",
    "rank_trials",
    "reached_budget",
    "repair_study",
    "run_parallel",
    "run_spec",
    "run_study",
    "run_worker",
    "start_storage_proxy",
    "stored_budget",
    "stored_space",
    "study_attr",
    "study_task",
    "tell",
    "trial_attr",
    "trial_config",
    "trial_seed",
    "with_retries",
]


def __getattr__(name: str) -> object:
    # imported on first use: it subclasses Optuna's storage, and importing Optuna costs 0.4 s
    if name == "BatchingStorage":
        from orchestrator.storage._batch import BatchingStorage

        return BatchingStorage
    raise AttributeError(f"module 'orchestrator.study' has no attribute {name!r}")


def _old_places() -> None:
    """The storage modules where they were before ``orchestrator.storage`` (the same module
    objects, so that a patch of one is a patch of the other), until every reader moves."""
    import importlib
    import sys

    for name in ("_store", "_rdb", "_grpc", "_batch", "_proxy", "_drivers", "_optuna"):
        module = importlib.import_module(f"orchestrator.storage.{name}")
        sys.modules[f"{__name__}.{name}"] = module
        globals()[name] = module


_old_places()
