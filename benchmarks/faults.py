"""Section 9, fault injection: kill -9, SIGTERM, a store that fails, and a user's model that
raises, each done to a real ``hpo run`` on PostgreSQL whose URL holds a password. For each:
trials lost, MLflow runs left RUNNING, secrets printed, and seconds to a clean exit."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import PY, BenchError, Context, clean_env, fmt, section, table, target
from storage import postgres_database

SENTINEL = "SENTINEL-pw-7c1d"  # trust auth takes any password; it must never be seen anywhere
SPACE = """\
study: {name: faults, n_trials: TRIALS, seed: 0, sampler: random, pruner: none, max_failures: 10}
data: {name: digits}
model: {family: cnn, depth: 1, blocks: {channels: {type: int, low: 4, high: 8}}}
train: {epochs: EPOCHS, batch_size: 16, early_stopping: {patience: null}}
"""
USER_MODULE = """
from torch import nn


class Net(nn.Module):
    def __init__(self, fail, classes):
        super().__init__()
        self.fail = fail
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, classes))

    def forward(self, x):
        if self.fail and self.training:
            raise ValueError("the user's forward is broken")
        return self.net(x)


def build(params, spec):
    return Net(params["fail"], spec.num_classes)
"""
USER_SPACE = """\
study: {name: faults, n_trials: TRIALS, seed: 0, sampler: random, pruner: none, max_failures: 10}
data: {name: digits}
model:
  family: custom
  factory: faulty_user:build
  params: {fail: {type: categorical, choices: [true, false]}}
train: {epochs: 1, batch_size: 128}
"""


class Scenario:
    """One fault done to one study, and what is left afterwards."""

    def __init__(self, work: Path, storage: str, *, epochs: int, trials: int) -> None:
        self.work = work
        self.trials = trials
        self.storage = storage
        self.tracking = f"sqlite:///{work / 'mlflow.db'}"
        self.output: list[str] = []
        self.cmdlines: list[str] = []
        space = SPACE.replace("EPOCHS", str(epochs)).replace("TRIALS", str(trials))
        (work / "space.yaml").write_text(space)

    def start(self, space: str = "space.yaml") -> subprocess.Popen[str]:
        command = [PY, "-m", "orchestrator", "run", "--space", space]
        env = clean_env({"HPO_STORAGE": self.storage, "MLFLOW_TRACKING_URI": self.tracking})
        return subprocess.Popen(
            command,
            cwd=self.work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def finish(self, proc: subprocess.Popen[str], timeout: float = 600) -> int:
        out, _ = proc.communicate(timeout=timeout)
        self.output.append(out)
        return proc.returncode

    def watch_cmdlines(self, proc: subprocess.Popen[str]) -> None:
        """Every command line of the run's processes, as `ps` would show them to anyone."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if "orchestrator" in text or "mlflow" in text:
                    self.cmdlines.append(text)

    def running_trial(self, proc: subprocess.Popen[str], timeout: float = 300) -> None:
        """Wait until the study has a trial RUNNING with its MLflow run."""
        from orchestrator.study import load_study

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"hpo run ended before a trial ran:\n{proc.stdout.read()}")
            try:
                trials = load_study("faults", storage=self.storage).get_trials(deepcopy=False)
            except Exception:
                trials = []
            if any(t.state.name == "RUNNING" and "seed" in t.user_attrs for t in trials):
                self.watch_cmdlines(proc)
                return
            time.sleep(0.3)
        raise BenchError("no trial started in time")

    def outcome(self) -> dict[str, int]:
        """Trials lost (left RUNNING, or stopped and neither run again nor queued to be), MLflow
        runs RUNNING, and places the password was seen (output, command lines, MLflow params and
        tags, artifacts)."""
        from mlflow import MlflowClient

        from orchestrator.study import load_study

        trials = load_study("faults", storage=self.storage).get_trials(deepcopy=False)
        stopped = [t for t in trials if t.user_attrs.get("fail_kind") in ("interrupted", "stale")]
        ran_again = {
            t.user_attrs.get("hpo.retry_of")
            for t in trials
            if t.state.is_finished() or t.state.name == "WAITING"
        }
        lost = sum(t.state.name == "RUNNING" for t in trials) + sum(
            t.user_attrs.get("hpo.retry_of", t.number) not in ran_again
            and t.number not in ran_again
            for t in stopped
        )
        client = MlflowClient(tracking_uri=self.tracking)
        experiment = client.get_experiment_by_name("faults")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        texts = [*self.output, *self.cmdlines]
        texts += [repr(r.data.params) + repr(r.data.tags) for r in runs]
        for path in self.work.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".txt", ".yaml", ".html", ".log"):
                texts.append(path.read_text(errors="replace"))
        return {
            "lost": lost,
            "running": sum(r.info.status == "RUNNING" for r in runs),
            "secrets": sum(text.count(SENTINEL) for text in texts),
        }


