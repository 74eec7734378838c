"""MLflow tracking: one experiment and one parent run per study, one nested run per trial.

The only module that imports mlflow. Everything goes through :class:`mlflow.MlflowClient` with
explicit run ids (no fluent global state), so nothing depends on an "active run" and every run
is ended with an explicit status, however the trial or the process ends.

Status mapping (Optuna -> MLflow): COMPLETE -> FINISHED; PRUNED -> FINISHED with tag
``hpo.state=PRUNED``; FAIL -> FAILED; interrupted -> KILLED.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from orchestrator.redact import redact_text

__all__ = ["RunStatus", "Tracker", "TrialRun", "default_tracking_uri"]

logger = logging.getLogger(__name__)

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
PARENT_ROLE = "study"
TRIAL_ROLE = "trial"
_MAX_PARAMS_PER_BATCH = 100  # MLflow's log_batch limit
_MAX_PARAM_LENGTH = 6000  # MLflow's param value limit
FLUSH_SECONDS = 5.0  # per-epoch metrics are written at most this often (and at the end)


def default_tracking_uri() -> str:
    """Where MLflow itself would log: MLFLOW_TRACKING_URI, else its own default store."""
    import mlflow

    return mlflow.get_tracking_uri()


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return redact_text(text)[:_MAX_PARAM_LENGTH]


class Tracker:
    """The MLflow side of one study in one process.

    Args:
        experiment: the experiment name (the study name).
        tracking_uri: any MLflow tracking URI; None means MLflow's own default.
    """

    def __init__(self, experiment: str, *, tracking_uri: str | None = None) -> None:
        from mlflow import MlflowClient

        # artifact downloads print a progress bar to stderr: not wanted in per-trial output or cron
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = self.client._tracking_client.tracking_uri
        self.experiment_name = experiment
        self.experiment_id = self._ensure_experiment(experiment)
        self.parent_run_id: str | None = None

    # --- experiment and parent run ---------------------------------------------------------

    def _ensure_experiment(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name)
            except Exception:
                # another worker created it between our lookup and create
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def find_parent_run(self, study_name: str) -> str | None:
        """The id of the study's parent run in this experiment, if one exists."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`hpo.role` = '{PARENT_ROLE}' and tags.`hpo.study` = '{study_name}'"
            ),
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_parent(
        self,
        study_name: str,
        *,
        run_id: str | None = None,
        params: Mapping[str, Any] = (),
        tags: Mapping[str, Any] = (),
    ) -> str:
        """Create the study's parent run, or reopen it when the study is resumed.

        Args:
            study_name: the Optuna study name.
            run_id: a parent run id remembered by the study; used when it exists here.
            params: fixed settings of the space (logged once, when the run is created).
            tags: tags to set (or refresh) on the parent run.
        """
        existing = None
        if run_id is not None:
            try:
                existing = self.client.get_run(run_id)
            except Exception:
                existing = None
            if existing is not None and existing.info.experiment_id != self.experiment_id:
                existing = None
        if existing is None:
            found = self.find_parent_run(study_name)
            existing = self.client.get_run(found) if found else None
        all_tags = {"hpo.role": PARENT_ROLE, "hpo.study": study_name, **dict(tags)}
        if existing is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=study_name,
                tags={k: _param_value(v) for k, v in all_tags.items()},
            )
            self.parent_run_id = run.info.run_id
            self._log_params(self.parent_run_id, params)
        else:
            self.parent_run_id = existing.info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
            self.set_tags(self.parent_run_id, all_tags)
        return self.parent_run_id

    def end_parent(self, status: RunStatus) -> None:
        if self.parent_run_id is not None:
            self.client.set_terminated(self.parent_run_id, status=status)

    # --- trial runs ------------------------------------------------------------------------

    def start_trial(
        self,
        trial_number: int,
        *,
        params: Mapping[str, Any],
        tags: Mapping[str, Any] = (),
    ) -> TrialRun:
        """Open the nested run of one trial under the parent run."""
        if self.parent_run_id is None:
            raise RuntimeError("start_parent() must be called before start_trial()")
        all_tags = {
            "mlflow.parentRunId": self.parent_run_id,
            "hpo.role": TRIAL_ROLE,
            "hpo.study": self.experiment_name,
            "hpo.trial": trial_number,
            "hpo.state": "RUNNING",
            **dict(tags),
        }
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial_number:04d}",
            tags={k: _param_value(v) for k, v in all_tags.items()},
        )
        trial_run = TrialRun(self, run.info.run_id)
        self._log_params(run.info.run_id, params)
        return trial_run

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        if tags:
            batch = [RunTag(k, _param_value(v)) for k, v in tags.items()]
            self.client.log_batch(run_id, tags=batch)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], *, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def log_dict(self, run_id: str, data: Any, artifact_file: str) -> None:
        self.client.log_text(
            run_id, redact_text(json.dumps(data, indent=2, default=str)), artifact_file
        )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, redact_text(text), artifact_file)

    def log_file(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def download(self, run_id: str, artifact_path: str, dst: str | Path) -> Path:
        """Download one artifact of a run into ``dst`` and return its local path."""
        return Path(self.client.download_artifacts(run_id, artifact_path, str(dst)))

    def kill_running_trial_runs(self, *, trial_numbers: set[int] | None = None) -> list[str]:
        """Set KILLED on trial runs still RUNNING (optionally only those of some trials)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`hpo.role` = '{TRIAL_ROLE}' and attributes.status = 'RUNNING'",
            max_results=10_000,
        )
        killed = []
        for run in runs:
            number = int(run.data.tags.get("hpo.trial", -1))
            if trial_numbers is None or number in trial_numbers:
                self.set_tags(run.info.run_id, {"hpo.state": "FAIL"})
                self.client.set_terminated(run.info.run_id, status="KILLED")
                killed.append(run.info.run_id)
        return killed

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_value(v)) for k, v in dict(params).items()]
        for start in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + _MAX_PARAMS_PER_BATCH])


class TrialRun:
    """The nested MLflow run of one trial; per-epoch metrics are buffered and written in batches."""

    def __init__(self, tracker: Tracker, run_id: str) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self._pending: list[tuple[int, dict[str, float], int]] = []
        self._last_flush = time.monotonic()
        self.ended = False

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record one epoch's metrics at ``step``; written at most every FLUSH_SECONDS."""
        self._pending.append((step, dict(metrics), int(time.time() * 1000)))
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        from mlflow.entities import Metric

        if not self._pending:
            return
        batch = [
            Metric(k, float(v), ts, step)
            for step, metrics, ts in self._pending
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        self._pending.clear()
        self._last_flush = time.monotonic()
        for start in range(0, len(batch), 1000):  # MLflow's log_batch limit
            self.tracker.client.log_batch(self.run_id, metrics=batch[start : start + 1000])

    def log_state_dict(
        self, state_dict: Mapping[str, Any], *, artifact_file: str = "model.pt"
    ) -> None:
        """Save model weights as an artifact: a state dict, not log_model (ms, not seconds)."""
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, artifact_file)
            torch.save(dict(state_dict), path)
            self.tracker.log_file(self.run_id, path)

    def end(
        self,
        status: RunStatus,
        *,
        state: str,
        tags: Mapping[str, Any] = (),
        metrics: Mapping[str, float] = (),
    ) -> None:
        """Flush what is buffered, set the final tags and status. Safe to call twice."""
        if self.ended:
            return
        self.ended = True
        try:
            self.flush()
            if metrics:
                self.tracker.log_metrics(self.run_id, metrics)
            self.tracker.set_tags(self.run_id, {"hpo.state": state, **dict(tags)})
        finally:
            self.tracker.client.set_terminated(self.run_id, status=status)
