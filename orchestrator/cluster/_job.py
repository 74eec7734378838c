"""What a cluster job of hpo workers asks for, whichever cluster runs it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError
from orchestrator.redact import redact_url

if TYPE_CHECKING:
    from orchestrator.storage import StudyStore

__all__ = ["WorkerJob", "holds_secret", "parse_time_limit", "slurm_time"]

# Slurm's own forms: MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (a bare MM is refused: hpo reads
# a bare number as seconds, Slurm as minutes)
_SLURM_TIME = re.compile(r"^(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?|"
                         r"(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+))$")  # fmt: skip
_BARE_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class WorkerJob:
    """``workers`` copies of ``hpo worker --study NAME``, each in a slot of its own on a cluster.

    Attributes:
        study_name: the study every worker joins; it exists in the storage before the job runs.
        store: the study's storage, as the workers reach it (its URL may hold a password: a job
            file names it only when it does not, see :meth:`environment`).
        workers: how many workers (array tasks, pods); 4, 64.
        cpus_per_worker: CPU cores each worker gets, and its training threads; 1 is fastest for
            small models (FACTS.md).
        gpus_per_worker: 0 (the worker trains on CPU) or 1 (a GPU of its own, ``--device cuda``).
        time_limit: seconds each worker may run; None: the cluster's default.
        tracking_uri: the MLflow tracking URI; None: MLflow's default in the job's directory.
    """

    study_name: str
    store: StudyStore
    workers: int
    cpus_per_worker: int = 1
    gpus_per_worker: int = 0
    time_limit: float | None = None
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers: at least 1 worker, got {self.workers}")
        if self.cpus_per_worker < 1:
            raise ConfigError(f"--cpus-per-worker: at least 1, got {self.cpus_per_worker}")
        if self.gpus_per_worker not in (0, 1):
            raise ConfigError(
                f"--gpus-per-worker {self.gpus_per_worker}: a worker trains one trial at a time "
                f"on one GPU, so {self.gpus_per_worker - 1} of its GPUs would stay idle; ask for "
                f"--gpus-per-worker 1 and {self.gpus_per_worker}x the --workers instead"
            )
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"--time: a time limit must be positive, got {self.time_limit}s")

    @property
    def counted(self) -> str:
        """``1 worker``, ``16 workers``: for what is said and written."""
        return f"{self.workers} worker{'s' if self.workers != 1 else ''}"

    def worker_args(self) -> list[str]:
        """The arguments of each worker's ``hpo worker`` (everything but the command itself)."""
        device = "cuda" if self.gpus_per_worker else "cpu"  # a CPU worker never takes a GPU
        return [
            *("worker", "--study", self.study_name),
            *("--threads", str(self.cpus_per_worker), "--device", device),
        ]

    def environment(self) -> dict[str, str]:
        """The variables that give the workers their stores (``HPO_STORAGE``,
        ``MLFLOW_TRACKING_URI``), as the submitting process passes them on: secrets included,
        never written to a file or a command line."""
        env = {"HPO_STORAGE": self.store.url}
        if self.tracking_uri:
            env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        return env

    def secret_variables(self) -> list[str]:
        """Those of :meth:`environment` whose value holds a secret: a job file never names them,
        the job's environment gives them."""
        return [name for name, value in self.environment().items() if holds_secret(value)]


def holds_secret(url: str) -> bool:
    """Whether a URL carries a password or a secret query value (``user:pw@``, ``?token=``)."""
    return redact_url(url) != url


def parse_time_limit(text: str) -> float:
    """Seconds in a job's time limit: hpo's durations with a unit (``90m``, ``8h``, ``1h30m``,
    ``2d``) or Slurm's forms (``30:00``, ``8:00:00``, ``1-12:00:00``, ``2-0``).

    Raises:
        ValueError: a bare number (minutes to Slurm, seconds to hpo) or an unknown form.
    """
    from orchestrator.durations import parse_duration

    value = text.strip()
    if _BARE_NUMBER.match(value):
        raise ValueError(
            f"{value!r} has no unit (Slurm reads it as minutes, hpo as seconds): "
            f"write {value}m, or a form such as 8h, 1h30m, 8:00:00 or 1-12:00:00"
        )
    slurm = _SLURM_TIME.match(value)
    if slurm is None:
        try:
            return parse_duration(value)
        except ValueError:
            raise ValueError(
                f"expected a time limit such as 90m, 8h, 1h30m, 2d, 8:00:00 or 1-12:00:00, "
                f"got {text!r}"
            ) from None
    parts = {k: int(v) for k, v in slurm.groupdict().items() if v is not None}
    if "days" in parts:
        hours, minutes, seconds = parts["dh"], parts.get("dm", 0), parts.get("ds", 0)
        total = ((parts["days"] * 24 + hours) * 60 + minutes) * 60 + seconds
    else:
        total = (parts.get("h", 0) * 60 + parts["m"]) * 60 + parts["s"]
    if total <= 0:
        raise ValueError(f"a time limit must be positive, got {text!r}")
    return float(total)


def slurm_time(seconds: float) -> str:
    """A time limit in Slurm's form: ``1:30:00``, ``2-00:00:00`` (seconds rounded up)."""
    total = math.ceil(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}" if days else clock