def _kill_9(s: Scenario) -> float:
    proc = s.start()
    s.running_trial(proc)
    proc.kill()
    s.finish(proc)
    t0 = time.perf_counter()
    if s.finish(s.start()) != 0:  # the same command resumes, and repairs the stale trial
        raise BenchError(f"the resume after kill -9 failed:\n{s.output[-1]}")
    return time.perf_counter() - t0


def _sigterm(s: Scenario) -> float:
    proc = s.start()
    s.running_trial(proc)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    code = s.finish(proc)
    seconds = time.perf_counter() - t0
    if code != 143:
        raise BenchError(f"SIGTERM ended hpo with {code}, not 143:\n{s.output[-1]}")
    return seconds


def _store_fault(s: Scenario) -> float:
    """MLflow's artifact store stops taking files mid-run (its folder becomes a file)."""
    proc = s.start()
    s.running_trial(proc)
    artifacts = s.work / "mlruns"
    shutil.rmtree(artifacts)
    artifacts.write_text("not a folder any more")
    t0 = time.perf_counter()
    code = s.finish(proc)
    seconds = time.perf_counter() - t0
    if code != 1:
        raise BenchError(f"repeated store faults ended hpo with {code}, not 1:\n{s.output[-1]}")
    artifacts.unlink()  # mended: the same command runs the queued trials
    if s.finish(s.start()) != 0:
        raise BenchError(f"the resume after the store faults failed:\n{s.output[-1]}")
    return seconds


def _user_code(s: Scenario) -> float:
    (s.work / "faulty_user.py").write_text(USER_MODULE)
    (s.work / "user.yaml").write_text(USER_SPACE.replace("TRIALS", str(s.trials + 2)))
    t0 = time.perf_counter()
    code = s.finish(s.start("user.yaml"))
    if code != 0:
        raise BenchError(f"a failing user model stopped the study ({code}):\n{s.output[-1]}")
    return time.perf_counter() - t0


SCENARIOS: dict[str, tuple[str, Callable[[Scenario], float], str]] = {
    "kill -9": ("kill -9 of `hpo run` mid-trial, then the same command", _kill_9, "the resume"),
    "SIGTERM": ("`kill` (SIGTERM) of `hpo run` mid-trial", _sigterm, "SIGTERM to exit 143"),
    "store fault": (
        "MLflow's artifact folder replaced by a file mid-run, then mended and resumed",
        _store_fault,
        "the fault to exit 1",
    ),
    "user code": (
        "a custom model whose forward raises in half of the trials",
        _user_code,
        "the whole study",
    ),
}


def bench_faults(ctx: Context) -> dict[str, Any]:
    """Section 9: every scenario on a PostgreSQL database of its own (the URL's password is a
    sentinel), measured afterwards."""
    epochs, trials = (10, 1) if ctx.settings.quick else (30, 4)
    rows, results = [], {}
    for name, (what, run, timed) in SCENARIOS.items():
        work = ctx.work / "faults" / name.replace(" ", "-")
        work.mkdir(parents=True)
        with postgres_database() as url:
            if url is None:
                return section("faults", status="skipped", reason="no PostgreSQL server answers")
            storage = url.replace("postgres@", f"postgres:{SENTINEL}@", 1)
            scenario = Scenario(work, storage, epochs=epochs, trials=trials)
            seconds = run(scenario)
            outcome = scenario.outcome()
        results[name] = {**outcome, "seconds": seconds}
        cells = [outcome["lost"], outcome["running"], outcome["secrets"]]
        rows.append([name, what, *cells, f"{fmt(seconds, 1)} ({timed})"])
    worst = {k: max(r[k] for r in results.values()) for k in ("lost", "running", "secrets")}
    return section(
        "faults",
        tables=[
            table(
                [
                    "fault",
                    "what is done",
                    "trials lost",
                    "MLflow runs RUNNING",
                    "secrets printed",
                    "seconds to a clean exit",
                ],
                rows,
            )
        ],
        targets=[
            target("trials lost, any fault", "0", str(worst["lost"]), worst["lost"] == 0),
            target("MLflow runs left RUNNING", "0", str(worst["running"]), worst["running"] == 0),
            target("secrets printed", "0", str(worst["secrets"]), worst["secrets"] == 0),
        ],
        commands=["python benchmarks/run.py --only faults"],
        notes=[
            "Each fault is done to a real `hpo run` (a digits CNN; `hpo run` started with "
            "HPO_STORAGE naming a PostgreSQL database of its own whose URL holds a sentinel "
            "password, MLFLOW_TRACKING_URI a SQLite file). Trials lost: left RUNNING, or stopped "
            "and neither run again nor queued to be. Secrets: the password counted in everything "
            "hpo printed, the "
            "command lines of its processes, MLflow's params and tags, and every text file it "
            "wrote.",
            f"Trials train {epochs} epochs of batch 16, so that one is running when the fault "
            "comes.",
        ],
        figures=results,
    )
