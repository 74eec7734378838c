"""benchmarks/run.py --quick runs every benchmark end to end at tiny counts and writes its report.

No timing is asserted here: speed targets are measured by benchmarks/run.py, not tested.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
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


def test_quick_run_writes_every_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,  # every section, faults (real processes killed and resumed) included
    )
    # exit 0: no benchmark broke (a missing feature or GPU is recorded, not an error)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    report = (tmp_path / "RESULTS.md").read_text()
    # every section, each either measured or saying why not
    assert set(results["sections"]) == set(SECTIONS)
    for key, sec in results["sections"].items():
        assert sec["status"] in ("ok", "unavailable", "skipped"), (key, sec["reason"])
        assert f"## {sec['title']}" in report
        # every section names the command that re-runs it
        assert f"--only {key}" in report
        if sec["status"] == "ok":
            assert sec["tables"] and sec["tables"][0]["rows"], key
            assert sec["targets"], key
    # measured sections carry their ratios into the JSON
    assert results["sections"]["overhead"]["figures"]["wall_ratio"] > 0
    assert results["sections"]["throughput"]["figures"]["per_batch"]
    # the committed results are not touched by --quick
    assert results["meta"]["settings"]["preset"] == "quick"


def _bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hpo_bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_each_section_reports_the_counts_it_ran_with() -> None:
    run = _bench_module()
    default, issue = run.Settings.make("default"), run.Settings.make("issue")

    def ran(key: str, settings) -> dict:
        return {**run.section(key), "preset": settings.preset, **{
            "deviations": settings.deviations_for(key)
        }}  # fmt: skip

    meta = {"settings": dataclasses.asdict(issue)}
    # quality and pruning re-run with the issue's counts beside older default sections
    mixed = {
        "meta": meta,
        "sections": {
            "overhead": ran("overhead", default),
            "quality": ran("quality", issue),
            "pruning": ran("pruning", issue),
        },
    }
    line = run.counts_line(mixed)
    assert line.startswith("Counts: preset `default` in section 1; `issue` in sections 4, 5.")
    # the default preset's deviation is about sections 4 and 5 only: not claimed for section 1
    assert "The issue's numbers throughout." in line and "Deviations" not in line
    # with section 4 at the default counts, its deviation is said
    mixed["sections"]["quality"] = ran("quality", default)
    assert "Deviations from the issue: search quality and pruning: 20 trials" in run.counts_line(
        mixed
    )
