"""What every benchmark shares: paths and constants, the presets and their counts, the run's
context, running a command with its wall and CPU time, and the pieces of a section's result
(tables, targets, figures) that ``_report.py`` renders into RESULTS.md."""

from __future__ import annotations

import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PY = sys.executable
CNN_SPACE = "search_spaces/cnn.yaml"
MNIST1D_SPACE = "search_spaces/cnn1d.yaml"
# overhead, throughput and workers: the digits CNN space with pruning, early stopping and learning-
# rate schedules off, so that the minimal loop trains exactly what hpo trains
FIXED_SETS = ("study.pruner=none", "train.schedule=none", "train.early_stopping.patience=null")
ORDER = (
    "overhead",
    "throughput",
    "startup",
    "quality",
    "pruning",
    "scaling",
    "storage",
    "gpu",
    "hf",
    "faults",
    "proxy",
    "ensembles",
    "tables",
    "explain",
    "datacache",
    "scale",
)
TITLES = {
    "overhead": "1. Orchestration overhead",
    "throughput": "2. Trainer throughput",
    "startup": "3. Start-up",
    "quality": "4. Search quality (MNIST-1D)",
    "pruning": "5. Pruning",
    "scaling": "6. Scaling: workers",
    "storage": "7. Storage and sampling per trial",
    "gpu": "8. GPU",
    "hf": "9. Fine-tuning a pretrained transformer",
    "faults": "10. Fault injection",
    "proxy": "11. Many workers: PostgreSQL direct against the storage proxy",
    "ensembles": "12. Ensembles of the best trials",
    "tables": "13. Tables: hpo against scikit-learn's baselines",
    "explain": "14. Explaining the winner",
    "datacache": "15. Large data shared by workers",
    "scale": "16. Large studies: everyday commands at 100 and 10,000 trials",
}


class BenchError(RuntimeError):
    """A benchmark could not run: a command failed or a result is missing."""


PRESETS = ("quick", "default", "issue")


@dataclass(frozen=True)
class Settings:
    """Counts per benchmark. ``issue``: the issue's numbers; ``default``: what fits in about 50
    minutes on 2 shared cores (see ``deviations``); ``quick``: tiny, to check that all runs."""

    preset: str = "default"
    overhead_trials: int = 20
    overhead_epochs: int = 5
    overhead_reps: int = 2  # A B, then B A
    throughput_epochs: int = 3
    throughput_reps: int = 9
    throughput_batches: tuple[int, ...] = (32, 128)
    startup_reps: int = 15
    quality_trials: int = 20
    quality_seeds: tuple[int, ...] = (0,)
    study_epochs: int | None = None  # None: the space's own epochs
    parallel: int = 2  # studies run at once in quality and pruning (results, not timings)
    # trials/hour is a rate for runs of hours: enough trials that start-up (~8 s) is not the
    # figure; ~3 min per 1-worker run on these 2 cores
    workers_trials: int = 200
    workers_reps: int = 2
    storage_points: tuple[int, ...] = (100, 2000)
    storage_window: int = 20  # trials timed at each point
    pack_ks: tuple[int, ...] = (1, 2, 4, 8)
    pack_epochs: int = 20
    hf_trials: int = 12  # each of the two studies of section 9 (~20 min on 2 cores)
    scale_sizes: tuple[int, ...] = (100, 10_000)  # trials of the study section 16 times
    scale_reps: int = 3
    predict_rows: int = 2_000
    # (the sections it concerns, what differs from the counts)
    deviations: tuple[tuple[tuple[str, ...], str], ...] = (
        (
            ("quality", "pruning", "ensembles"),
            "search quality and pruning: 20 trials and 1 seed (0) per study instead of 40 trials "
            "and 3 seeds (the issue's 12 studies of the shipped MNIST-1D space take about 40 min "
            "on these 2 cores when nobody else uses them, and hours when others do; `--preset "
            "issue` runs them)",
        ),
    )

    @property
    def quick(self) -> bool:
        return self.preset == "quick"

    def deviations_for(self, key: str) -> list[str]:
        """What in section ``key`` differs from the issue's counts."""
        return [text for keys, text in self.deviations if key in keys]

    @classmethod
    def make(cls, preset: str) -> Settings:
        if preset == "issue":
            return cls(
                preset="issue",
                overhead_reps=3,
                quality_trials=40,
                quality_seeds=(0, 1, 2),
                deviations=(),
            )
        if preset == "default":
            return cls()
        return cls(
            preset="quick",
            overhead_trials=2,
            overhead_epochs=1,
            overhead_reps=1,
            throughput_epochs=1,
            throughput_reps=1,
            throughput_batches=(128,),
            startup_reps=1,
            quality_trials=1,
            quality_seeds=(0,),
            study_epochs=1,
            workers_trials=2,
            workers_reps=1,
            storage_points=(12,),
            storage_window=4,
            pack_ks=(1, 2),
            pack_epochs=1,
            hf_trials=1,
            scale_sizes=(12, 30),
            scale_reps=1,
            predict_rows=50,
            deviations=(
                (ORDER, "--quick: every count cut to the minimum; the figures mean nothing"),
            ),
        )


