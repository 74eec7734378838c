"""Helpers shared by the tests that read studies and MLflow runs back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result

from orchestrator.cli import cli


def run_cli(space: Path, stores: dict[str, str], *extra: str) -> Result:
    """`hpo run --space SPACE` against the test's own storage and tracking store."""
    args = ["run", "--space", str(space), "--storage", stores["storage"]]
    return CliRunner().invoke(cli, [*args, "--tracking-uri", stores["tracking_uri"], *extra])


def study_trials(storage: str, name: str) -> list:
    """Every trial of a study, read from its storage."""
    from orchestrator.study import load_study

    return load_study(name, storage=storage).get_trials(deepcopy=False)


def mlflow_runs(tracking_uri: str, experiment: str) -> list:
    """Every run of an experiment (parent and trials); empty if there is no such experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def start_hpo(*args: str) -> subprocess.Popen[str]:
    """`python -m orchestrator ARGS` in a real process; stdout and stderr captured together."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_long_run(space: Path, stores: dict[str, str]) -> subprocess.Popen[str]:
    """`python -m orchestrator run` in a real process, with trials long enough to interrupt."""
    return start_hpo(
        "run", "--space", str(space),
        "--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"],
        "--set", "train.epochs=500", "--set", "train.batch_size=16",
        "--set", "train.early_stopping.patience=null",
    )  # fmt: skip


RENDEZVOUS_MODULE = """
import math
import os
import time
from pathlib import Path

from torch import nn


BUILDS = []


def build(params, spec):
    # each process's first trial waits (up to 60 s) until {parties} processes have arrived here;
    # each process's first build is the checks' before its first trial, which waits for nothing
    BUILDS.append(1)
    arrivals = Path("arrivals")
    arrivals.mkdir(exist_ok=True)
    mine = arrivals / str(os.getpid())
    if len(BUILDS) > 1 and not mine.exists():
        mine.touch()
        deadline = time.monotonic() + 60
        while len(list(arrivals.iterdir())) < {parties} and time.monotonic() < deadline:
            time.sleep(0.05)
    width = params["width"]
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(spec.input_shape), width), nn.ReLU(),
        nn.Linear(width, spec.num_classes),
    )
"""

RENDEZVOUS_SPACE = """\
study: {{name: tiny, n_trials: 2, seed: 0, sampler: random, pruner: none}}
data: {{name: digits}}
model:
  family: custom
  factory: {module}:build
  params: {{width: {{type: int, low: 4, high: 16}}}}
train: {{epochs: 1, batch_size: 128}}
"""


def rendezvous_space(workdir: Path, parties: int) -> Path:
    """A space (study ``tiny``) whose model factory, a module in ``workdir``, holds each worker's
    first trial until ``parties`` worker processes have started one: with that many workers,
    every worker runs a trial however long the others take to start. ``workdir`` must be the
    working directory (the factory is imported from it, and so it must be for every worker)."""
    module = f"rendezvous_{workdir.name.replace('-', '_')}"  # unique: the test process imports it
    (workdir / f"{module}.py").write_text(RENDEZVOUS_MODULE.replace("{parties}", str(parties)))
    space = workdir / "rendezvous.yaml"
    space.write_text(RENDEZVOUS_SPACE.format(module=module))
    return space


def wait_for_running_trial(storage: str, name: str, timeout: float = 120) -> None:
    """Wait until a trial of the study is RUNNING and training: its set-up written (its seed,
    with its configuration, before the first epoch; its MLflow run asked for before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(storage).exists() or "://" in storage:
            try:
                trials = study_trials(storage, name)
            except Exception:  # the journal may be mid-write
                trials = []
            if any(t.state.name == "RUNNING" and "seed" in t.user_attrs for t in trials):
                return
        time.sleep(0.3)
    raise AssertionError("no trial started in time")


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


LATE_FAILING_MODULE = """
from torch import nn


class Late(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, classes))
        self.seen = 0

    def forward(self, x):
        # the checks before the first trial train it one step on 4 samples; then it breaks
        self.seen += x.shape[0]
        if self.seen > 4:
            raise ValueError("breaks in training")
        return self.net(x)


def build(params, spec):
    return Late(spec.n_outputs)
"""


def late_failing_space(workdir: Path, name: str, *, n_trials: int) -> Path:
    """A space whose every trial fails in training (a user's model that breaks once it has seen
    more than the checks before the first trial give it): for the failure policies."""
    module = f"late_{workdir.name.replace('-', '_')}"
    (workdir / f"{module}.py").write_text(LATE_FAILING_MODULE)
    space = workdir / f"{name}.yaml"
    space.write_text(
        f"study: {{name: {name}, n_trials: {n_trials}, sampler: random, pruner: none}}\n"
        f"model: {{family: custom, factory: {module}:build}}\n"
        "train: {epochs: 1}\n"
    )
    return space
