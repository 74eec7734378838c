"""11. Many workers: PostgreSQL direct against Optuna's gRPC storage proxy (``hpo storage-proxy``).

4, 8 and 16 worker processes share one study whose trials take no time (training and MLflow
replaced by the stand-ins of ``storage.py``; the sampler is random, so that what is measured is
the storage): each worker is hpo's own study loop (``run_study``) on ``postgresql://...`` directly
or on ``grpc://...`` through one ``hpo storage-proxy`` process. The workers import, then start
together. Per arm: trials per second from the moment every worker ended its first trial
to the last trial's end, p50/p95 storage
time per trial (Optuna's storage calls timed in each worker; a worker's first trial, which opens
the study, left out), and the database connections held by the workers and the proxy
(``pg_stat_activity`` sampled every 0.2 s, less this process's own). The arms alternate (direct,
proxy, then proxy, direct) so that a shared machine slows both alike.

    python benchmarks/run.py --only proxy
    python benchmarks/proxy.py worker URL STUDY BUDGET OUT.json   # one worker (used by the above)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import CNN_SPACE, PY, ROOT, Context, alternate, clean_env, section, table, target

TRIALS_PER_WORKER = 8
QUICK_WORKERS = (2,)
WORKERS = (4, 8, 16)
SETS = ("study.sampler=random", "study.pruner=none")
PG_HOST = os.environ.get("HPO_BENCH_PG_HOST", "127.0.0.1")


def worker_main(url: str, study: str, budget: int, out: str) -> None:
    """One worker: hpo's study loop with trials that take no time; per-trial storage time."""
    import logging

    import optuna
    from _common import Timers
    from storage import offline_trials

    from orchestrator.space import load_space
    from orchestrator.study import TrialEvent, run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.ERROR)
    space = load_space(ROOT / CNN_SPACE, overrides=SETS)
    timers = Timers()
    timers.patch("storage", [optuna.storages.GrpcStorageProxy])  # overrides BaseStorage's
    stamps: list[float] = []
    storage_ms: list[float] = []
    last = [0.0]

    def progress(event: Any) -> None:
        if not isinstance(event, TrialEvent):
            return
        stamps.append(time.time())
        total = timers.totals.get("storage", 0.0)
        storage_ms.append(1000 * (total - last[0]))
        last[0] = total

    # every worker imported and ready: start together (the parent says go), so that the rate is
    # that of n workers, not of their staggered start-up
    Path(out + ".ready").touch()
    while not Path(out).with_name("go").exists():
        time.sleep(0.02)
    with offline_trials(timers):
        run_study(
            space, study_name=study, storage=url, n_trials=budget, device="cpu", progress=progress
        )
    # the first trial's storage time includes opening the study: left out of the percentiles
    Path(out).write_text(json.dumps({"stamps": stamps, "storage_ms": storage_ms[1:]}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Connections(threading.Thread):
    """Samples the connections to one database every 0.2 s (pg_stat_activity)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        import sqlalchemy

        self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self._db = self._engine.url.database
        self.samples: list[int] = []
        self.mark = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import sqlalchemy

        query = sqlalchemy.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
        )
        while not self._halt.wait(0.2):
            with self._engine.connect() as conn:
                self.samples.append(int(conn.execute(query, {"d": self._db}).scalar()))

    def now(self) -> int:
        """The latest sample; from now on samples are the ones :meth:`run_arm` reports."""
        while not self.samples:
            time.sleep(0.05)
        self.mark = len(self.samples)
        return self.samples[-1]

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self._engine.dispose()


def run_arm(ctx: Context, pg: str, arm: str, n: int) -> dict[str, Any]:
    """``n`` workers on a new study, directly on ``pg`` or through a proxy started for them."""
    from orchestrator.space import load_space
    from orchestrator.study import prepare_study

    study = f"proxy-{arm}-{n}"
    budget = n * TRIALS_PER_WORKER
    prepare_study(load_space(ROOT / CNN_SPACE, overrides=SETS), name=study, storage=pg)
    work = ctx.work / "proxy" / study
    work.mkdir(parents=True)
    proxy = None
    url = pg
    sampler = _Connections(pg)
    sampler.start()
    baseline = sampler.now()  # this process's own (the study it prepared)
    if arm == "proxy":
        port = _free_port()
        proxy = subprocess.Popen(
            [PY, "-m", "orchestrator", "storage-proxy", "--port", str(port)],
            env=clean_env({"HPO_STORAGE": pg}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while proxy.stdout and not proxy.stdout.readline().startswith("Workers:"):
            if proxy.poll() is not None:
                raise RuntimeError(f"the storage proxy exited with {proxy.returncode}")
        url = f"grpc://127.0.0.1:{port}"
    try:
        procs = [
            subprocess.Popen(
                [PY, __file__, "worker", url, study, str(budget), str(work / f"w{i}.json")],
                env=clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n)
        ]
        ready = [work / f"w{i}.json.ready" for i in range(n)]
        while not all(p.exists() for p in ready):
            if any(proc.poll() is not None for proc in procs):
                break
            time.sleep(0.05)
        (work / "go").touch()
        for proc in procs:
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"a worker failed ({arm}, {n}): {err.strip()[-300:]}")
    finally:
        sampler.stop()
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=60)
    results = [json.loads((work / f"w{i}.json").read_text()) for i in range(n)]
    stamps = sorted(s for r in results for s in r["stamps"])
    # from the moment every worker is in its trial loop (its first trial ended: the set-up of
    # run_study, the data and the study, left out) to the last trial's end
    start = max(r["stamps"][0] for r in results if r["stamps"])
    inside = [s for s in stamps if s > start]
    rate = len(inside) / (stamps[-1] - start) if len(inside) > 1 else float("nan")
    storage_ms = sorted(ms for r in results for ms in r["storage_ms"])
    quantiles = statistics.quantiles(storage_ms, n=20) if len(storage_ms) >= 2 else [0] * 19
    busy = [c - baseline for c in sampler.samples[sampler.mark :]] or [0]
    return {
        "arm": arm,
        "workers": n,
        "trials": len(stamps),
        "budget": budget,
        "rate": rate,
        "p50": statistics.median(storage_ms) if storage_ms else float("nan"),
        "p95": quantiles[18],
        "conn_max": max(busy),
        "conn_median": statistics.median(busy),
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database on $HPO_BENCH_PG_HOST (127.0.0.1:5432, user postgres, trust
    auth) through psycopg 3, dropped after; None when no server answers."""
    try:
        import psycopg

        conn = psycopg.connect(
            host=PG_HOST, port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except Exception:
        yield None
        return
    conn.autocommit = True
    name = f"hpo_bench_proxy_{os.getpid()}"
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:5432/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def bench_proxy(ctx: Context) -> dict[str, Any]:
    """Section 10: the table of arms and the budget check."""
    counts = QUICK_WORKERS if ctx.settings.quick else WORKERS
    commands = ["python benchmarks/run.py --only proxy"]
    with postgres_database() as pg:
        if pg is None:
            return section("proxy", status="skipped", reason="no PostgreSQL", commands=commands)
        rows = []
        for rep, n in enumerate(counts):
            for arm in alternate(("direct", "proxy"), rep):
                rows.append(run_arm(ctx, pg, arm, n))
    by = {(r["arm"], r["workers"]): r for r in rows}
    out = []
    for n in counts:
        for arm in ("direct", "proxy"):
            r = by[(arm, n)]
            out.append(
                [
                    n,
                    "PostgreSQL direct" if arm == "direct" else "through hpo storage-proxy",
                    f"{r['trials']}/{r['budget']}",
                    f"{r['rate']:.1f}",
                    f"{r['p50']:.0f}",
                    f"{r['p95']:.0f}",
                    f"{r['conn_max']} (median {r['conn_median']:.0f})",
                ]
            )
    exact = all(r["trials"] == r["budget"] for r in rows)
    top = max(counts)
    direct, proxied = by[("direct", top)], by[("proxy", top)]
    return section(
        "proxy",
        tables=[
            table(
                [
                    "workers",
                    "storage",
                    "trials / budget",
                    "trials/s",
                    "storage p50 (ms/trial)",
                    "storage p95 (ms/trial)",
                    "DB connections (max)",
                ],
                out,
                caption=f"{TRIALS_PER_WORKER} trials per worker that take no time, random "
                "sampler; the workers start together once all have imported; trials/s = trials "
                "ended from the moment every worker had ended its first to the last's end, "
                "over that time; DB connections: those of the workers and the proxy, "
                "max and median of samples every 0.2 s",
            )
        ],
        targets=[
            target("exact budget through the proxy", "trials = budget", str(exact), exact),
            target(
                f"DB connections at {top} workers, proxy",
                "a few, whatever the workers",
                f"{proxied['conn_max']} (direct: {direct['conn_max']})",
                proxied["conn_max"] < direct["conn_max"],
            ),
        ],
        commands=commands,
        figures={"rows": rows},
    )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)
