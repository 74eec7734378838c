"""Run the ``hpo`` command line exactly as the ``hpo`` script does, recording when fit() runs.

``python benchmarks/_probe.py run --space ...`` behaves like ``hpo run --space ...``; it only wraps
``orchestrator.train.fit`` and the callbacks hpo passes to it in timers, and writes at exit, to the
JSON file named by ``HPO_BENCH_PROBE``: the launch time (``HPO_BENCH_LAUNCH``, set by the benchmark
just before it starts the process), each fit's start and end (``time.time()``), the time spent
inside hpo's callbacks (per epoch: metrics buffered for MLflow, Optuna's report and should_prune;
per batch: the stop-request and time-limit checks), the time spent inside MLflow's client and
Optuna's storage, sampler and pruner up to each fit's start and end, and the exit time. The timers
cost microseconds per trial.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from typing import Any

_record: dict[str, Any] = {
    "launch": float(os.environ.get("HPO_BENCH_LAUNCH") or time.time()),
    "fits": [],
}


def _write() -> None:
    _record["exit"] = time.time()
    path = os.environ.get("HPO_BENCH_PROBE")
    if path:
        with open(path, "w") as fh:
            json.dump(_record, fh)


CATEGORIES = ("mlflow", "storage", "sampler", "pruner")


def _install() -> None:
    from _common import Timers, patch_mlflow, patch_optuna

    import orchestrator.train as train

    timers = Timers()  # time inside MLflow's client and Optuna's storage, sampler and pruner
    patch_optuna(timers)
    patch_mlflow(timers)

    def snapshot() -> dict[str, float]:
        return {c: timers.totals.get(c, 0.0) for c in CATEGORIES}

    original = train.fit

    def fit(*args: Any, **kwargs: Any) -> Any:
        spent = [0.0]

        def timed(callback: Any) -> Any:
            def inner(epoch: int, metrics: dict[str, float]) -> None:
                t0 = time.perf_counter()
                try:
                    callback(epoch, metrics)
                finally:
                    spent[0] += time.perf_counter() - t0

            return inner

        kwargs["callbacks"] = [timed(c) for c in kwargs.get("callbacks", ())]
        if kwargs.get("on_step") is not None:  # per-batch hook (stop requests, time limits)
            step = kwargs["on_step"]

            def on_step(*a: Any, **k: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return step(*a, **k)
                finally:
                    spent[0] += time.perf_counter() - t0

            kwargs["on_step"] = on_step
        at_start, start = snapshot(), time.time()
        try:
            return original(*args, **kwargs)
        finally:
            _record["fits"].append(
                {
                    "start": start,
                    "end": time.time(),
                    "callbacks": spent[0],
                    "at_start": at_start,
                    "at_end": snapshot(),
                }
            )

    train.fit = fit


if __name__ == "__main__":
    atexit.register(_write)
    _install()
    from orchestrator.cli import main

    sys.argv[0] = "hpo"
    main()
