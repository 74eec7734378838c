"""16. Large studies: ``hpo studies``, ``best``, ``leaderboard`` and ``report`` at 100 and 10,000
trials, ``hpo predict`` of 2,000 rows and ``hpo validate``, each a process of its own timed from
outside; then where each command's time goes (start-up, imports, its own work, the exit)."""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _harness import (
    BENCH,
    CNN_SPACE,
    PY,
    ROOT,
    Context,
    fmt,
    hpo_command,
    median,
    run_timed,
    section,
    show,
    table,
    target,
)
from _large import LargeStudy, digits_rows, grow, start_study
from _studies import load_trials, states_text

SMALL = 100  # studies of up to this many trials have the small targets
# seconds: (at 100 trials, at 10,000 trials), the issue's
TARGETS = {
    "studies": (1.0, 5.0),
    "best": (1.0, 5.0),
    "leaderboard": (1.0, 5.0),
    "report": (3.0, 30.0),
}
# timed once, beside the first size; "predict a folder": the same model downloaded first (no
# MLflow store to ask), to see what MLflow's part is
ONCE = {"predict": 2.0, "predict a folder": 2.0, "validate": 0.5}
PACKAGES = ("mlflow", "torch", "matplotlib", "optuna", "sklearn", "pandas")
_IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)")


def bench_scale(ctx: Context) -> dict[str, Any]:
    """Section 16: one study grown to each size in turn, every command timed at each."""
    s = ctx.settings
    large = start_study(ctx.work / "scale")
    rows = digits_rows(large.directory / "rows.csv", s.predict_rows)
    walls: dict[tuple[str, int], list[float]] = {}
    phases: dict[tuple[str, int], dict[str, Any]] = {}
    built: dict[int, tuple[float, str]] = {}
    for i, size in enumerate(s.scale_sizes):
        seconds = grow(large, size, seed=0)
        trials = load_trials(large.directory, large.name)
        built[size] = (seconds, states_text(dict(Counter(t.state.name for t in trials))))
        commands = {name: study_args(name, large) for name in TARGETS}
        if i == 0:
            commands |= {
                "predict": predict_args(large, rows),
                "predict a folder": predict_args(large, rows, model=model_folder(large)),
                "validate": validate_args(),
            }
        for name, words in time_commands(commands, large, reps=s.scale_reps).items():
            walls[(name, size)] = words
            phases[(name, size)] = phases_of(commands[name], cwd=cwd_of(name, large))
    return section(
        "scale",
        tables=[
            table(
                ["command", "trials", "median (s)", "fastest (s)", "target"],
                [
                    [_what(name), f"{size:,}", fmt(median(w)), fmt(min(w)), _goal(name, size)]
                    for (name, size), w in walls.items()
                ],
                caption="Each command a process of its own, timed from outside",
            ),
            table(
                [
                    "command",
                    "trials",
                    "wall with -X importtime (s)",
                    "start-up (s)",
                    "the command (s)",
                    "exit (s)",
                    *(f"import {p} (s)" for p in PACKAGES),
                ],
                [
                    [
                        _what(name),
                        f"{size:,}",
                        fmt(p["wall"]),
                        fmt(p["startup"]),
                        fmt(p["command"]),
                        fmt(p["exit"]),
                        *(fmt(p["imports"].get(pkg)) for pkg in PACKAGES),
                    ]
                    for (name, size), p in phases.items()
                ],
                caption="Where the time goes: one run each under python -X importtime",
            ),
        ],
        targets=[
            target(
                _what(name)
                + (f" at {size:,} trials" if name in TARGETS else "")
                + (f" of {s.predict_rows:,} rows" if name.startswith("predict") else ""),
                _goal(name, size),
                f"{median(w):.2f} s",
                median(w) <= _limit(name, size),
            )
            for (name, size), w in walls.items()
        ],
        commands=[
            show(large.start_command, ctx),
            "# then grown by benchmarks/_large.py to "
            + ", ".join(f"{n:,}" for n in s.scale_sizes)
            + " trials, and in its directory:",
            *(show([*hpo_command(), *study_args(name, large)], ctx) for name in TARGETS),
            show([*hpo_command(), *predict_args(large, rows)], ctx),
            show([*hpo_command(), *predict_args(large, rows, model="$WORK/scale/model")], ctx),
            show([*hpo_command(), *validate_args()], ctx),
            show([PY, "-X", "importtime", BENCH / "_phases.py", "report", "--study", large.name]),
        ],
        notes=notes(s, large, built),
        figures={
            "walls": {f"{name}@{size}": w for (name, size), w in walls.items()},
            "phases": {f"{name}@{size}": p for (name, size), p in phases.items()},
            "built": {str(size): b for size, b in built.items()},
        },
    )