@dataclass
class Context:
    """What every benchmark of one run shares: counts, work directory, the study pool."""

    settings: Settings
    work: Path
    gpu_device: str
    selected: Sequence[str] = ORDER
    pool: ThreadPoolExecutor | None = None
    futures: dict[tuple[str, ...], Future[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- small helpers -------------------------------------------------------------------------------


def hpo_command() -> list[str]:
    """The installed ``hpo`` script beside this Python, else ``python -m orchestrator``."""
    script = Path(PY).with_name("hpo")
    if script.exists():
        return [str(script)]
    found = shutil.which("hpo")
    return [found] if found else [PY, "-m", "orchestrator"]


def show(cmd: Sequence[Any], ctx: Context | None = None) -> str:
    """A command as a reader would type it: ``python``, ``hpo``, paths relative to the repo."""
    words = []
    hpo = hpo_command()
    for word in map(str, cmd):
        if word == PY:
            word = "python"
        elif len(hpo) == 1 and word == hpo[0]:
            word = "hpo"
        if ctx is not None:
            word = word.replace(str(ctx.work), "$WORK")
        word = word.replace(str(ROOT) + "/", "")
        words.append(word)
    return shlex.join(words)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a benchmarked process: no inherited storage, tracking or device."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HPO_STORAGE", "MLFLOW_TRACKING_URI", "HPO_DEVICE", "HPO_BENCH_PROBE")
        # Python's default: cache bytecode, as on a user's machine (this sandbox sets it)
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@dataclass
class Finished:
    """A finished command: its output and the CPU time it and the children it reaped used."""

    returncode: int
    stdout: str
    stderr: str
    cpu: float  # user + system seconds


def run_timed(
    cmd: Sequence[Any], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 7200
) -> tuple[float, Finished]:
    """Run a command to completion; its wall time in seconds. A failure is a BenchError.

    CPU time comes from ``wait4`` for this child alone, so commands running beside it (other
    people's, or this runner's studies) do not count in it, unlike in the wall time.
    """
    env = clean_env(env)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        env["HPO_BENCH_LAUNCH"] = repr(time.time())
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = Finished(proc.returncode, out.read(), err.read(), usage.ru_utime + usage.ru_stime)
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise BenchError(f"`{show(cmd)}` exited {done.returncode}: {' | '.join(tail)}")
    return wall, done


def alternate(arms: Sequence[T], rep: int) -> list[T]:
    """The order of a comparison's arms in its run ``rep``: as given, then reversed (A B, B A,
    A B, ...), so that a shared machine that speeds up or slows down treats every arm alike."""
    return list(arms) if rep % 2 == 0 else list(reversed(arms))


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else math.nan


def fmt(value: Any, digits: int = 2) -> str:
    """A figure for a table: ``digits`` decimals with thousands separators, – for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, – for none."""
    return "–" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages, empty where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def target(what: str, goal: str, measured: str, met: bool | None) -> dict[str, Any]:
    """A target of a section: what is measured, the goal, the figure, and whether it is met."""
    return {"what": what, "target": goal, "measured": measured, "met": met}


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> dict:
    """A table of a section, as results.json keeps it and RESULTS.md shows it."""
    return {"caption": caption, "columns": list(columns), "rows": [list(r) for r in rows]}


def section(
    key: str,
    *,
    status: str = "ok",
    reason: str = "",
    tables: Sequence[dict] = (),
    targets: Sequence[dict] = (),
    commands: Sequence[str] = (),
    notes: Sequence[str] = (),
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One section's result, as results.json keeps it; ``status``: ok, skipped or error."""
    return {
        "key": key,
        "title": TITLES[key],
        "status": status,  # ok, skipped (no CUDA device), error
        "reason": reason,
        "tables": list(tables),
        "targets": list(targets),
        "commands": list(commands),
        "notes": list(notes),
        "figures": figures or {},
    }


def sets_args(sets: Sequence[str]) -> list[str]:
    """``--set`` options for ``hpo run``, one per ``key=value``."""
    return [word for kv in sets for word in ("--set", kv)]


def nz(value: float | None) -> float:
    """Zero for a missing figure (None or NaN), else the figure."""
    return 0.0 if value is None or math.isnan(value) else value
