"""The keys hpo stores on studies and trials, and which failed trials count towards the budget."""

from __future__ import annotations

# FAIL kinds that do not use up the budget: the trial was stopped, not broken
NOT_COUNTED = ("interrupted", "stale", "deadline")


ATTR_SPACE = "hpo.space"


ATTR_SPACE_TEXT = "hpo.space_text"


ATTR_SOURCE = "hpo.space_source"


ATTR_PARENT_RUN = "hpo.mlflow_parent_run_id"


ATTR_TEST = "hpo.test_metrics"


ATTR_METRICS = "hpo.metrics"
