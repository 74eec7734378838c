"""orchestrator/cluster/_slurm.py: the array script, its options, and no secret in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.cluster import SlurmJob, WorkerJob, check_sbatch_option
from orchestrator.errors import ConfigError
from orchestrator.storage import StudyStore

SECRET = "SENTINEL-slurm-pw"


def _slurm(
    tmp_path: Path,
    *,
    storage: str = "postgresql://hpo@db/optuna",
    tracking_uri: str | None = None,
    gpus_per_worker: int = 0,
    time_limit: float | None = None,
    **fields: object,
) -> SlurmJob:
    job = WorkerJob(
        "digits cnn",  # a name with a space: quoted in the command, dashed in the job's name
        store=StudyStore.resolve(storage),
        workers=3,
        cpus_per_worker=2,
        gpus_per_worker=gpus_per_worker,
        time_limit=time_limit,
        tracking_uri=tracking_uri,
    )
    fields.setdefault("log_dir", tmp_path / "logs")
    return SlurmJob(job, workdir=tmp_path, python="/venv/bin/python", **fields)  # type: ignore[arg-type]


def _directives(script: str) -> list[str]:
    return [
        line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH")
    ]


def test_an_array_task_per_worker_each_running_hpo_worker(tmp_path: Path) -> None:
    script = _slurm(tmp_path, partition="gpu", options=("--account=ml",)).script()
    assert script.startswith("#!/bin/bash\n")
    assert _directives(script) == [
        "--job-name=hpo-digits-cnn",
        "--array=0-2",  # 3 workers
        "--ntasks=1",
        "--cpus-per-task=2",
        "--partition=gpu",
        f"--chdir={tmp_path}",  # relative paths resolve as they did for hpo submit
        f"--output={tmp_path}/logs/slurm-%A_%a.out",  # one log per task
        "--export=ALL",  # the job gets the submitter's environment: its secrets
        "--account=ml",
    ]
    # the storage without a password is named; the worker is the last command, exec'd so that
    # Slurm's signals reach it
    assert "export HPO_STORAGE=postgresql://hpo@db/optuna\n" in script
    assert 'export HPO_WORKER_LABEL="w${SLURM_ARRAY_TASK_ID}"' in script
    assert script.rstrip().splitlines()[-1] == (
        "exec /venv/bin/python -m orchestrator worker --study 'digits cnn' --threads 2 --device cpu"
    )
    # bash reads it
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_a_gpu_and_a_time_limit(tmp_path: Path) -> None:
    script = _slurm(tmp_path, gpus_per_worker=1, time_limit=5400.0).script()
    directives = _directives(script)
    assert "--gres=gpu:1" in directives and "--time=1:30:00" in directives
    # SIGTERM to the worker (the batch shell it replaced) 90 s before the limit
    assert "--signal=B:TERM@90" in directives
    assert script.rstrip().endswith("--device cuda")


def test_a_uri_with_a_password_is_read_from_the_environment(tmp_path: Path) -> None:
    script = _slurm(
        tmp_path,
        storage=f"postgresql://hpo:{SECRET}@db/optuna",
        tracking_uri=f"https://user:{SECRET}@mlflow.internal",
    ).script()
    assert SECRET not in script
    # the job stops at once, saying what is missing, if the environment lacks it
    assert ': "${HPO_STORAGE:?must hold the storage URL of the study' in script
    assert ': "${MLFLOW_TRACKING_URI:?must hold the tracking URI' in script
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert (
        out.returncode != 0 and "HPO_STORAGE: must hold the storage URL of the study" in out.stderr
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--time=1:00:00", "hpo submit writes --time itself; use --time"),
        ("-a 0-3", "hpo submit writes -a itself; use --workers"),
        ("--export=NONE", "hpo submit writes --export itself; use nothing: the workers need"),
        ("--mem=8G\n#SBATCH --array=0-99", "expected one sbatch option such as --account=ml"),
        ("account=ml", "expected one sbatch option such as --account=ml"),
    ],
)
def test_extra_sbatch_options_are_checked(option: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        check_sbatch_option(option)


def test_extra_sbatch_options_that_hpo_leaves_to_the_user() -> None:
    assert check_sbatch_option(" --mem=8G ") == "--mem=8G"
    assert check_sbatch_option("--qos high") == "--qos high"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"partition": "gpu;rm"}, "--partition 'gpu;rm': expected a partition name"),
        ({"log_dir": Path("/tmp/my logs")}, "--log-dir '/tmp/my logs': an #SBATCH line cannot"),
    ],
)
def test_what_an_sbatch_line_cannot_hold_is_refused(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _slurm(tmp_path, **fields)
