"""Slurm: an array job whose tasks each run ``hpo worker`` on the study's shared storage.

One array task is one worker (``--array=0-N-1``), one log file each (``slurm-%A_%a.out``: the
job's id, the task's index). A worker stops when the study reaches its budget, which hpo keeps
exact across workers (counting and asking for a trial happen under the storage's lock). With a
time limit, Slurm sends the worker SIGTERM :data:`SIGNAL_SECONDS` before it: the running trial is
marked interrupted, its configuration queued again for another worker, its MLflow run KILLED.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.cluster._job import WorkerJob, holds_secret, slurm_time
from orchestrator.errors import ConfigError, HpoError
from orchestrator.redact import redact_text

__all__ = ["SIGNAL_SECONDS", "SlurmJob", "check_sbatch", "check_sbatch_option", "submit_slurm"]

SIGNAL_SECONDS = 90  # SIGTERM before the time limit: time to mark the trial and end its run
SBATCH_SECONDS = 60  # for sbatch to answer
LOG_NAME = "slurm-%A_%a.out"  # %A the array job's id, %a the task's index
_PARTITION = re.compile(r"^[A-Za-z0-9_.\-]+(?:,[A-Za-z0-9_.\-]+)*$")
_OPTION = re.compile(r"^(?P<name>--[A-Za-z][A-Za-z0-9\-]*|-[A-Za-z])(?:[= ](?P<value>\S.*))?$")
# what sbatch cannot read in an #SBATCH line's path, or reads as a filename pattern (%)
_UNSAFE_PATH = re.compile(r"[\s'\"%\\]")
# sbatch options hpo writes itself, and what sets them instead
_RESERVED = {
    "--array": "--workers",
    "-a": "--workers",
    "--cpus-per-task": "--cpus-per-worker",
    "-c": "--cpus-per-worker",
    "--gres": "--gpus-per-worker",
    "--gpus": "--gpus-per-worker",
    "--gpus-per-task": "--gpus-per-worker",
    "-G": "--gpus-per-worker",
    "--time": "--time",
    "-t": "--time",
    "--partition": "--partition",
    "-p": "--partition",
    "--output": "--log-dir",
    "-o": "--log-dir",
    "--error": "--log-dir",
    "-e": "--log-dir",
    "--chdir": "the directory hpo submit runs in",
    "-D": "the directory hpo submit runs in",
    "--export": "nothing: the workers need the environment hpo submit passes on (ALL)",
    "--signal": "nothing: SIGTERM comes 90 s before the time limit",
}


def check_sbatch_option(text: str) -> str:
    """An extra ``#SBATCH`` line's option (``--account=ml``, ``--mem=8G``, ``--qos high``).

    Raises:
        ConfigError: not one option on one line, or one that hpo writes itself.
    """
    option = text.strip()
    match = _OPTION.match(option) if "\n" not in option else None
    if match is None:
        raise ConfigError(
            f"--sbatch-option {text!r}: expected one sbatch option such as --account=ml or --mem=8G"
        )
    instead = _RESERVED.get(match.group("name"))
    if instead is not None:
        raise ConfigError(
            f"--sbatch-option {option!r}: hpo submit writes {match.group('name')} itself; "
            f"use {instead}"
        )
    return option


def _check_path(path: Path, what: str) -> Path:
    if _UNSAFE_PATH.search(str(path)):
        raise ConfigError(
            f"{what} {str(path)!r}: an #SBATCH line cannot hold a path with spaces, quotes, % "
            "or backslashes; use a directory without them"
        )
    return path


@dataclass(frozen=True)
class SlurmJob:
    """A :class:`WorkerJob` as a Slurm array job.

    Attributes:
        job: the workers asked for.
        workdir: the job's working directory (``--chdir``): where relative paths in the space
            and the default stores resolve, as they do for the ``hpo submit`` that prepared it.
        log_dir: the folder of the tasks' logs, ``slurm-<job>_<task>.out``.
        partition: Slurm's ``--partition`` (one, or several comma-separated); None: the default.
        options: more ``#SBATCH`` lines (``--account=ml``), each checked by
            :func:`check_sbatch_option`.
        python: the interpreter that runs ``-m orchestrator worker`` (the venv hpo runs from;
            on a cluster, on a filesystem every node mounts).
    """

    job: WorkerJob
    workdir: Path
    log_dir: Path
    partition: str | None = None
    options: tuple[str, ...] = ()
    python: str = sys.executable

    def __post_init__(self) -> None:
        _check_path(self.workdir, "the working directory")
        _check_path(self.log_dir, "--log-dir")
        if self.partition is not None and not _PARTITION.match(self.partition):
            raise ConfigError(
                f"--partition {self.partition!r}: expected a partition name (letters, digits, "
                "_ . -) or several separated by commas, such as gpu or gpu,cpu"
            )
        for option in self.options:
            check_sbatch_option(option)

    @property
    def name(self) -> str:
        """The job's name in ``squeue``: ``hpo-<study>``."""
        return "hpo-" + re.sub(r"[^A-Za-z0-9_.\-]+", "-", self.job.study_name).strip("-")

    def log_path(self, job_id: str = "%A", task: str = "%a") -> Path:
        """A task's log file (``%A``/``%a``: the pattern sbatch fills in)."""
        return self.log_dir / LOG_NAME.replace("%A", job_id).replace("%a", task)

    def script(self) -> str:
        """The batch script: ``#SBATCH`` lines, the stores, and ``exec hpo worker``. It holds no
        secret: a URI with a password is read from the environment sbatch passes to the job."""
        job = self.job
        lines = [
            "#!/bin/bash",
            f"# {job.counted} of the hpo study {job.study_name!r}: each array task runs "
            "`hpo worker`",
            "# on the study's storage until the study's budget is reached (hpo submit --slurm).",
            f"#SBATCH --job-name={self.name}",
            f"#SBATCH --array=0-{job.workers - 1}",
            "#SBATCH --ntasks=1",
            f"#SBATCH --cpus-per-task={job.cpus_per_worker}",
        ]
        if job.gpus_per_worker:
            lines.append(f"#SBATCH --gres=gpu:{job.gpus_per_worker}")
        if job.time_limit is not None:
            lines.append(f"#SBATCH --time={slurm_time(job.time_limit)}")
            lines.append(f"#SBATCH --signal=B:TERM@{SIGNAL_SECONDS}")
        if self.partition:
            lines.append(f"#SBATCH --partition={self.partition}")
        lines += [
            f"#SBATCH --chdir={self.workdir}",
            f"#SBATCH --output={self.log_path()}",
            "#SBATCH --export=ALL",
            *(f"#SBATCH {option}" for option in self.options),
            "set -euo pipefail",
            "# no secret in this file: a password reaches the job through the environment sbatch",
            "# passes on (HPO_STORAGE, MLFLOW_TRACKING_URI, PGPASSWORD) or ~/.pgpass",
            _export("HPO_STORAGE", job.store.url, what="the storage URL of the study"),
        ]
        if job.tracking_uri:
            lines.append(_export("MLFLOW_TRACKING_URI", job.tracking_uri, what="the tracking URI"))
        else:
            lines.append("# MLflow: its default store, sqlite:///mlflow.db in --chdir")
        worker = shlex.join([self.python, "-m", "orchestrator", *job.worker_args()])
        lines += ['export HPO_WORKER_LABEL="w${SLURM_ARRAY_TASK_ID}"', f"exec {worker}", ""]
        return "\n".join(lines)


