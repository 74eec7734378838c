"""7. Storage and sampling: Optuna's storage, sampler and pruner time per trial of hpo's own study
loop, with training and MLflow replaced by stand-ins, on the journal file and PostgreSQL; on
PostgreSQL also the transactions (commits) a trial costs the database."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from _harness import CNN_SPACE, ROOT, BenchError, Context, fmt, section, table, target
from _offline import offline_trials
from _studies import suggested

POSTGRES_ADMIN = os.environ.get(
    "HPO_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def prefill(url: str, name: str, space: Any, n: int, *, epochs: int) -> float:
    """Add ``n`` finished trials (random configurations, hpo's user attributes) to a new study."""
    import uuid

    import optuna
    from optuna.trial import TrialState

    from orchestrator.study import prepare_study

    direction = space.study.resolved_direction
    memory = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=1))
    rng = random.Random(1)
    for trial, config in itertools.islice(suggested(memory, space), n):
        for key, value in {
            "seed": trial.number,
            "mlflow_run_id": uuid.uuid4().hex,
            "config": config.to_dict(),
            "n_parameters": rng.randint(10_000, 200_000),
            "best_epoch": epochs,
        }.items():
            trial.set_user_attr(key, value)
        value = rng.uniform(0.5, 0.99)
        for epoch in range(1, epochs + 1):
            trial.report(value * (1 - 0.5**epoch), epoch)
        memory.tell(trial, value)
    t0 = time.perf_counter()
    study = prepare_study(space, name=name, storage=url)
    study.add_trials(memory.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return time.perf_counter() - t0


def time_storage(ctx: Context, url: str, shown: str, n_total: int) -> dict[str, Any]:
    """Per-trial time of the last ``window`` trials of a study of ``n_total`` trials."""
    from orchestrator.space import load_space
    from orchestrator.study import TrialEvent, run_study

    s = ctx.settings
    space = load_space(ROOT / CNN_SPACE)
    epochs = space.raw["train"]["epochs"]
    window = min(s.storage_window, n_total)
    name = f"storage-{n_total}"
    fill_seconds = prefill(url, name, space, n_total - window, epochs=epochs)
    from _common import Timers

    timers = Timers()
    stamps: list[float] = []
    snapshot: dict[str, dict[str, float]] = {}

    def progress(event: Any) -> None:
        if not isinstance(event, TrialEvent):
            return
        stamps.append(time.perf_counter())
        if len(stamps) == 1:
            timers.reset()
            start.update(db)
        snapshot["totals"] = dict(timers.totals)
        snapshot["calls"] = dict(timers.calls)
        snapshot["db"] = {key: db[key] - start.get(key, 0) for key in db}

    start: dict[str, int] = {}
    with offline_trials(timers), counted_transactions() as db:
        run_study(
            space, study_name=name, storage=url, n_trials=n_total, device="cpu", progress=progress
        )
    if len(stamps) < 2:
        raise BenchError(f"{shown}: only {len(stamps)} trials ran")
    k = len(stamps) - 1
    per = {c: 1000 * v / k for c, v in snapshot["totals"].items()}
    wall = 1000 * (stamps[-1] - stamps[0]) / k
    storage_ms = per.get("storage", 0.0)
    sampler_ms = per.get("sampler", 0.0)
    pruner_ms = per.get("pruner", 0.0)
    return {
        "storage": shown,
        "n_total": n_total,
        "trials_timed": k,
        "wall_ms": wall,
        "storage_ms": storage_ms,
        "sampler_ms": sampler_ms,
        "pruner_ms": pruner_ms,
        "rest_ms": wall - storage_ms - sampler_ms - pruner_ms,
        "storage_calls": snapshot["calls"].get("storage", 0) / k,
        "transactions": (snapshot["db"]["commit"] + snapshot["db"]["rollback"]) / k,
        "commits": snapshot["db"]["commit"] / k,
        "statements": snapshot["db"]["statements"] / k,
        "top": sorted(
            (
                (label, round(1000 * t / k, 2), round(snapshot["calls"].get(label, 0) / k, 1))
                for label, t in snapshot["totals"].items()
                if ":" in label
            ),
            key=lambda item: -item[1],
        )[:8],
        "prefill_seconds": fill_seconds,
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run (dropped after), or None when unreachable."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError:
        yield None
        return
    admin = make_url(POSTGRES_ADMIN)
    dbname = f"hpo_bench_{os.getpid()}"
    try:
        conn = psycopg.connect(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            password=admin.password,
            dbname=admin.database or "postgres",
            connect_timeout=3,
            autocommit=True,
        )
    except Exception:
        yield None
        return
    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
    conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield admin.set(database=dbname).render_as_string(hide_password=False)
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.close()


@contextlib.contextmanager
def counted_transactions() -> Iterator[dict[str, int]]:
    """Count the transactions SQLAlchemy commits or rolls back, and its statements, meanwhile."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts = {"commit": 0, "rollback": 0, "statements": 0}

    def on_commit(conn: Any) -> None:
        counts["commit"] += 1

    def on_rollback(conn: Any) -> None:
        counts["rollback"] += 1

    def on_statement(*args: Any) -> None:
        counts["statements"] += 1

    hooks = [
        ("commit", on_commit),
        ("rollback", on_rollback),
        ("before_cursor_execute", on_statement),
    ]
    for name, fn in hooks:
        event.listen(Engine, name, fn)
    try:
        yield counts
    finally:
        for name, fn in hooks:
            event.remove(Engine, name, fn)


def storage_part(ctx: Context) -> dict[str, Any]:
    """The storage rows: the journal file at each study size, then PostgreSQL if reachable."""
    import logging

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.ERROR)
    s = ctx.settings
    results = []
    notes = []
    work = ctx.work / "storage"
    work.mkdir()
    for n_total in s.storage_points:
        url = str(work / f"journal-{n_total}" / "optuna.journal")
        results.append(time_storage(ctx, url, "journal file (default)", n_total))
    with postgres_database() as pg:
        if pg is None:
            notes.append(f"PostgreSQL not reachable at {POSTGRES_ADMIN}: its rows are missing.")
        else:
            notes.append(
                "PostgreSQL URL: a plain `postgresql://...` (psycopg 3, the driver SQLAlchemy 2 "
                "maps it to), on 127.0.0.1 with the server's default settings."
            )
            for n_total in s.storage_points:
                results.append(time_storage(ctx, pg, "PostgreSQL 127.0.0.1", n_total))
    return {"results": results, "notes": notes}


def bench_storage(ctx: Context) -> dict[str, Any]:
    """Section 7: storage, sampler and pruner time per trial; transactions on PostgreSQL."""
    s = ctx.settings
    results = storage_part(ctx)
    rows = [
        [
            r["storage"],
            r["n_total"],
            fmt(r["wall_ms"], 1),
            fmt(r["storage_ms"], 1),
            fmt(r["storage_calls"], 0),
            fmt(r["transactions"], 1) if r["storage"].startswith("PostgreSQL") else "–",
            fmt(r["sampler_ms"], 1),
            fmt(r["pruner_ms"], 1),
            fmt(r["rest_ms"], 1),
            fmt(r["sampler_ms"] + r["storage_ms"], 1),
        ]
        for r in results["results"]
    ]
    columns = ["storage", "trials in study", "per trial (ms)", "storage (ms)", "storage calls"]
    columns += [
        "transactions",
        "sampler (ms)",
        "pruner (ms)",
        "rest (ms)",
        "sampler + storage (ms)",
    ]
    targets = []
    top = max(s.storage_points)
    for r in results["results"]:
        if r["storage"].startswith("PostgreSQL"):
            targets.append(
                target(
                    f"PostgreSQL storage time per trial at {r['n_total']} trials",
                    "≤ 20 ms",
                    f"{r['storage_ms']:.1f} ms ({r['transactions']:.1f} transactions)",
                    r["storage_ms"] <= 20,
                )
            )
        if r["n_total"] == top:
            both = r["sampler_ms"] + r["storage_ms"]
            targets.append(
                target(
                    f"sampling + storage per trial at {top} trials, {r['storage']}",
                    "≤ 100 ms",
                    f"{both:.1f} ms",
                    both <= 100,
                )
            )
    notes = [
        *storage_why(results["results"]),
        f"Rows: `run_study` on `{CNN_SPACE}` as shipped (TPE over a window of the last "
        f"{sampler_window()} finished trials, median pruner, {load_epochs()} epochs reported per "
        "trial), with fit() replaced by a learning curve that takes no time and MLflow replaced by "
        "a no-op, so that what is left is the product's per-trial Optuna work. The study is first "
        "filled with finished trials (random configurations with hpo's user attributes) up to "
        f"{s.storage_window} short of the size shown; the last {s.storage_window} are timed.",
        "Time is exclusive per category: storage = inside the storage classes (hpo's "
        "BatchingStorage and Optuna's, including the reads the sampler and the pruner make); "
        "storage calls = calls into them, most of which BatchingStorage keeps in memory; "
        "transactions = what reached PostgreSQL (SQLAlchemy commits and rollbacks, reads "
        "included); sampler and pruner = their own computation; rest = hpo's trial loop and the "
        "build of each model.",
        *results["notes"],
        *(
            f"Heaviest calls per trial, {r['storage']} at {r['n_total']} trials (exclusive ms, "
            "calls): " + "; ".join(f"`{label}` {ms} ms × {n}" for label, ms, n in r["top"][:5])
            for r in results["results"]
            if r["n_total"] == top
        ),
    ]
    return section(
        "storage",
        tables=[table(columns, rows, caption="Per trial, training and MLflow left out")],
        targets=targets,
        notes=notes,
        figures={"storage": results["results"]},
    )


def load_epochs() -> Any:
    """The epochs of the shipped digits CNN space."""
    from orchestrator.space import load_space

    return load_space(ROOT / CNN_SPACE).raw["train"]["epochs"]


def sampler_window() -> Any:
    """The TPE window of the shipped digits CNN space (hpo's default when it sets none)."""
    from orchestrator.config import SAMPLERS
    from orchestrator.space import load_space

    sampler = load_space(ROOT / CNN_SPACE).study.sampler
    return sampler.options.get("window", SAMPLERS[sampler.name].defaults.get("window"))


def storage_why(results: Sequence[dict[str, Any]]) -> list[str]:
    """Why the storage targets are missed, in the measured figures."""
    notes = []
    pg = [r for r in results if r["storage"].startswith("PostgreSQL")]
    if pg:
        r = pg[0]
        missed = any(x["storage_ms"] > 20 for x in pg)
        notes.append(
            ("Why PostgreSQL misses 20 ms: " if missed else "What a trial costs PostgreSQL: ")
            + f"at {r['n_total']} trials, {r['storage_ms']:.1f} ms of storage in "
            f"{r['transactions']:.1f} transactions as SQLAlchemy counts them "
            f"({r['statements']:.0f} statements). Earlier: 46 transactions, one per storage "
            "call, before hpo gathered a trial's writes; then 5 transactions and 22 statements, "
            "31-45 ms (the run at 12:12 today). Logged statement by statement (SQLAlchemy's "
            "cursor events, one trial of a running study), they are: the budget lock "
            "(`pg_advisory_lock` and its release, two statements on a connection in autocommit, "
            "no transaction on the server; counted above as one commit); the study read, one "
            "SELECT of the ids and states of the trials that are new or unfinished (a trial is "
            "read in full only when another worker changed it; the trial this process just "
            "ended is taken as it wrote it, where Optuna's cache read it again in 7 SELECTs); "
            "and three writes: the trial created (the study's row locked, the trial inserted "
            "and numbered), its parameters and attributes before training (so that a crash "
            "mid-training leaves a trial that can be retried with the same parameters, and "
            "other workers' samplers see it), and its result at the end. Each write's "
            "statements are built once per process and take their rows as parameters; building "
            "and compiling them at every write had been 7 of each write's 10 ms. Fewer "
            "transactions would need the trial created with its parameters in one write, which "
            "Optuna's ask() (create, then sample) does not allow."
        )
    notes.append(
        "TPE computes log Φ with SciPy's vectorised `log_ndtr` in hpo (Optuna's own, element by "
        "element in Python, is the bulk of TPE's time on long studies: optuna issue #5478); the "
        "samples agree to rounding. In one comparison at 2,000 trials on the journal file, "
        "quiet machine, TPE's own time per trial was 95 ms with Optuna's and 56 ms with "
        "SciPy's."
    )
    top = max((r["n_total"] for r in results), default=0)
    big = [r for r in results if r["n_total"] == top and r["sampler_ms"] + r["storage_ms"] > 100]
    if big:
        r = big[0]
        notes.append(
            f"Why sampling + storage misses 100 ms at {top} trials: the TPE sampler's own "
            f"computation is {r['sampler_ms']:.0f} ms of it and the storage {r['storage_ms']:.0f} "
            f"ms. TPE already learns from a window of the {sampler_window()} most recent finished "
            "trials (`study.sampler.window`, hpo's default for TPE and GP); without it the same "
            "sampler cost 317 ms per trial at 2,000 trials against 154 ms with it, in one "
            "comparison on this machine (loaded). What is left is multivariate TPE's own fit and "
            "sampling over 500 trials and the space's 15-20 parameters: `window: 200` or "
            "`study.sampler=random` for very long studies trade search quality for it; section "
            "4's quality figures were measured with the window."
        )
    return notes
