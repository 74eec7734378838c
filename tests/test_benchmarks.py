"""benchmarks/run.py --quick runs every benchmark end to end at tiny counts and writes its report.

No timing is asserted here: speed targets are measured by benchmarks/run.py, not tested.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("overhead", "throughput", "startup", "quality", "pruning", "scaling", "gpu")


def test_quick_run_writes_every_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # exit 0: no benchmark broke (a missing feature or GPU is recorded, not an error)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    report = (tmp_path / "RESULTS.md").read_text()
    # all seven sections, each either measured or saying why not
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
