"""`hpo submit`: a study's workers as a cluster's batch job (Slurm, Kubernetes)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import _load_space, storage_option, study_option, tracking_option
from orchestrator.cli._output import _quiet_optuna, print_budget_reached

if TYPE_CHECKING:
    from orchestrator.cluster import WorkerJob
    from orchestrator.space import Space
    from orchestrator.study import StudyStore

# the options of one backend only, as the command line names them
SLURM_ONLY = {
    "partition": "--partition",
    "sbatch_options": "--sbatch-option",
    "log_dir": "--log-dir",
}
KUBERNETES_ONLY = {"image": "--image", "secret": "--secret", "job_name": "--name"}


class TimeLimitType(click.ParamType):
    """A job's time limit: 90m, 8h, 1h30m, 2d, or Slurm's 8:00:00 and 1-12:00:00; in seconds."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from orchestrator.cluster import parse_time_limit

        if isinstance(value, float):
            return value
        try:
            return parse_time_limit(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.option("--slurm", is_flag=True, help="Write an sbatch array job and submit it.")
@click.option(
    "--kubernetes", is_flag=True, help="Print an Indexed Job manifest for kubectl apply -f -."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    required=True,
    help="Workers: array tasks or pods, each one `hpo worker` on the study.",
)
@study_option
@click.option(
    "--space",
    "space_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Create the study from this space file first (or resume it, as hpo run does); "
    "without it the study must exist.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value of --space, e.g. --set train.epochs=2 (repeatable).",
)
@click.option(
    "--n-trials",
    type=click.IntRange(min=1),
    help="The study's total of finished trials, stored with it (default: the one stored, else "
    "the space's).",
)
@click.option(
    "--cpus-per-worker",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU cores for each worker (its training threads).",
)
@click.option(
    "--gpus-per-worker",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="0 (train on CPU) or 1 (a GPU for each worker, --device cuda).",
)
@click.option(
    "--time",
    "time_limit",
    type=TimeLimitType(),
    help="Each worker's time limit: 8h, 1h30m, 2d, or Slurm's 8:00:00. Slurm: SIGTERM 90 s "
    "before it, the running trial queued again.",
)
@click.option("--partition", help="Slurm partition (default: the cluster's).")
@click.option(
    "--sbatch-option",
    "sbatch_options",
    multiple=True,
    metavar="OPTION",
    help="Another #SBATCH line, e.g. --sbatch-option=--account=ml (repeatable).",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False),
    help="Slurm: the folder of the script and the tasks' logs, slurm-JOB_TASK.out (default: here).",
)
@click.option("--image", help="Kubernetes: the container image with hpo installed.")
@click.option(
    "--secret",
    help="Kubernetes: the Secret with keys HPO_STORAGE and MLFLOW_TRACKING_URI (default hpo).",
)
@click.option("--name", "job_name", help="Kubernetes: the Job's name (default hpo-STUDY).")
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the script (manifest) on stdout and submit nothing; the study is still made "
    "ready in the storage.",
)
@storage_option
@tracking_option
@handle_errors
def submit(
    slurm: bool,
    kubernetes: bool,
    workers: int,
    study_name: str | None,
    space_path: str | None,
    overrides: tuple[str, ...],
    n_trials: int | None,
    cpus_per_worker: int,
    gpus_per_worker: int,
    time_limit: float | None,
    print_only: bool,
    storage: StudyStore,
    tracking_uri: str | None,
    **backend_options: Any,
) -> None:
    """Run a study's workers as a cluster's batch job: each runs `hpo worker` on the study.

    The study lives in a storage every worker reaches (PostgreSQL, or hpo storage-proxy); with
    --space it is created first (or resumed), else it must exist. The budget stays exact across
    workers. --slurm writes an sbatch array job (one task per worker, logs slurm-JOB_TASK.out)
    and submits it; --kubernetes prints an Indexed Job. Neither file holds a secret: Slurm jobs
    get the storage URL and tracking URI from the environment, Kubernetes pods from a Secret.
    """
    from orchestrator.cluster import WorkerJob
    from orchestrator.errors import ConfigError

    backend = _backend(slurm, kubernetes, backend_options)
    if overrides and not space_path:
        raise ConfigError(
            "--set changes a space file: give --space FILE too (without it the workers run "
            "the space stored with the study)"
        )
    space = _load_space(space_path, overrides) if space_path else None
    name = study_name or (space.name if space is not None else None)
    if not name:
        raise ConfigError(
            "--study: name the study the workers join (it must exist in the storage), or give "
            "--space FILE to create it"
        )
    job = WorkerJob(
        name,
        store=storage,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        time_limit=time_limit,
        tracking_uri=tracking_uri,
    )
    # every check of the backend's options before the study is touched
    render = (
        _kubernetes(job, space=space, **backend_options)
        if backend == "kubernetes"
        else _slurm(job, print_only=print_only, **backend_options)
    )
    say = _Say(to_stderr=print_only or backend == "kubernetes")
    command = shlex.join(
        ["hpo", "submit", f"--{backend}", "--workers", str(workers), "--study", name]
    )
    if not _ready(job, space, n_trials=n_trials, say=say, command=command):
        return
    render(say)