def study_args(name: str, large: LargeStudy) -> list[str]:
    """The arguments of one of the study commands, run in the study's directory (its default
    storage and tracking)."""
    return [name] if name == "studies" else [name, "--study", large.name]


def predict_args(large: LargeStudy, rows: Path, *, model: str | None = None) -> list[str]:
    out = large.directory / "predictions.csv"
    model = model or large.model_uri
    return ["predict", "--model", model, "--input", str(rows), "--out", str(out)]


def model_folder(large: LargeStudy) -> str:
    """The study's model downloaded into a folder of its directory (``hpo predict --model`` takes
    a folder as it is)."""
    from orchestrator.tracking import download_model

    folder = large.directory / "model"
    folder.mkdir(exist_ok=True)
    return str(download_model(large.model_uri, folder, tracking_uri=large.tracking_uri))


def validate_args() -> list[str]:
    return ["validate", "--space", str(ROOT / CNN_SPACE)]


def cwd_of(name: str, large: LargeStudy) -> Path:
    """Where a command runs: ``hpo validate`` from the repository, as section 3 runs it; the
    others in the study's directory."""
    return ROOT if name == "validate" else large.directory


def time_commands(
    commands: dict[str, list[str]], large: LargeStudy, *, reps: int
) -> dict[str, list[float]]:
    """Each command's wall times: once untimed (bytecode caches written, files in the page
    cache), then ``reps`` times, the order rotating."""
    hpo = hpo_command()
    names = list(commands)
    walls: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        run_timed([*hpo, *commands[name]], cwd=cwd_of(name, large))
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            wall, _ = run_timed([*hpo, *commands[name]], cwd=cwd_of(name, large))
            walls[name].append(wall)
    return walls


