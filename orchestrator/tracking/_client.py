"""What every MLflow call of hpo shares: where MLflow logs by default, and values made storable.

Parameter and tag values are JSON text, with secrets redacted, cut to MLflow's length limit.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.redact import redact_text

__all__ = ["default_tracking_uri", "param_value"]

_MAX_PARAM_LENGTH = 6000  # MLflow's param value limit


def default_tracking_uri() -> str:
    """Where MLflow itself would log: MLFLOW_TRACKING_URI, else its own default store."""
    import mlflow

    return mlflow.get_tracking_uri()


def param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return redact_text(text)[:_MAX_PARAM_LENGTH]