def _backend(slurm: bool, kubernetes: bool, options: dict[str, Any]) -> str:
    """``slurm`` or ``kubernetes``, the other's options refused."""
    from orchestrator.errors import ConfigError

    if slurm == kubernetes:
        raise ConfigError(
            "give --slurm (an sbatch array job, submitted) or --kubernetes (an Indexed Job "
            "manifest, printed)" + (", not both" if slurm else "")
        )
    backend, other, foreign = (
        ("slurm", "kubernetes", KUBERNETES_ONLY) if slurm else ("kubernetes", "slurm", SLURM_ONLY)
    )
    for key, option in foreign.items():
        if options.get(key):
            raise ConfigError(f"{option} is an option of --{other}; this job is for --{backend}")
    return backend


class _Say:
    """What submit tells the user: on stderr when stdout is the file to keep (``--print``)."""

    def __init__(self, *, to_stderr: bool) -> None:
        self.to_stderr = to_stderr

    def __call__(self, text: str) -> None:
        click.echo(text, err=self.to_stderr)

    def progress(self, event: object) -> None:
        """The notices of the study's set-up (a warm start, a note on the data)."""
        from orchestrator.study import NoticeEvent

        if isinstance(event, NoticeEvent):
            self(f"note: {event.text}")


def _ready(
    job: WorkerJob, space: Space | None, *, n_trials: int | None, say: _Say, command: str
) -> bool:
    """Make the study ready for the job's workers (see ``schedule_study``) and say where it
    stands; False, said in one line, when it has reached its budget already: nothing to submit.
    """
    from orchestrator.study import RunSpec, check_stored, reached_budget, schedule_study

    _quiet_optuna()
    if space is not None:
        n_trials = n_trials or space.study.n_trials
    reached = reached_budget(job.store, job.study_name, n_trials=n_trials)
    if reached is not None:
        if space is not None:  # a changed space is said still, as a resume would say it
            check_stored(job.store, job.study_name, space, allow_space_change=False)
        print_budget_reached(job.study_name, *reached, command=command, err=say.to_stderr)
        return False
    spec = RunSpec(
        study_name=job.study_name,
        store=job.store,
        tracking_uri=job.tracking_uri,
        n_trials=n_trials,
        device="auto" if job.gpus_per_worker else "cpu",  # the checks, here
    )
    finished, budget = schedule_study(spec, space, progress=say.progress)
    say(
        f"Study '{job.study_name}': {finished}/{budget} trials finished; storage "
        f"{job.store.display}"
    )
    return True


def _slurm(
    job: WorkerJob,
    *,
    print_only: bool,
    partition: str | None,
    sbatch_options: tuple[str, ...],
    log_dir: str | None,
    **_: Any,
) -> Any:
    """The Slurm job checked (sbatch on PATH unless only printed); returns what prints or
    submits it once the study is ready."""
    from orchestrator.cluster import SlurmJob, check_sbatch, submit_slurm

    slurm = SlurmJob(
        job,
        workdir=Path.cwd(),
        log_dir=Path(log_dir or ".").resolve(),
        partition=partition,
        options=tuple(sbatch_options),
    )
    if not print_only:
        check_sbatch()

    def render(say: _Say) -> None:
        script = slurm.script()
        if print_only:
            slurm.log_dir.mkdir(parents=True, exist_ok=True)  # sbatch does not make it
            click.echo(script, nl=False)
            say("Submit it with: sbatch FILE (from any folder: it runs in --chdir)")
            _say_environment(job, say)
            return
        slurm.log_dir.mkdir(parents=True, exist_ok=True)
        path = slurm.log_dir / f"{slurm.name}.sbatch"
        path.write_text(script)
        job_id = submit_slurm(path, env={**os.environ, **job.environment()})
        say(
            f"Submitted Slurm job {job_id}: {job.counted} (array 0-{job.workers - 1}) "
            f"of study '{job.study_name}'"
        )
        say(f"  script: {path}")
        say(f"  logs:   {slurm.log_path(job_id)}")
        say(f"  watch:  squeue -j {job_id}; cancel: scancel {job_id}")

    return render


def _say_environment(job: WorkerJob, say: _Say) -> None:
    """For a printed script whose URIs hold a secret: what to export before sbatch."""
    for var in job.secret_variables():
        say(
            f"note: {var} holds a password, so the script reads it from the environment: "
            f"export {var} before sbatch"
        )


def _kubernetes(
    job: WorkerJob,
    *,
    space: Space | None,
    image: str | None,
    secret: str | None,
    job_name: str | None,
    **_: Any,
) -> Any:
    """The Kubernetes job checked (an image, stores the pods reach); returns what prints its
    manifest once the study is ready."""
    import yaml

    from orchestrator.cluster import SECRET_KEYS, check_reachable_from_pods, kubernetes_manifest
    from orchestrator.errors import ConfigError

    if not image:
        raise ConfigError(
            "--kubernetes needs --image: a container image with hpo installed (and what the "
            "space reads), e.g. --image registry.example.com/hpo:1.0"
        )
    check_reachable_from_pods(job, creates_parent_run=space is not None)
    secret = secret or "hpo"
    manifest = kubernetes_manifest(job, image=image, secret=secret, name=job_name)

    def render(say: _Say) -> None:
        click.echo(yaml.safe_dump(manifest, sort_keys=False), nl=False)
        keys = " ".join(f"--from-literal={key}=..." for key in SECRET_KEYS)
        say(
            f"Apply it with: kubectl apply -f FILE. The pods read {' and '.join(SECRET_KEYS)} "
            f"from Secret '{secret}': kubectl create secret generic {secret} {keys}"
        )

    return render
