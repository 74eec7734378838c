"""7. GPU: the overhead and throughput pairs on CUDA, and K trials packed on one GPU."""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from typing import Any

from _harness import (
    BENCH,
    PY,
    ROOT,
    BenchError,
    Context,
    alternate,
    clean_env,
    median,
    run_timed,
    section,
    table,
    target,
)
from overhead import overhead_pair
from throughput import THROUGHPUT_COLS, throughput_pair


def cuda_missing(ctx: Context) -> str | None:
    """Why the GPU section cannot run here, or None when it can."""
    if ctx.gpu_device != "cuda":
        return None  # forced onto another device (to test this code path)
    try:
        import torch
    except ImportError:
        return "skipped: torch is not installed"
    if not torch.cuda.is_available():
        return "skipped: no CUDA device (torch.cuda.is_available() is False)"
    return None


def packing(ctx: Context, device: str) -> list[list[Any]]:
    """Rows of samples/s with K trainings at once on ``device``, for each K of the preset."""
    s = ctx.settings
    results: dict[int, list[float]] = defaultdict(list)
    per_worker: dict[int, list[float]] = defaultdict(list)
    for rep in range(2):
        for k in alternate(s.pack_ks, rep):
            d = ctx.work / f"pack-{k}-{rep}"
            d.mkdir()
            procs = [
                subprocess.Popen(
                    [
                        PY,
                        str(BENCH / "_fit_worker.py"),
                        "--device",
                        device,
                        "--epochs",
                        str(s.pack_epochs),
                        "--out",
                        str(d / f"w{i}.json"),
                        "--ready",
                        str(d / f"ready-{i}"),
                        "--go",
                        str(d / "go"),
                        "--seed",
                        str(i),
                    ],
                    cwd=ROOT,
                    env=clean_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for i in range(k)
            ]
            deadline = time.time() + 600
            while sum((d / f"ready-{i}").exists() for i in range(k)) < k:
                if any(p.poll() not in (None, 0) for p in procs) or time.time() > deadline:
                    for p in procs:
                        p.kill()
                    errors = [p.stderr.read() for p in procs if p.stderr]
                    raise BenchError(f"packing K={k}: a worker failed: {errors[-1][-500:]}")
                time.sleep(0.02)
            (d / "go").touch()
            for p in procs:
                p.wait(timeout=3600)
                if p.returncode != 0:
                    raise BenchError(f"packing K={k}: a worker exited {p.returncode}")
            recs = [json.loads((d / f"w{i}.json").read_text()) for i in range(k)]
            span = max(r["end"] for r in recs) - min(r["start"] for r in recs)
            results[k].append(sum(r["samples"] for r in recs) / span)
            per_worker[k].extend(r["samples"] / (r["end"] - r["start"]) for r in recs)
    base = median(results[s.pack_ks[0]])
    return [
        [
            k,
            f"{median(results[k]):,.0f}",
            f"{median(per_worker[k]):,.0f}",
            f"{median(results[k]) / base:.2f}×",
        ]
        for k in s.pack_ks
    ]


def bench_gpu(ctx: Context) -> dict[str, Any]:
    """Section 7; skipped, saying why, where there is no CUDA device."""
    skip = cuda_missing(ctx)
    commands = ["bash benchmarks/gpu.sh"]
    if skip:  # what gpu.sh itself prints here
        _, proc = run_timed(["bash", BENCH / "gpu.sh"], cwd=ROOT, env={"PYTHON": PY})
        line = proc.stdout.strip() or skip
        return section("gpu", status="skipped", reason=line, commands=commands)
    device = ctx.gpu_device
    over = overhead_pair(ctx, device=device, tag="gpu")
    thr = throughput_pair(ctx, device_name=device)
    pack = packing(ctx, device)
    f = over["figures"]
    worst = min(v["ratio"] for v in thr["figures"]["per_batch"].values())
    return section(
        "gpu",
        tables=[
            table(
                ["", "minimal loop", "hpo run", "hpo − minimal"],
                over["rows"],
                caption=f"Overhead on {device}",
            ),
            table(THROUGHPUT_COLS, thr["rows"], caption=f"Throughput on {device}"),
            table(
                ["trials at once (K)", "total samples/s", "per trial samples/s", "total vs K=1"],
                pack,
                caption=f"K trials packed on one {device} device (hpo's trainer, "
                f"{ctx.settings.pack_epochs} epochs each)",
            ),
        ],
        targets=[
            target(
                "wall-time ratio hpo / minimal",
                "≤ 1.05",
                f"{f['wall_ratio']:.3f}",
                f["wall_ratio"] <= 1.05,
            ),
            target(
                "bookkeeping per trial",
                "≤ 50 ms",
                f"{1000 * f['bookkeeping_per_trial_s']:.0f} ms",
                f["bookkeeping_per_trial_s"] <= 0.05,
            ),
            target("samples/s, hpo / minimal", "≥ 1.0", f"{worst:.3f}", worst >= 1.0),
        ],
        commands=[*commands, *over["commands"]],
        figures={"overhead": f, "throughput": thr["figures"], "packing": pack},
    )
