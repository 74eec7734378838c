"""One MLflow run that trains (a trial, or one retraining seed): its writes go to the tracker's
writer and are made in the background, in order, while the training goes on (see :mod:`._writer`).

What a kill can lose: the epochs buffered (at most ``FLUSH_SECONDS``) and the writes still queued,
at most the end of one trial: :meth:`TrialRun.end` waits until the run before it has ended, so the
writer is never more than one trial behind. A resume closes a run left RUNNING whose trial had
finished, with the trial's state and objective (``hpo run`` and ``hpo repair``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from typing import Any, Literal, Protocol

from orchestrator.tracking._client import finite_metrics, now_ms, run_tags
from orchestrator.tracking._writer import Writer

__all__ = ["FLUSH_SECONDS", "RunStatus", "TrialRun"]

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
FLUSH_SECONDS = 5.0  # per-epoch metrics are written at most this often (and at the end)


class _Tracker(Protocol):
    """What a run needs of the :class:`~orchestrator.tracking.Tracker` that opened it."""

    writer: Writer
    client: Any
    last_end: Future[Any] | None

    def log_batch(self, run_id: str, *, metrics: Any = (), tags: Any = ()) -> None: ...
    def log_dict(self, run_id: str, data: Any, artifact_file: str) -> None: ...
    def log_text(self, run_id: str, text: str, artifact_file: str) -> None: ...
    def log_dataset(self, run_id: str, name: str, **fields: Any) -> None: ...
    def log_file(self, run_id: str, path: Any, artifact_path: str | None = None) -> None: ...


class TrialRun:
    """The nested MLflow run of one trial; per-epoch metrics are buffered and written in batches.

    ``run_id``: the run's id, or the future of a run being created (``run_id`` then waits for it).
    """

    def __init__(self, tracker: _Tracker, run_id: str | Future[str], name: str = "") -> None:
        self.tracker = tracker
        self._id = run_id
        self.name = name  # the run's name (trial-0007); a pruned or failed run says so in it
        self._pending: list[tuple[int, dict[str, float], int]] = []
        self._last_flush = time.monotonic()
        self.ended = False

    @property
    def run_id(self) -> str:
        """The run's id, once it is created (a StoreError if it could not be)."""
        return self._id if isinstance(self._id, str) else self._id.result()

    def _later(self, write: Callable[[str], Any], *, check: bool = True) -> Future[Any]:
        """Queue ``write(run_id)`` on the tracker's writer (the id is known by then: the run was
        created before, on the same thread)."""
        return self.tracker.writer.later(lambda: write(self.run_id), check=check)

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record one epoch's metrics at ``step``; written at most every FLUSH_SECONDS."""
        self._pending.append((step, dict(metrics), now_ms()))
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def _take_pending(self) -> list[Any]:
        """The buffered epochs as MLflow metrics (non-finite ones left out); empties the buffer."""
        batch = [
            metric
            for step, metrics, timestamp in self._pending
            for metric in finite_metrics(metrics, timestamp=timestamp, step=step)
        ]
        self._pending.clear()
        self._last_flush = time.monotonic()
        return batch

    def flush(self) -> None:
        """Write the buffered epochs (in the background)."""
        if self._pending:
            batch = self._take_pending()
            self._later(lambda run_id: self.tracker.log_batch(run_id, metrics=batch))

    def log_dict(self, data: Any, artifact_file: str) -> None:
        """Store ``data`` as an indented JSON artifact (secrets redacted)."""
        self._later(lambda run_id: self.tracker.log_dict(run_id, data, artifact_file))

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` as an artifact (secrets redacted)."""
        self._later(lambda run_id: self.tracker.log_text(run_id, text, artifact_file))

    def log_dataset(self, name: str, **fields: Any) -> None:
        """Record the data set the run trained on (see :meth:`Tracker.log_dataset`)."""
        self._later(lambda run_id: self.tracker.log_dataset(run_id, name, **fields))

    def log_state_dict(
        self, state_dict: Mapping[str, Any], *, artifact_file: str = "model.pt"
    ) -> None:
        """Save model weights as an artifact: a state dict, not log_model (ms, not seconds).
        Saved now (the weights may change after); stored in the background."""
        import torch

        self._save_now(artifact_file, lambda path: torch.save(dict(state_dict), path))

    def log_array(self, array: Any, artifact_file: str) -> None:
        """Save a NumPy array as an ``.npy`` artifact (as it is now; stored in the background):
        a trial's validation predictions, float16, for ensembles."""
        import numpy as np

        self._save_now(artifact_file, lambda path: np.save(path, np.asarray(array)))

    def _save_now(self, artifact_file: str, save: Any) -> None:
        """Write a file with ``save(path)`` now, store it as an artifact in the background."""
        folder = tempfile.TemporaryDirectory()
        path = os.path.join(folder.name, artifact_file)
        save(path)

        def store(run_id: str) -> None:
            with folder:
                self.tracker.log_file(run_id, path)

        try:
            self._later(store)
        except BaseException:
            folder.cleanup()
            raise

    def sync(self) -> None:
        """Wait until every write asked so far is made; raise the first that failed (a trial is
        COMPLETE only once its run holds all it logged, its weights included)."""
        self.tracker.writer.drain()

    def _renamed(self, state: str, tags: Mapping[str, Any]) -> dict[str, str]:
        """A pruned or failed run's name says so (``trial-0007 (pruned at epoch 3)``): the runs
        table then tells it from a complete one at a glance."""
        if not self.name or state not in ("PRUNED", "FAIL"):
            return {}
        epoch = dict(tags).get("hpo.pruned_epoch")
        said = "failed" if state == "FAIL" else "pruned"
        if state == "PRUNED" and epoch is not None:
            said += f" at epoch {epoch}"
        return {"mlflow.runName": f"{self.name} ({said})"}

    def end(
        self,
        status: RunStatus,
        *,
        state: str,
        tags: Mapping[str, Any] = (),
        metrics: Mapping[str, float] = (),
    ) -> None:
        """Queue what is buffered, the final tags and the status (one write, then the status:
        each MLflow call is a database commit, the main cost of a short trial), then wait until
        the run before this one has ended. Safe to call twice. A failure of an earlier write is
        raised here, after the end is queued."""
        if self.ended:
            return
        self.ended = True
        final = finite_metrics(dict(metrics), timestamp=now_ms(), step=0)
        batch = self._take_pending() + final
        labels = run_tags({"hpo.state": state, **self._renamed(state, tags), **dict(tags)})

        def finish(run_id: str) -> None:
            try:
                self.tracker.log_batch(run_id, metrics=batch, tags=labels)
            finally:
                self.tracker.client.set_terminated(run_id, status=status)

        ended = self._later(finish, check=False)
        previous, self.tracker.last_end = self.tracker.last_end, ended
        if previous is not None:
            wait([previous])  # the writer stays at most one run behind
        self.tracker.writer.raise_failure()
