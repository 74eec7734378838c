"""15. Large data shared by workers: ``hpo run --jobs 2`` on an image folder and a CSV several
times the size of the digits, this checkout against the commit before the data cache.

Each arm runs the same study in a fresh directory: 40,000 28x28 grayscale PNGs in 10 class
folders, and a 150,000-row CSV (~19 MB). The baseline is a ``git worktree`` of
:data:`BASE_COMMIT` (``HPO_BENCH_BASE`` overrides the commit), run with ``PYTHONPATH`` at it; this
arm runs with ``PYTHONPATH`` at this checkout. Each arm first runs once with an empty cache (the
images decoded, the CSV parsed), then :data:`RUNS` times with its cache warm, the arms
alternating. While a run goes, the proportional set size (PSS, ``/proc/PID/smaps_rollup``: shared
pages divided among the processes that map them) of every process is sampled; a worker's figure
is its peak. The time to the first trial runs from the launch to the first trial's start in the
study (the data loaded, the study set up and checked).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    BenchError,
    Context,
    alternate,
    clean_env,
    fmt,
    hpo_command,
    median,
    section,
    show,
    table,
    target,
)
from _studies import load_trials

BASE_COMMIT = "4908f42"  # the last commit before the data cache (orchestrator/data/_cache.py)
IMAGES = 40_000  # 28x28 PNGs in 10 classes: 4,000 per class
TABLE_ROWS = 150_000  # ~19 MB of CSV
RUNS = 3  # warm-cache runs per arm, alternating
SAMPLE_SECONDS = 0.2  # between two readings of every process's PSS
ARMS = ("main", "datacache")
COLUMNS = (
    "data",
    "arm",
    "peak PSS, largest worker (MB)",
    "peak PSS, mean worker (MB)",
    "peak PSS, all processes (MB)",
    "first trial, warm cache (s)",
    "first trial, empty cache (s)",
    "wall (s)",
)

SPACE = """\
study: {{name: {name}, n_trials: 4, seed: 0, sampler: random, pruner: none, log_model: false}}
data: {data}
model: {{family: mlp, depth: 1, layers: {{width: {{type: int, low: 16, high: 64}}}}}}
train: {{epochs: 1, batch_size: 256, optimizer: {{name: adam, lr: 0.003}}}}
"""


def write_images(folder: Path, n: int) -> Path:
    """``n`` 28x28 grayscale PNGs, one folder per class; each class brightens its own band."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
    for i in range(n):
        label = i % 10
        pixels = rng.integers(0, 120, size=(28, 28), dtype=np.uint8)
        pixels[2 * label + 3 : 2 * label + 6] += 120
        Image.fromarray(pixels).save(folder / str(label) / f"{i:05d}.png")
    return folder