def phases_of(args: list[str], *, cwd: Path) -> dict[str, Any]:
    """One run of a command under ``python -X importtime`` (``_phases.py``): its start-up
    (launch to the command's start: the interpreter and hpo's command line), the command itself
    (imports made on the way included), the exit (the command's end to the process's), and what
    each of :data:`PACKAGES` cost to import where it was first imported (its line's cumulative
    time: the modules it brought in first included, so the figures overlap)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "phases.json"
        launch = time.time()
        wall, done = run_timed(
            [PY, "-X", "importtime", BENCH / "_phases.py", *args],
            cwd=cwd,
            env={"HPO_BENCH_PROBE": str(probe)},
        )
        record = json.loads(probe.read_text())
    imports: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and match.group(3) in PACKAGES and match.group(3) not in imports:
            imports[match.group(3)] = int(match.group(1)) / 1e6
    return {
        "wall": wall,
        "startup": record["started"] - record["launch"],
        "command": record["ended"] - record["started"],
        "exit": launch + wall - record["ended"],
        "imports": imports,
    }


def _what(name: str) -> str:
    return "`hpo predict` of a model folder" if name == "predict a folder" else f"`hpo {name}`"


def _limit(name: str, size: int) -> float:
    if name in ONCE:
        return ONCE[name]
    small, large = TARGETS[name]
    return small if size <= SMALL else large


def _goal(name: str, size: int) -> str:
    rows = " for 2,000 rows" if name.startswith("predict") else ""
    return f"≤ {_limit(name, size):g} s{rows}"


# Why a command misses its target, as measured on 2 shared cores (2026-12-08, the table above
# and python -X importtime -m orchestrator ...); kept by hand, like section 3's
WHY = (
    "Where the time goes. `hpo studies` and `hpo best` at 10,000 trials (3.3-3.9 s, met): Optuna "
    "replaying the study's 44 MB journal file into 10,000 trials (about 2.4 s of the command) "
    "and the interpreter freeing them at exit (0.8 s); hpo's own work is milliseconds. `hpo "
    "leaderboard` (5.0 s in one run, 5.8 s in the next: at its target, within this machine's "
    "noise) adds pandas and formatting 10,000 rows; it reads the study "
    "alone now that a pruned trial keeps its last epoch's metrics (`last_metrics`): before, one "
    "pruned trial sent it to MLflow, 11.5 s for 30 trials here.",
    "`hpo report` at 100 trials (7.4-7.9 s, misses 3 s): imports (MLflow 1.1 s, pandas 0.3 s, "
    "matplotlib and Optuna's plots), opening MLflow's SQLite store (SQLAlchemy and MLflow's "
    "schema check, about 1 s), reading the 100 runs, drawing 8 plots to PNG (3-6 s measured "
    "piece by piece on a busy machine, the slice grid of 8 Optuna figures the largest part), "
    "logging the page and its plots on the parent run, and the exit (1.3 s). Its section on "
    "what the winner looks at costs a download attempt here: the winner is a fake trial without "
    "weights, so the page says it was not explained (no data is loaded for it); a real winner "
    "explained once is read back from its run's explain/. At 10,000 trials "
    "(13.8-17.3 s, met; before this round about 130 s of reading and drawing alone, measured piece "
    "by piece once on a study built the same way): "
    "the report no longer copies trials (Optuna's history deep-copied all of them), draws a "
    "seeded sample of 1,000 trials in parallel coordinates, slices, the timeline and the grey "
    "curves (the barh of 10,000 trials alone took 32 s), imports no scikit-learn (1.5 s that "
    "`optuna.importance` pulled in), and reads only the MLflow runs it links to (a search of "
    "all 10,000 runs took 36 s). Left to do for 3 s at 100 trials: `--no-mlflow` skips the "
    "store (not the default: the links and the test split come from it); drawing the slice "
    "panels as one figure; a lighter MLflow client than MLflow's own.",
    "`hpo predict` of 2,000 rows (5.1-5.8 s, misses 2 s; the forward pass itself not timed "
    "apart): torch (1.4-1.6 s) is needed to run the network, MLflow (about 1 s of imports, and its "
    "store) to find `models:/m-...` and to load the pyfunc model folder; pandas 0.3 s; exit "
    "1.1-1.4 s. The same model as a downloaded folder took 4.4 s while MLflow was imported to "
    "load it; a folder is now read without MLflow: 2.75 s (misses 2 s by torch's import, "
    "1.1-1.3 s, and the exit, 0.6 s). A `models:/` reference still needs MLflow to find the "
    "model in its registry.",
    "`hpo validate` (3.3-4.1 s, misses 0.5 s, unreachable as the project defines it): it runs "
    "every check `hpo run` runs before its first trial (device, sampler and pruner, the data "
    "loaded and the model built and trained a step, the tracking store checked), so it needs "
    "torch (0.9 s), the data's loader (scikit-learn's digits, 0.6 s), MLflow for the store "
    "check (1.1 s), pandas (0.4 s) and Optuna (0.2 s). Dropping a check would let a file pass "
    "that `hpo run` refuses. What would meet it: a cache of the checks keyed by the file and "
    "the environment, or a probe per data loader that reads a data set's shape without loading "
    "it and a tracking check without importing MLflow (see section 3).",
)


def notes(s: Any, large: LargeStudy, built: dict[int, tuple[float, str]]) -> list[str]:
    """How the studies were made and timed, and why a command misses its target."""
    made = "; ".join(
        f"{size:,} trials ({states}), grown in {seconds:.0f} s"
        for size, (seconds, states) in built.items()
    )
    return [
        f"One study, `{large.name}` (search_spaces/cnn.yaml): a real `hpo run` of 2 one-epoch "
        "trials (its stored space, MLflow parent run, test evaluation and logged model are "
        "hpo's own), then grown by fake trials written through hpo's storage and tracking as a "
        "trial writes itself (benchmarks/_large.py: the Optuna trial with its attributes, a "
        "nested MLflow run with its epochs, its end, objective and tags; 80% complete, 14% "
        f"pruned, 6% failed, 8 epochs each), and every command timed at each size: {made}. "
        f"Each command once untimed, then {s.scale_reps} timed run{'s' * (s.scale_reps > 1)}, "
        "the order rotating; medians. "
        f"`hpo predict`: {s.predict_rows:,} rows of raw digits with the real trials' winner "
        "(its MLflow model); `hpo validate` from the repository root, as in section 3.",
        *WHY,
    ]