def _export(name: str, value: str, *, what: str) -> str:
    """``export NAME=value``; for a value with a secret, a check that the environment has it."""
    if holds_secret(value):
        return f': "${{{name}:?must hold {what}, its password included: export it before sbatch}}"'
    return f"export {name}={shlex.quote(value)}"


def check_sbatch() -> str:
    """The path of ``sbatch``.

    Raises:
        ConfigError: it is not on PATH.
    """
    path = shutil.which("sbatch")
    if path is None:
        raise ConfigError(
            "sbatch is not on PATH: run hpo submit --slurm where Slurm's commands are (a login "
            "node), or add --print and submit the script with sbatch yourself"
        )
    return path


def submit_slurm(script: Path, *, env: Mapping[str, str]) -> str:
    """Submit ``script`` with ``sbatch``, ``env`` its environment (and so the job's); the job's
    id.

    Raises:
        ConfigError: sbatch is not on PATH.
        HpoError: sbatch refused the job (its message, redacted) or did not answer.
    """
    sbatch = check_sbatch()
    try:
        done = subprocess.run(
            [sbatch, "--parsable", str(script)],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=SBATCH_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HpoError(
            f"sbatch did not answer in {SBATCH_SECONDS} s (is slurmctld up? sinfo tells); "
            f"the script is {script}"
        ) from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise HpoError(f"sbatch refused the job: {redact_text(said)} (script: {script})")
    # --parsable: "<id>" or "<id>;<cluster>"
    return done.stdout.strip().split(";", 1)[0]
