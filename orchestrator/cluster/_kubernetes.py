"""Kubernetes: an Indexed Job whose pods each run ``hpo worker`` from the user's image.

``completionMode: Indexed`` with ``completions`` and ``parallelism`` both N: N pods at once,
pod ``i`` being worker ``wi``; the Job is complete when every worker has exited 0 (the study's
budget reached). The storage URL and the tracking URI come from a Secret (``secretKeyRef``), as
do a database password and MLflow's credentials when the Secret has them: the manifest names
the Secret, never a value of it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from orchestrator.cluster._job import WorkerJob
from orchestrator.errors import ConfigError
from orchestrator.redact import redact_url

__all__ = [
    "GRACE_SECONDS",
    "SECRET_KEYS",
    "check_reachable_from_pods",
    "kubernetes_manifest",
    "kubernetes_name",
]

GRACE_SECONDS = 90  # between SIGTERM and SIGKILL: time to mark the trial and end its run
MAX_NAME = 52  # a Job's name, short enough for its pods' names and labels (63) to hold it
# the variables a pod reads from the Secret, by the Secret's key of the same name
SECRET_KEYS = ("HPO_STORAGE", "MLFLOW_TRACKING_URI")
OPTIONAL_SECRET_KEYS = (
    "PGPASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)
GPU_RESOURCE = "nvidia.com/gpu"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
_LOCAL_TRACKING = ("sqlite:", "file:")


def kubernetes_name(study_name: str, given: str | None = None) -> str:
    """The Job's name: ``given`` once checked, else ``hpo-<study>`` in Kubernetes' alphabet
    (lowercase letters, digits and ``-``; at most :data:`MAX_NAME` characters).

    Raises:
        ConfigError: ``given`` is not a lowercase DNS label of at most MAX_NAME characters.
    """
    if given is not None:
        if not _NAME.match(given) or len(given) > MAX_NAME:
            raise ConfigError(
                f"--name {given!r}: a Job's name is lowercase letters, digits and '-', starting "
                f"and ending with a letter or digit, at most {MAX_NAME} characters"
            )
        return given
    slug = re.sub(r"[^a-z0-9]+", "-", study_name.lower()).strip("-")
    return f"hpo-{slug}"[:MAX_NAME].rstrip("-")


def check_reachable_from_pods(job: WorkerJob, *, creates_parent_run: bool) -> None:
    """The stores hpo submit prepares the study in must be the ones the pods reach: a database
    server (or the storage proxy), and, when it creates the study's MLflow parent run, a
    tracking server; never files on this machine.

    Raises:
        ConfigError: a file storage, or a local tracking store where the parent run is created.
    """
    if not job.store.is_server:
        raise ConfigError(
            f"--kubernetes: the storage {job.store.display} ({job.store.source}) is a file on "
            "this machine, which the pods cannot reach; give --storage postgresql://... (or "
            "HPO_STORAGE), the URL the Secret holds"
        )
    uri = job.tracking_uri
    if creates_parent_run and (uri is None or uri.startswith(_LOCAL_TRACKING) or "://" not in uri):
        shown = redact_url(uri) if uri else "MLflow's default, sqlite:///mlflow.db here"
        raise ConfigError(
            f"--kubernetes: the tracking URI is {shown}, a store on this machine, which the pods "
            "cannot reach; give --tracking-uri (or MLFLOW_TRACKING_URI) the tracking server the "
            "Secret names, e.g. http://mlflow.internal:5000"
        )


def kubernetes_manifest(
    job: WorkerJob, *, image: str, secret: str = "hpo", name: str | None = None
) -> dict[str, Any]:
    """The Indexed Job of ``job`` as a dict (``yaml.safe_dump`` it for ``kubectl apply -f``).

    Args:
        job: the workers asked for (its storage and tracking URI are not written: the pods read
            them from ``secret``).
        image: a container image with hpo installed (and what the space reads: its data, a
            custom model's module), ``hpo`` on its PATH.
        secret: the Secret holding :data:`SECRET_KEYS` (and any of the optional credentials).
        name: the Job's name; default ``hpo-<study>`` (see :func:`kubernetes_name`).
    """
    name = kubernetes_name(job.study_name, name)
    labels = {"app.kubernetes.io/name": "hpo-worker", "app.kubernetes.io/instance": name}
    env: list[dict[str, Any]] = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for key in SECRET_KEYS
    ]
    env += [
        {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
        }
        for key in OPTIONAL_SECRET_KEYS
    ]
    env += [  # each pod's worker label, w0 ... wN-1, from its completion index
        {
            "name": "HPO_WORKER_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}},
        },
        {"name": "HPO_WORKER_LABEL", "value": "w$(HPO_WORKER_INDEX)"},
    ]
    resources: dict[str, Any] = {"requests": {"cpu": str(job.cpus_per_worker)}}
    if job.gpus_per_worker:
        resources["limits"] = {GPU_RESOURCE: job.gpus_per_worker}
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": job.workers,
        "parallelism": job.workers,
        "backoffLimit": job.workers,  # a lost pod is replaced: about once per worker
    }
    if job.time_limit is not None:
        spec["activeDeadlineSeconds"] = math.ceil(job.time_limit)
    spec["template"] = {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": GRACE_SECONDS,
            "containers": [
                {
                    "name": "worker",
                    "image": image,
                    "command": ["hpo", *job.worker_args()],
                    "env": env,
                    "resources": resources,
                }
            ],
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels, "annotations": {"hpo/study": job.study_name}},
        "spec": spec,
    }
