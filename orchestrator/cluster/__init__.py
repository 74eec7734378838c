"""Workers of one study as a cluster's batch job: what ``hpo submit`` writes and submits.

- :mod:`._job`: :class:`WorkerJob`, what every backend asks for (workers, CPUs, a GPU, a time
  limit), the worker's command line, and the storage and tracking URIs a job file may name;
- :mod:`._slurm`: the ``sbatch`` array script, and its submission;
- :mod:`._kubernetes`: the Indexed Job manifest for ``kubectl apply``.

A job file never holds a secret: a storage or tracking URI with a password reaches the workers
through the environment (Slurm passes the submitter's on) or a Kubernetes Secret. Imports nothing
of :mod:`orchestrator.study`: the study is prepared before, by the caller.
"""

from __future__ import annotations

from orchestrator.cluster._job import WorkerJob, parse_time_limit
from orchestrator.cluster._kubernetes import (
    SECRET_KEYS,
    check_reachable_from_pods,
    kubernetes_manifest,
    kubernetes_name,
)
from orchestrator.cluster._slurm import SlurmJob, check_sbatch, check_sbatch_option, submit_slurm

__all__ = [
    "SECRET_KEYS",
    "SlurmJob",
    "WorkerJob",
    "check_reachable_from_pods",
    "check_sbatch",
    "check_sbatch_option",
    "kubernetes_manifest",
    "kubernetes_name",
    "parse_time_limit",
    "submit_slurm",
]
