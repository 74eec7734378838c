"""orchestrator/cluster/_kubernetes.py: the Indexed Job, its Secret references, its checks."""

from __future__ import annotations

import pytest
import yaml

from orchestrator.cluster import WorkerJob, check_reachable_from_pods, kubernetes_manifest
from orchestrator.cluster import kubernetes_name as job_name
from orchestrator.errors import ConfigError
from orchestrator.storage import StudyStore

SECRET = "SENTINEL-k8s-pw"


def _job(storage: str = f"postgresql://hpo:{SECRET}@db/optuna", **fields: object) -> WorkerJob:
    fields.setdefault("tracking_uri", f"https://u:{SECRET}@mlflow.internal")
    return WorkerJob("Digits CNN", store=StudyStore.resolve(storage), workers=4, **fields)  # type: ignore[arg-type]


def _container(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def test_an_indexed_job_of_n_workers_reading_its_stores_from_a_secret() -> None:
    manifest = kubernetes_manifest(
        _job(cpus_per_worker=2, time_limit=7200.0), image="reg.example/hpo:1.0", secret="stores"
    )
    # what kubectl reads back is what was built, and no secret is in it
    text = yaml.safe_dump(manifest, sort_keys=False)
    assert yaml.safe_load(text) == manifest
    assert SECRET not in text
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert manifest["metadata"]["name"] == "hpo-digits-cnn"
    assert manifest["metadata"]["annotations"] == {"hpo/study": "Digits CNN"}
    spec = manifest["spec"]
    # N pods at once, one per completion index; the time limit is the Job's deadline
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4
    assert spec["activeDeadlineSeconds"] == 7200
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == 90  # SIGTERM: the trial is marked, queued
    container = _container(manifest)
    assert container["image"] == "reg.example/hpo:1.0"
    assert container["command"] == [
        *("hpo", "worker", "--study", "Digits CNN", "--threads", "2", "--device", "cpu")
    ]
    env = {e["name"]: e for e in container["env"]}
    # the stores from the Secret, required; the credentials from it when it has them
    for key in ("HPO_STORAGE", "MLFLOW_TRACKING_URI"):
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "stores", "key": key}}
    for key in ("PGPASSWORD", "MLFLOW_TRACKING_TOKEN"):
        assert env[key]["valueFrom"]["secretKeyRef"]["optional"] is True
    # each pod's label from its completion index, defined before the label that uses it
    names = [e["name"] for e in container["env"]]
    assert names.index("HPO_WORKER_INDEX") < names.index("HPO_WORKER_LABEL")
    assert env["HPO_WORKER_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert env["HPO_WORKER_LABEL"]["value"] == "w$(HPO_WORKER_INDEX)"
    assert container["resources"] == {"requests": {"cpu": "2"}}  # no GPU asked for


def test_a_gpu_per_worker() -> None:
    container = _container(kubernetes_manifest(_job(gpus_per_worker=1), image="hpo"))
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert container["command"][-2:] == ["--device", "cuda"]
    assert "activeDeadlineSeconds" not in kubernetes_manifest(_job(), image="hpo")["spec"]


def test_job_names_in_kubernetes_alphabet() -> None:
    assert job_name("Digits_CNN v2") == "hpo-digits-cnn-v2"
    assert len(job_name("x" * 100)) == 52
    assert job_name("tiny", "sweep-7") == "sweep-7"
    with pytest.raises(ConfigError, match="--name 'Sweep_7': a Job's name is lowercase"):
        job_name("tiny", "Sweep_7")


@pytest.mark.parametrize(
    ("storage", "tracking_uri", "message"),
    [
        ("mlruns/optuna.journal", "http://mlflow:5000", "is a file on this machine"),
        ("postgresql://hpo@db/optuna", None, "the tracking URI is MLflow's default"),
        ("postgresql://hpo@db/optuna", "sqlite:///mlflow.db", "sqlite:///mlflow.db, a store on"),
    ],
)
def test_stores_the_pods_cannot_reach_are_refused(
    storage: str, tracking_uri: str | None, message: str
) -> None:
    job = _job(storage, tracking_uri=tracking_uri)
    with pytest.raises(ConfigError, match=message):
        check_reachable_from_pods(job, creates_parent_run=True)


def test_an_existing_study_needs_no_tracking_server_here() -> None:
    # no parent run is created by hpo submit: the tracking URI is the Secret's business
    check_reachable_from_pods(_job(tracking_uri=None), creates_parent_run=False)
