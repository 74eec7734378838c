"""The keys hpo stores on studies and trials (every reader and writer uses these names), and which
failed trials count towards the budget.

What a user reads (a trial's seed, MLflow run, best epoch and metrics, why it failed; the study's
MLflow run, space file, budget and test metrics) is a user attribute: optuna-dashboard and
``trials_dataframe()`` list those. hpo's own records (the space as JSON and as text, the objective
names, the version, a trial's resolved configuration, its worker and lease) are system
attributes (``SYSTEM``); readers look there first, then among the user attributes, where
studies written before kept them (``_optuna.study_attr``, ``_optuna.trial_attr``)."""

from __future__ import annotations

__all__ = [
    "ALWAYS_REQUEUED",
    "ATTR_BEST_EPOCH",
    "ATTR_BEST_METRICS",
    "ATTR_BUDGET",
    "ATTR_CONFIG",
    "ATTR_EPOCHS_RUN",
    "ATTR_FAIL_KIND",
    "ATTR_FAIL_REASON",
    "ATTR_LAST_METRICS",
    "ATTR_METRIC",
    "ATTR_METRICS",
    "ATTR_MODEL",
    "ATTR_N_PARAMETERS",
    "ATTR_PARENT_RUN",
    "ATTR_REQUEUED",
    "ATTR_RETRY",
    "ATTR_RETRY_OF",
    "ATTR_RUN_ID",
    "ATTR_SEED",
    "ATTR_SOURCE",
    "ATTR_SPACE",
    "ATTR_SPACE_TEXT",
    "ATTR_TASK",
    "ATTR_TEST",
    "ATTR_VERSION",
    "ATTR_WARM_START",
    "LEASE",
    "NOT_COUNTED",
    "SYSTEM",
    "WORKER",
]

# --- on the study ------------------------------------------------------------------------------
ATTR_SPACE = "hpo.space"  # the search space as parsed (JSON)
ATTR_SPACE_TEXT = "hpo.space_text"  # the space file as written
ATTR_SOURCE = "hpo.space_source"  # the space file's path
ATTR_PARENT_RUN = "hpo.mlflow_parent_run_id"
ATTR_TEST = "hpo.test_metrics"  # the best trial's test evaluation: {"trial": n, "test_*": ...}
ATTR_MODEL = "hpo.model"  # the best trial's MLflow model: {"trial": n, "uri": "models:/m-..."}
ATTR_METRIC = "hpo.metric"  # the primary objective's name
ATTR_METRICS = "hpo.metrics"  # every objective's name, in order
ATTR_VERSION = "hpo.version"  # the hpo version that created the study
ATTR_BUDGET = "hpo.n_trials"  # the study's total of trials, as the last run set it
ATTR_TASK = "hpo.task"  # what its models predict (orchestrator.tasks); none: multiclass

# --- on a trial --------------------------------------------------------------------------------
ATTR_SEED = "seed"
ATTR_RUN_ID = "mlflow_run_id"
ATTR_CONFIG = "config"  # the trial's resolved configuration
ATTR_BEST_EPOCH = "best_epoch"
ATTR_EPOCHS_RUN = "epochs_run"
ATTR_BEST_METRICS = "best_metrics"
ATTR_LAST_METRICS = "last_metrics"  # a pruned trial's metrics at the epoch it was stopped
ATTR_N_PARAMETERS = "n_parameters"
ATTR_FAIL_KIND = "fail_kind"  # the failure class: nan, oom, timeout, stale, error, ...
ATTR_FAIL_REASON = "fail_reason"
ATTR_WARM_START = "hpo.warm_start_from"  # "study#number" of a warm-started configuration
LEASE = "hpo.lease"  # when the running trial's worker last renewed its lease (epoch seconds)
WORKER = "hpo.worker"  # who runs the trial: host, pid, process start time
ATTR_RETRY = "hpo.retry"  # how many times this configuration was retried before (0: first run)
ATTR_RETRY_OF = "hpo.retry_of"  # the trial number of the first run of this configuration
ATTR_REQUEUED = "hpo.requeued"  # True on a failed trial whose configuration was queued again

# hpo's own records: system attributes (studies written before kept them as user attributes)
SYSTEM = frozenset(
    {
        ATTR_SPACE,
        ATTR_SPACE_TEXT,
        ATTR_METRIC,
        ATTR_METRICS,
        ATTR_TASK,
        ATTR_VERSION,
        ATTR_CONFIG,
        LEASE,
        WORKER,
    }
)

# FAIL kinds that do not use up the budget: the trial was stopped, or a store failed it; the
# configuration itself is not to blame
NOT_COUNTED = ("interrupted", "stale", "deadline", "store")
# FAIL kinds whose configuration is always queued again (the retry policy decides the others)
ALWAYS_REQUEUED = ("interrupted", "deadline", "store")
