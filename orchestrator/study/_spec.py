"""What one process is asked to run: :class:`RunSpec`, typed and picklable.

``hpo run`` builds one, each of its ``--jobs`` workers gets a copy of it (with its own device,
threads and label), and ``hpo worker`` builds one on any machine. The worker processes receive it
whole through the process pipe, never as command-line arguments (a storage URL may hold a
password, and a command line is visible to every user of the machine).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.storage._store import StudyStore
from orchestrator.study._stop import StopRequest

if TYPE_CHECKING:
    from orchestrator.space import Space

__all__ = ["ParentPolicy", "RunSpec"]

# who ends the study's MLflow parent run: this process (`hpo run`), never (a worker that
# `hpo run --jobs` manages), or the last worker out (`hpo worker`)
ParentPolicy = Literal["always", "never", "last"]


@dataclass(frozen=True)
class RunSpec:
    """One process's run of a study.

    Attributes:
        study_name: the study; the same name resumes it.
        store: where the study lives (resolved and validated once, at the entry point).
        tracking_uri: MLflow tracking URI; None: MLFLOW_TRACKING_URI, else MLflow's own default.
        n_trials: the study's total of finished trials, stored with the study so that every
            worker obeys it; None keeps the budget stored with the study (a worker joining).
        timeout: seconds after which this process starts no new trial (per process).
        until: a deadline in epoch seconds: no trial starts that cannot finish by then, and a
            trial still running then is stopped and queued again (per process).
        trial_timeout: seconds after which a trial fails with reason ``timeout``.
        max_failures: consecutive failed trials that stop this process; None: the space's.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch in this process; None: half the cores (one process), or
            the cores divided among the workers (``--jobs``).
        allow_space_change: accept compatible changes of the stored space when resuming.
        warm_start_from: a study whose best ``warm_start_top`` configurations are queued first.
        warm_start_top: how many configurations a warm start queues.
        parent_policy: who ends the study's MLflow parent run (see :data:`ParentPolicy`).
        label: this worker's name in progress lines (``w1``), None for a lone process.
    """

    study_name: str
    store: StudyStore
    tracking_uri: str | None = None
    n_trials: int | None = None
    timeout: float | None = None
    until: float | None = None
    trial_timeout: float | None = None
    max_failures: int | None = None
    device: str = "auto"
    threads: int | None = None
    allow_space_change: bool = False
    warm_start_from: str | None = None
    warm_start_top: int = 5
    parent_policy: ParentPolicy = "always"
    label: str | None = None

    @classmethod
    def for_space(
        cls, space: Space, *, storage: StudyStore | str | None = None, **fields: Any
    ) -> RunSpec:
        """The spec of a run of ``space``: the study named after it and its budget the space's
        ``study.n_trials``, unless ``fields`` say otherwise; ``storage`` a store, a URL or a
        path (default HPO_STORAGE, else the journal file).

        Raises:
            TypeError: a field RunSpec does not have.
        """
        fields.setdefault("store", StudyStore.of(storage))
        fields["study_name"] = fields.get("study_name") or space.name
        fields["n_trials"] = fields.get("n_trials") or space.study.n_trials
        return cls(**fields)

    def replace(self, **changes: object) -> RunSpec:
        """A copy with some fields changed (a worker's device, threads and label)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def apply_limits(self, stop: StopRequest, space: Space) -> None:
        """Give ``stop`` this run's limits, the space's defaults filling what the spec leaves
        open; the run's clock starts now."""
        study = space.study
        stop.limit(
            timeout=self.timeout if self.timeout is not None else study.timeout_seconds,
            until=self.until,
            trial_timeout=self.trial_timeout,
            max_failures=self.max_failures or study.max_failures,
        )
