"""MLflow runs: one experiment and one parent run per study, one nested run per trial.

Everything goes through :class:`mlflow.MlflowClient` with explicit run ids (no fluent global
state), so nothing depends on an "active run" and every run is ended with an explicit status,
however the trial or the process ends.

Status mapping (Optuna -> MLflow): COMPLETE -> FINISHED; PRUNED -> FINISHED with tag
``hpo.state=PRUNED``; FAIL -> FAILED; interrupted -> KILLED.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from orchestrator.redact import redact_text
from orchestrator.tracking._client import (
    EXPERIMENT_KIND,
    context_tags,
    dataset_input,
    default_tracking_uri,
    existing_experiment,
    finite_metrics,
    log_params,
    now_ms,
    param_value,
    quiet_artifact_downloads,
    run_tags,
    write_batch,
)
from orchestrator.tracking._guard import GuardedClient
from orchestrator.tracking._sqlite import open_sqlite_store
from orchestrator.tracking._trial_run import RunStatus, TrialRun
from orchestrator.tracking._writer import Writer

__all__ = ["RunStatus", "Tracker"]

logger = logging.getLogger(__name__)

PARENT_ROLE = "study"
TRIAL_ROLE = "trial"
BEST_TAG = "hpo.best"  # "true" on the best trial's run only
SEARCH_PAGE = 1000  # runs per search_runs page


class Tracker:
    """The MLflow side of one study in one process.

    Args:
        experiment: the experiment name (the study name).
        tracking_uri: any MLflow tracking URI; None means MLflow's own default.
        source: the runs' ``mlflow.source.name`` (the command that made them).
    """

    def __init__(
        self, experiment: str, *, tracking_uri: str | None = None, source: str = "hpo"
    ) -> None:
        from mlflow import MlflowClient

        quiet_artifact_downloads()
        open_sqlite_store(tracking_uri or default_tracking_uri())  # before MLflow opens it
        # every MLflow call on one thread, in order; a trial's writes do not wait (see _writer)
        self.writer = Writer()
        self.client = GuardedClient(MlflowClient(tracking_uri=tracking_uri), self.writer)
        self.last_end: Future[None] | None = None  # the end of the last trial run asked for
        self.tracking_uri: str = self.client.tracking_uri  # resolved: MLflow's default if None
        self.experiment_name = experiment
        self.experiment_id = self._ensure_experiment(experiment)
        self.parent_run_id: str | None = None
        self.context_tags = context_tags(source)

    # --- experiment and parent run ---------------------------------------------------------

    def _ensure_experiment(self, name: str) -> str:
        """The id of the experiment ``name``, created (a model-training experiment, as MLflow's
        UI tells it: see :mod:`._links`) or restored when deleted."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name, tags=EXPERIMENT_KIND)
            except Exception:
                # another worker created it between our lookup and create
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def set_experiment_tags(self, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags of this study's experiment: what MLflow's UI reads of it."""
        for key, value in tags.items():
            self.client.set_experiment_tag(self.experiment_id, key, value)

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
            self.parent_run_id = self._create_run(study_name, tags=all_tags, params=params)
        else:
            self.parent_run_id = existing.info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
            self.set_tags(self.parent_run_id, all_tags)
        return self.parent_run_id

    def end_parent(self, status: RunStatus) -> None:
        """Make every write still queued, then end the study's parent run (if one was started)
        with ``status``."""
        try:
            self.writer.drain()
        finally:
            if self.parent_run_id is not None:
                self.client.set_terminated(self.parent_run_id, status=status)

    def schedule_parent(self) -> None:
        """Make every write still queued, then mark the study's parent run SCHEDULED: its workers
        start later (a batch job's), and the first of them reopens it (:meth:`start_parent`)."""
        self.writer.drain()
        if self.parent_run_id is not None:
            self.client.update_run(self.parent_run_id, status="SCHEDULED")

    def close(self) -> None:
        """Make every write still queued; raise the first that failed (a StoreError)."""
        self.writer.drain()

    # --- trial runs ------------------------------------------------------------------------

    def start_trial(
        self,
        trial_number: int,
        *,
        params: Mapping[str, Any],
        tags: Mapping[str, Any] = (),
    ) -> TrialRun:
        """Open the nested run of one trial under the parent run: created in the background (its
        ``run_id`` waits for it), like every write of the trial's run."""
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
        name = f"trial-{trial_number:04d}"
        return TrialRun(
            self,
            self.writer.later(lambda: self._create_run(name, tags=all_tags, params=params)),
            name=name,
        )

    def _create_run(
        self, run_name: str, *, tags: Mapping[str, Any], params: Mapping[str, Any]
    ) -> str:
        """A new run of this experiment with its tags and parameters; its id."""
        values = {k: param_value(v) for k, v in {**self.context_tags, **tags}.items()}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=values)
        log_params(self.client, run.info.run_id, params)
        return run.info.run_id

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set (or overwrite) tags of a run."""
        self.log_batch(run_id, tags=run_tags(tags))

    def mark_best(
        self, run_id: str, *, trial_number: int, metrics: Mapping[str, float], step: int
    ) -> None:
        """Make trial ``trial_number`` (run ``run_id``) the winner: tag ``hpo.best=true`` on its
        run, then off every other trial run; on the parent ``metrics`` (at ``step``), the winner's
        number and run id. Racing writers are mended by the last call (at the study's end)."""
        self.set_tags(run_id, {BEST_TAG: "true"})
        if self.parent_run_id is not None:
            tags = {"hpo.best_trial": trial_number, "hpo.best_run_id": run_id}
            self.log_metrics(self.parent_run_id, metrics, step=step, tags=tags)
        others = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{BEST_TAG}` = 'true' and tags.`hpo.role` = '{TRIAL_ROLE}'",
            max_results=SEARCH_PAGE,
        )
        for run in others:
            if run.info.run_id != run_id:
                self.client.delete_tag(run.info.run_id, BEST_TAG)

    def log_dataset(self, run_id: str, name: str, **fields: Any) -> None:
        """Record the data set a run trained on (its Dataset column; see :func:`dataset_input`)."""
        self.client.log_inputs(run_id, datasets=[dataset_input(name, **fields)])

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        *,
        step: int = 0,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Metrics at ``step`` (non-finite ones left out), and ``tags`` in the same write."""
        batch = finite_metrics(metrics, timestamp=now_ms(), step=step)
        self.log_batch(run_id, metrics=batch, tags=run_tags(tags or {}))

    def log_batch(
        self, run_id: str, *, metrics: Sequence[Any] = (), tags: Sequence[Any] = ()
    ) -> None:
        """Write MLflow ``Metric`` and ``RunTag`` entities in as few calls as MLflow allows."""
        write_batch(self.client, run_id, metrics=metrics, tags=tags)

    def log_dict(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Store ``data`` as an indented JSON artifact (secrets redacted)."""
        self.log_text(run_id, json.dumps(data, indent=2, default=str), artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store ``text`` as an artifact (secrets redacted)."""
        self.client.log_text(run_id, redact_text(text), artifact_file)

    def log_file(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        """Store a local file as an artifact, under ``artifact_path`` if given."""
        self.client.log_artifact(run_id, str(path), artifact_path)

    def download(self, run_id: str, artifact_path: str, dst: str | Path) -> Path:
        """Download one artifact of a run into ``dst`` and return its local path."""
        return Path(self.client.download_artifacts(run_id, artifact_path, str(dst)))

    def kill_run(self, run_id: str | None, *, trial: int, reason: str, kind: str) -> str | None:
        """End the run of trial ``trial``, whose worker is gone: KILLED, with the failure class and
        reason. ``run_id``: its id if the trial recorded it, else the run is found by its tags (a
        trial records it when it ends). Returns the id of the run ended, None if none was."""
        if run_id is None:
            found = self.client.search_runs(
                [self.experiment_id],
                filter_string=(
                    f"tags.`hpo.role` = '{TRIAL_ROLE}' and tags.`hpo.trial` = '{trial}' "
                    "and attributes.status = 'RUNNING'"
                ),
                max_results=1,
            )
            if not found:
                return None
            run_id = found[0].info.run_id
        self.set_tags(
            run_id, {"hpo.state": "FAIL", "hpo.fail_kind": kind, "hpo.fail_reason": reason}
        )
        self.client.set_terminated(run_id, status="KILLED")
        return run_id

    def running_trial_runs(self) -> list[tuple[str, int]]:
        """(run id, trial number) of every trial run of this experiment still RUNNING."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`hpo.role` = '{TRIAL_ROLE}' and attributes.status = 'RUNNING'",
            max_results=10_000,
        )
        return [(r.info.run_id, int(r.data.tags.get("hpo.trial", -1))) for r in runs]

    def run_status(self, run_id: str) -> str | None:
        """A run's status (RUNNING, FINISHED, FAILED, KILLED), None if there is no such run."""
        try:
            return self.client.get_run(run_id).info.status
        except Exception:
            return None

    def end_run(self, run_id: str, *, status: RunStatus) -> None:
        """End a run (the study's parent run left RUNNING by a lost worker) with ``status``."""
        self.client.set_terminated(run_id, status=status)

    def close_run(
        self, run_id: str, *, status: RunStatus, state: str, metrics: Mapping[str, float] = ()
    ) -> None:
        """End a run left RUNNING although its trial finished (a crash between the two stores):
        ``hpo.state``, the ``metrics`` its end would have written, then ``status``."""
        self.log_metrics(run_id, dict(metrics), tags={"hpo.state": state})
        self.client.set_terminated(run_id, status=status)

    # --- reading runs back; runs of retraining ----------------------------------------------

    @classmethod
    def open_existing(cls, experiment: str, *, tracking_uri: str | None = None) -> Tracker | None:
        """The tracker of an experiment that exists already, else None; creates nothing.

        For read-only commands (leaderboard, report): a missing SQLite file or experiment means
        there is nothing in MLflow to read, and no empty database is left behind.
        """
        uri = tracking_uri or default_tracking_uri()
        try:
            uri, found = existing_experiment(experiment, uri)
        except Exception as exc:  # an unreachable server: the caller goes on without MLflow
            logger.warning("MLflow at %s cannot be read (%s)", redact_text(uri), exc)
            return None
        return None if found is None else cls(experiment, tracking_uri=uri)

    def runs_by_id(self, *, role: str = TRIAL_ROLE) -> dict[str, Any]:
        """Every run of this experiment tagged ``hpo.role=role``, by run id (paged searches)."""
        runs: dict[str, Any] = {}
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`hpo.role` = '{role}'",
                max_results=SEARCH_PAGE,
                page_token=token,
            )
            runs.update((run.info.run_id, run) for run in page)
            token = page.token
            if not token:
                return runs

    def tag_values(self, key: str, *, role: str = TRIAL_ROLE, most: int = 20) -> list[str]:
        """The values of tag ``key`` on this experiment's runs tagged ``hpo.role=role`` (up to
        ``most``), one search of one run per value (a run with none of the values found so far),
        instead of reading every run."""
        found: list[str] = []
        while len(found) < most:
            others = "".join(f" and tags.`{key}` != '{value}'" for value in found)
            runs = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`hpo.role` = '{role}' and tags.`{key}` != ''{others}",
                max_results=1,
            )
            if not runs:
                return found
            found.append(runs[0].data.tags[key])
        return found

    def metric_histories(self, run_id: str, keys: Sequence[str]) -> dict[str, dict[int, float]]:
        """Each metric's values by step (the epoch) for one run; keys never logged are left out."""
        histories = {}
        for key in keys:
            points = self.client.get_metric_history(run_id, key)
            if points:
                histories[key] = {m.step: m.value for m in sorted(points, key=lambda m: m.step)}
        return histories

    def start_run(
        self,
        run_name: str,
        *,
        role: str,
        params: Mapping[str, Any] = (),
        tags: Mapping[str, Any] = (),
        parent_run_id: str | None = None,
    ) -> TrialRun:
        """Open a run of this experiment (nested under ``parent_run_id`` if given), e.g. one
        retraining seed; per-epoch metrics go through :meth:`TrialRun.log_epoch`, and
        :meth:`TrialRun.end` closes it with a status."""
        all_tags = {"hpo.role": role, "hpo.study": self.experiment_name, **dict(tags)}
        if parent_run_id is not None:
            all_tags["mlflow.parentRunId"] = parent_run_id
        return TrialRun(self, self._create_run(run_name, tags=all_tags, params=params))

    def log_dir(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        """Log every file under a local folder as artifacts of a run."""
        self.client.log_artifacts(run_id, str(path), artifact_path)