def write_table(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` rows: 10 numeric features, a colour, a binary label that follows them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 10))
    frame = pd.DataFrame({f"x{j}": x[:, j].round(6) for j in range(10)})
    frame["colour"] = rng.choice(["red", "green", "blue"], rows)
    frame["label"] = np.where(x[:, 0] + x[:, 1] - x[:, 2] > 0, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def _pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _tree(root: int) -> dict[int, int]:
    """Every live descendant of ``root`` (and ``root``) -> its parent."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    found, frontier = {root: parents.get(root, 0)}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = pid
                frontier.append(child)
    return found


def _is_helper(pid: int) -> bool:
    """multiprocessing's forkserver or resource tracker, started by the ``hpo run`` process: no
    trials run in them."""
    try:
        text = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "forkserver" in text or "resource_tracker" in text


def run_sampled(cmd: list[Any], *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd``, reading every process's PSS meanwhile: its launch time, wall time, each
    worker's peak PSS (MB) and the peak of the whole tree's sum."""
    launch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peaks: dict[int, int] = {}
    helpers: set[int] = set()
    total = 0
    while proc.poll() is None:
        now = 0
        for pid, parent in _tree(proc.pid).items():
            kb = _pss_kb(pid)
            if kb is None:
                continue
            # the server's own children (forked: its command line) are workers
            if pid not in peaks and parent == proc.pid and _is_helper(pid):
                helpers.add(pid)
            peaks[pid] = max(peaks.get(pid, 0), kb)
            now += kb
        total = max(total, now)
        time.sleep(SAMPLE_SECONDS)
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-5:])
        raise BenchError(f"`{show(cmd)}` exited {proc.returncode}: {tail}")
    workers = [kb / 1024 for pid, kb in peaks.items() if pid not in helpers]
    return {
        "launch": launch,
        "wall": time.perf_counter() - t0,
        "workers_mb": sorted(workers, reverse=True),
        "total_mb": total / 1024,
    }


def _base_checkout(ctx: Context) -> Path:
    commit = os.environ.get("HPO_BENCH_BASE", BASE_COMMIT)
    path = ctx.work / "base"
    subprocess.run(
        ["git", "-C", ROOT, "worktree", "add", "--detach", path, commit],
        check=True,
        capture_output=True,
    )
    return path


def _one_run(ctx: Context, arm: str, data: str, run: str, checkout: Path) -> dict[str, Any]:
    """One ``hpo run --jobs 2`` of data set ``data`` by ``arm``, in a fresh directory (the
    arm's cache kept across its runs)."""
    work = ctx.work / "datacache"
    d = work / f"{data}-{arm}-{run}"
    d.mkdir()
    if data == "images":
        settings = f"{{name: images, path: {work / 'images'}, image_size: 28, color: gray"
    else:
        settings = f"{{name: csv, path: {work / 'table.csv'}, target: label"
    settings += f", cache_dir: {work / f'cache-{arm}'}}}"
    (d / "space.yaml").write_text(SPACE.format(name=data, data=settings))
    env = clean_env({"PYTHONPATH": os.pathsep.join([str(checkout), str(ROOT / "benchmarks")])})
    cmd = [*hpo_command(), "run", "--space", "space.yaml", "--jobs", "2", "--device", "cpu"]
    result = run_sampled(cmd, cwd=d, env=env)
    trials = load_trials(d, data)
    first = min(t.datetime_start for t in trials if t.datetime_start is not None)
    result["first_trial"] = first.timestamp() - result["launch"]
    return result


def bench_datacache(ctx: Context) -> dict[str, Any]:
    """Section 15: peak PSS per worker and time to the first trial, this checkout against the
    commit before the data cache, on an image folder and a large CSV."""
    s = ctx.settings
    images, rows, runs = (400, 2_000, 1) if s.quick else (IMAGES, TABLE_ROWS, RUNS)
    command = show([*hpo_command(), "run", "--space", "space.yaml", "--jobs", "2"], ctx)
    work = ctx.work / "datacache"
    work.mkdir()
    t0 = time.perf_counter()
    write_images(work / "images", images)
    table_path = write_table(work / "table.csv", rows)
    made = time.perf_counter() - t0
    checkout = {"datacache": ROOT}
    try:
        checkout["main"] = _base_checkout(ctx)
        measured: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for data in ("images", "csv"):
            measured[data] = {arm: [] for arm in ARMS}
            cold = {arm: _one_run(ctx, arm, data, "cold", checkout[arm]) for arm in ARMS}
            for rep in range(runs):
                for arm in alternate(ARMS, rep):
                    measured[data][arm].append(_one_run(ctx, arm, data, str(rep), checkout[arm]))
            measured[data]["cold"] = [cold[arm] for arm in ARMS]
    finally:
        if "main" in checkout:
            subprocess.run(
                ["git", "-C", ROOT, "worktree", "remove", "--force", checkout["main"]],
                capture_output=True,
            )
    size = table_path.stat().st_size / 1e6
    counts = {"images": images, "rows": rows, "runs": runs, "made": made, "table_mb": size}
    return _section(measured, counts, command=command)


def _figures(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "worker_mb": median([max(r["workers_mb"]) for r in runs]),
        "worker_mean_mb": median([sum(r["workers_mb"]) / len(r["workers_mb"]) for r in runs]),
        "total_mb": median([r["total_mb"] for r in runs]),
        "first_trial": median([r["first_trial"] for r in runs]),
        "wall": median([r["wall"] for r in runs]),
    }


def _section(measured: dict[str, Any], counts: dict[str, Any], *, command: str) -> dict[str, Any]:
    rows_out, targets, figures = [], [], {}
    runs = counts["runs"]
    names = {
        "images": f"{counts['images']:,} PNGs 28x28",
        "csv": f"CSV, {counts['rows']:,} rows ({counts['table_mb']:.0f} MB)",
    }
    for data in ("images", "csv"):
        arm = {a: _figures(measured[data][a]) for a in ARMS}
        cold = dict(zip(ARMS, measured[data]["cold"], strict=True))
        figures[data] = {"median": arm, "runs": measured[data]}
        for a in ARMS:
            f = arm[a]
            figures_of = (f["worker_mb"], f["worker_mean_mb"], f["total_mb"])
            times = (f["first_trial"], cold[a]["first_trial"], f["wall"])
            rows_out.append(
                [names[data], a, *(fmt(v, 0) for v in figures_of), *(fmt(v, 1) for v in times)]
            )
        ratio = arm["datacache"]["worker_mb"] / arm["main"]["worker_mb"]
        first = arm["datacache"]["first_trial"] / arm["main"]["first_trial"]
        targets.append(
            target(
                f"{names[data]}, `--jobs 2`: peak PSS per worker, datacache / main",
                "< 1 (no copy per worker)",
                f"{ratio:.2f} ({arm['datacache']['worker_mb']:.0f} MB vs "
                f"{arm['main']['worker_mb']:.0f} MB)",
                ratio < 1,
            )
        )
        targets.append(
            target(
                f"{names[data]}, `--jobs 2`: time to the first trial, datacache / main (warm)",
                "≤ 1",
                f"{first:.2f} ({arm['datacache']['first_trial']:.1f} s vs "
                f"{arm['main']['first_trial']:.1f} s)",
                first <= 1,
            )
        )
    return section(
        "datacache",
        tables=[
            table(
                COLUMNS,
                rows_out,
                caption=f"`hpo run --jobs 2`, 4 trials of a 1-layer MLP, 1 epoch; median of "
                f"{runs} warm-cache runs per arm, alternating, after one run with an empty cache",
            )
        ],
        targets=targets,
        commands=[
            f"# in a fresh directory per run; main = a git worktree of {BASE_COMMIT} on "
            f"PYTHONPATH, datacache = this checkout\n{command}"
        ],
        notes=[
            "PSS divides each shared page among the processes that map it, so a cache entry "
            "mapped by both workers counts half in each. The workers are the `hpo run` process "
            "(worker 0, which also checks the study before the first trial) and the worker "
            "forked from multiprocessing's server; the server itself and the resource tracker "
            "are left out of the per-worker figures and kept in the sum.",
            "main keeps an image folder's decoded pixels as float32 in every split, and parses "
            "the CSV with pandas in every process; datacache maps the uint8 pixels or the "
            "encoded table from the cache and makes each batch float on its way into the model.",
            f"The data took {counts['made']:.0f} s to write (not timed in any arm).",
        ],
        figures=figures,
    )
