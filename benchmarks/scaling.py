"""6. Scaling: 1 against 2 local workers (``hpo run --jobs``) on the same configurations."""

from __future__ import annotations

from typing import Any

from _harness import (
    CNN_SPACE,
    FIXED_SETS,
    ROOT,
    Context,
    alternate,
    fmt,
    hpo_command,
    median,
    run_timed,
    section,
    sets_args,
    show,
    table,
    target,
)
from _studies import enqueue_study, load_trials, sample_configs


def workers_part(ctx: Context) -> dict[str, Any]:
    """1 against 2 local workers (``hpo run --jobs``) on the same enqueued trials."""
    from orchestrator.space import load_space

    s = ctx.settings
    n = s.workers_trials
    sets = (f"study.n_trials={n}", "train.epochs=5", *FIXED_SETS)
    args = ["run", "--space", ROOT / CNN_SPACE, *sets_args(sets), "--device", "cpu"]
    commands = [
        f"# in a fresh directory holding the study with {n} configurations enqueued\n"
        + show([*hpo_command(), *args, "--jobs", str(j)], ctx)
        for j in (1, 2)
    ]
    if s.quick:
        return {"status": "left out of --quick (it starts 4 processes)", "commands": commands}
    space = load_space(ROOT / CNN_SPACE, overrides=sets)
    samples = sample_configs(space, n, seed=7)
    work = ctx.work / "workers"
    work.mkdir()
    walls: dict[int, list[float]] = {1: [], 2: []}
    steady: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(s.workers_reps):
        for jobs in alternate((1, 2), rep):
            d = work / f"jobs{jobs}-{rep}"
            d.mkdir()
            enqueue_study(d, space, [p for p, _ in samples])
            wall, _ = run_timed([*hpo_command(), *args, "--jobs", str(jobs)], cwd=d)
            trials = [t for t in load_trials(d, space.name) if t.datetime_complete is not None]
            first = min(t.datetime_start for t in trials)
            last = max(t.datetime_complete for t in trials)
            walls[jobs].append(wall)
            steady[jobs].append((last - first).total_seconds())
    rate = {j: 3600 * n / median(walls[j]) for j in (1, 2)}
    rate_steady = {j: 3600 * n / median(steady[j]) for j in (1, 2)}
    before_first = {
        j: median([w - t for w, t in zip(walls[j], steady[j], strict=True)]) for j in (1, 2)
    }
    return {
        "status": None,
        "commands": commands,
        "rows": [
            [j, fmt(median(walls[j]), 1), f"{rate[j]:,.0f}", f"{rate_steady[j]:,.0f}"]
            for j in (1, 2)
        ],
        "speedup": rate[2] / rate[1],
        "speedup_steady": rate_steady[2] / rate_steady[1],
        "outside_trials": before_first,
        "walls": walls,
        "steady": steady,
        "n_trials": n,
    }


def bench_scaling(ctx: Context) -> dict[str, Any]:
    """Section 6: 1 against 2 local workers on the same enqueued configurations."""
    s = ctx.settings
    workers = workers_part(ctx)
    if workers["status"]:
        return section(
            "scaling",
            status="skipped",
            reason=f"workers: {workers['status']}",
            commands=workers["commands"],
        )
    outside = workers["outside_trials"]
    return section(
        "scaling",
        tables=[
            table(
                ["local workers", "wall (s)", "trials/hour", "steady trials/hour"],
                workers["rows"],
                caption=f"Workers: {workers['n_trials']} enqueued configurations of the digits CNN "
                f"(5 epochs), median of {s.workers_reps} runs each, alternating",
            )
        ],
        targets=[
            target(
                "trials/hour, 2 workers / 1",
                "≥ 1.8×",
                f"{workers['speedup']:.2f}× (steady state {workers['speedup_steady']:.2f}×)",
                workers["speedup"] >= 1.8,
            )
        ],
        commands=workers["commands"],
        notes=[
            "Workers: trials/hour = trials / wall time of the whole `hpo run`; steady = trials / "
            "(last trial's end − first trial's start). Outside that window (start-up before the "
            f"first trial, the end after the last) 1 worker spends {outside[1]:.1f} s and 2 "
            f"workers {outside[2]:.1f} s. Under `--jobs 2` the `hpo run` process is worker 0 and "
            "starts training as soon as it has set the study up; worker 1 is forked from a "
            "server that imported torch, Optuna and MLflow meanwhile, and joins about a second "
            "later. Both workers train at 1 thread each, as the single worker does (hpo gives "
            "each worker its share of the cores)."
        ],
        figures={"workers": workers},
    )
