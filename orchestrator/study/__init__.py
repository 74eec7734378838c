"""The Optuna study: how hpo creates, runs, resumes, repairs and reads studies.

- the storage itself (:class:`StudyStore`, the proxy, batching, Optuna's internals) lives in
  :mod:`orchestrator.storage`; its names people use are re-exported here;
- :mod:`._factories`: the sampler and pruner, built from the registries in ``config``;
- :mod:`._preflight`: every check before the first trial (:func:`preflight`);
- :mod:`._setup`: then the study and the MLflow parent run (:func:`open_run`);
- :mod:`._training`: a trial's training, with cross-validation folds;
- :mod:`._refine`: a narrower space from a finished study;
- :mod:`._loop`: the ask-and-tell loop shared by ``hpo run``, its workers and ``hpo worker``
  (and :func:`schedule_study`, a study set up for a batch job's workers);
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
from orchestrator.storage._store import StudyStore
from orchestrator.study._attrs import ATTR_BEST_METRICS, ATTR_CONFIG, ATTR_RUN_ID, ATTR_SPACE
from orchestrator.study._events import (
    EpochEvent,
    NoticeEvent,
    Progress,
    StageEvent,
    StudyResult,
    TrialEvent,
)
from orchestrator.study._finish import trained_network
from orchestrator.study._loop import run_spec, run_study, run_worker, schedule_study
from orchestrator.study._parallel import run_parallel
from orchestrator.study._preflight import preflight
from orchestrator.study._queries import (
    StudyInfo,
    get_best,
    list_studies,
    load_study,
    reached_budget,
    stored_space,
    study_seed,
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
from orchestrator.study._resume import check_stored
from orchestrator.study._setup import prepare_study
from orchestrator.study._spec import RunSpec
from orchestrator.study._stop import StopRequest, Terminated

__all__ = [
    "ATTR_BEST_METRICS",
    "ATTR_CONFIG",
    "ATTR_RUN_ID",
    "ATTR_SPACE",
    "EpochEvent",
    "NoticeEvent",
    "Progress",
    "RepairReport",
    "RunSpec",
    "StageEvent",
    "StopRequest",
    "StudyInfo",
    "StudyResult",
    "StudyStore",
    "Terminated",
    "TrialEvent",
    "best_trial",
    "check_stored",
    "directions_of",
    "get_best",
    "list_studies",
    "load_study",
    "objective_names",
    "pareto_ranks",
    "preflight",
    "prepare_study",
    "rank_trials",
    "reached_budget",
    "repair_study",
    "run_parallel",
    "run_spec",
    "run_study",
    "run_worker",
    "schedule_study",
    "stored_space",
    "study_attr",
    "study_seed",
    "study_task",
    "trained_network",
    "trial_attr",
    "trial_config",
]
